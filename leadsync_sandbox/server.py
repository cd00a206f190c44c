"""``Sandbox``: HubSpot and a CRM emulator on loopback HTTPS, seeded, with credentials and a config.

The CRM is Salesforce by default, or SugarCRM with ``crm="sugarcrm"``.

    with Sandbox() as sandbox:
        sandbox.hubspot.add_demo_request(contact_id)
        subprocess.run(["leadsync", "sync"], env={**os.environ, **sandbox.env()})

Each emulator runs a threaded cheroot server in a daemon thread on a free port, with
connections kept alive between calls as the real services keep them. The credentials are
random per sandbox so nothing outside it can accidentally work against it.
"""

from __future__ import annotations

import importlib.util
import secrets
import signal
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import flask
from cheroot import server as cheroot_server, wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from connector.app.config import DEFAULT_MAPPINGS
from leadsync_sandbox.faults import CallLog, Faults
from leadsync_sandbox.portal_definition import write_portal_definition
from leadsync_sandbox.hubspot import HubSpotState, create_app as create_hubspot_app
from leadsync_sandbox.brownfield_manifest import Manifest
from leadsync_sandbox.seed import Seed, build_seed
from leadsync_sandbox.seed_brownfield import build_brownfield
from leadsync_sandbox.tls import Certs, make_certificates

HOST = "127.0.0.1"
CRMS = ("salesforce", "sugarcrm")
SUGAR_PLATFORM = "leadsync"        # registered in the sandbox's Admin > Configure API Platforms
SUGAR_API_VERSION = "v11_4"
DEFINITION_PATH = DEFAULT_MAPPINGS / "qualification.toml"
# How long a HubSpot write takes to reach search ("a few moments" in HubSpot's guide).
REALISTIC_SEARCH_LAG = 2.5
PORTALS = ("greenfield", "brownfield")
MANIFEST_NAME = "brownfield-manifest.json"
GREENFIELD_PEOPLE = 300
BROWNFIELD_PEOPLE = 20_000


class _Request(cheroot_server.HTTPRequest):
    """A response that says ``Connection: close`` closes the connection (a fault cutting a body
    short relies on it); cheroot otherwise keeps it alive whatever the application says."""

    def send_headers(self) -> None:
        if any(k.lower() == b"connection" and v.lower() == b"close" for k, v in self.outheaders):
            self.close_connection = True
        super().send_headers()


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


def _salesforce_module() -> Any | None:
    """The Salesforce emulator, when this checkout has it."""
    if importlib.util.find_spec("leadsync_sandbox.salesforce") is None:
        return None
    from leadsync_sandbox import salesforce
    return salesforce


class Sandbox:
    """``portal="greenfield"`` (default): a few hundred people in a fresh portal and org.
    ``portal="brownfield"``: two years of another team's use (seed_brownfield.py), 20,000
    people unless ``people`` says otherwise, with ``manifest`` holding the ground truth.

    ``search_lag_seconds``: how long a HubSpot write takes to reach search. ``None`` means the
    portal's default: HubSpot's few seconds on a brownfield portal; 0 on the greenfield one,
    whose tests were written before the index lagged (pass ``REALISTIC_SEARCH_LAG`` to opt in).

    ``latency_seconds``: a delay per call by system (``{"hubspot": 0.05, "salesforce": 0.05}``),
    as the round trip to a real vendor would add. ``searches_in_burst``: whether a search also
    spends a call of HubSpot's ten-second window (hubspot_limits.py).
    """

    def __init__(self, directory: Path | None = None, *, seed: int = 7, people: int | None = None,
                 now: datetime | None = None, hubspot_rate_per_10s: int = 100,
                 salesforce_daily_limit: int = 15000, salesforce: bool = True,
                 search_lag_seconds: float | None = None, portal: str = "greenfield", fresh: bool = False,
                 hubspot_scopes: Any = None, crm: str = "salesforce", hubspot_search_per_second: int = 5,
                 hubspot_daily_limit: int = 250_000, searches_in_burst: bool = True,
                 latency_seconds: dict[str, float] | None = None) -> None:
        # fresh=True: a portal with HubSpot's own properties only and an org with none of
        # leadsync's (or the BANT) custom fields, as on the day leadsync is first connected.
        if portal not in PORTALS:
            raise ValueError(f"portal must be one of {', '.join(PORTALS)}, got {portal!r}")
        if crm not in CRMS:
            raise ValueError(f"unknown CRM {crm!r}: use one of {', '.join(CRMS)}")
        self.crm = crm
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="leadsync-sandbox-")
        # Absolute, so the config and CA bundle it prints work from any directory.
        self.directory = (Path(directory) if directory else Path(self._tmp.name)).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.portal = portal
        self.manifest: Manifest | None = None
        self.seed: Seed
        moment = now or datetime.now(timezone.utc)
        if portal == "brownfield":
            self.seed, self.manifest = build_brownfield(seed, people or BROWNFIELD_PEOPLE, moment)
        else:
            self.seed = build_seed(seed, people or GREENFIELD_PEOPLE, moment)
        if search_lag_seconds is None:
            search_lag_seconds = REALISTIC_SEARCH_LAG if portal == "brownfield" else 0.0
        self.calls = CallLog()
        self.faults = Faults()
        for system, seconds in (latency_seconds or {}).items():
            self.faults.set_latency(system, seconds)
        self.credentials = {
            "HUBSPOT_TOKEN": "pat-na1-" + secrets.token_hex(16),
            "SF_CLIENT_ID": "3MVG9" + secrets.token_urlsafe(30),
            "SF_CLIENT_SECRET": secrets.token_hex(32),
            "SF_USERNAME": "",
            "SF_PASSWORD": secrets.token_urlsafe(18),
        }
        self.credentials["SF_USERNAME"] = self._integration_username()
        if crm == "sugarcrm":
            self.credentials = {"HUBSPOT_TOKEN": self.credentials["HUBSPOT_TOKEN"],
                                "SUGAR_CLIENT_SECRET": secrets.token_hex(24),
                                "SUGAR_USERNAME": "leadsync.integration",
                                "SUGAR_PASSWORD": secrets.token_urlsafe(18)}
        self.fresh = fresh
        self.hubspot = HubSpotState(self.seed.hubspot, now=now, rate_per_10s=hubspot_rate_per_10s,
                                    token=self.credentials["HUBSPOT_TOKEN"],
                                    search_lag_seconds=search_lag_seconds,
                                    custom_properties=portal == "greenfield" and not fresh,
                                    scopes=hubspot_scopes, search_per_second=hubspot_search_per_second,
                                    daily_limit=hubspot_daily_limit, searches_in_burst=searches_in_burst)
        # salesforce=False serves HubSpot alone (tests of the HubSpot side start faster).
        self.salesforce = (self._salesforce_state(now, salesforce_daily_limit)
                           if salesforce and crm == "salesforce" else None)
        self.sugarcrm = self._sugar_state(seed, now) if crm == "sugarcrm" else None
        self.certs: Certs | None = None
        self.hubspot_url = ""
        self.salesforce_url = ""
        self.sugarcrm_url = ""
        self._servers: list[wsgi.Server] = []
        self._threads: list[threading.Thread] = []

    def _salesforce_state(self, now: datetime | None, daily_limit: int) -> Any | None:
        module = _salesforce_module()
        if module is None:
            return None
        # The org's connected app and integration user accept exactly these secrets.
        secrets_by_key = {"client_id": self.credentials["SF_CLIENT_ID"],
                          "client_secret": self.credentials["SF_CLIENT_SECRET"],
                          "username": self.credentials["SF_USERNAME"],
                          "password": self.credentials["SF_PASSWORD"]}
        return module.SalesforceState(self.seed.salesforce, now=now, daily_limit=daily_limit,
                                      credentials=secrets_by_key, custom_fields=not self.fresh)

    def _sugar_state(self, seed: int, now: datetime | None) -> Any:
        from leadsync_sandbox.sugarcrm import SugarState, build_sugar_seed
        self.sugar_seed = build_sugar_seed(seed, self.seed.now, self.seed.hubspot)
        # The integration user signs in through a custom OAuth key (Admin > OAuth Keys).
        credentials = {"client_id": "leadsync", "client_secret": self.credentials["SUGAR_CLIENT_SECRET"],
                       "username": self.credentials["SUGAR_USERNAME"],
                       "password": self.credentials["SUGAR_PASSWORD"]}
        state = SugarState(self.sugar_seed, now=now, credentials=credentials, platform=SUGAR_PLATFORM)
        state.store.system_update("Users", self.sugar_seed.integration_user_id,
                                  {"user_name": credentials["username"]}, self.sugar_seed.integration_user_id)
        return state

    def _integration_username(self) -> str:
        users = self.seed.salesforce.users
        user = next(u for u in users if u["Id"] == self.seed.salesforce.integration_user_id)
        return str(user["Username"])

    # ---- lifecycle ----

    def start(self) -> "Sandbox":
        if self._servers:
            return self
        self.certs = make_certificates(self.directory / "certs")
        self.hubspot_url = self._serve(create_hubspot_app(self.hubspot, self.faults, self.calls))
        if self.salesforce is not None:
            app = _salesforce_module().create_app(self.salesforce, self.faults, self.calls)
            self.salesforce_url = self._serve(app)
        if self.sugarcrm is not None:
            from leadsync_sandbox.sugarcrm import create_app as create_sugar_app
            self.sugarcrm_url = self._serve(create_sugar_app(self.sugarcrm, self.faults, self.calls))
        return self

    def _serve(self, app: flask.Flask) -> str:
        """Serve ``app`` over HTTPS on a free loopback port. Connections are kept alive between
        requests, as HubSpot's, Salesforce's and Sugar's are: a client pays one TLS handshake
        per connection, not per call."""
        assert self.certs is not None
        server = wsgi.Server((HOST, 0), app, numthreads=16, server_name="sandbox", timeout=30,
                             shutdown_timeout=1)
        server.ssl_adapter = BuiltinSSLAdapter(str(self.certs.cert_path), str(self.certs.key_path))
        server.ConnectionClass = _Connection
        bound = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            # Prepared on this daemon thread, so its worker threads are daemons too: a stop that
            # goes wrong never keeps the process alive.
            try:
                server.prepare()
            except BaseException as exc:   # (reported to the caller below)
                failed.append(exc)
                return
            finally:
                bound.set()
            server.serve()

        thread = threading.Thread(target=run, name=f"sandbox-{app.name}", daemon=True)
        thread.start()
        bound.wait()
        if failed:
            raise failed[0]
        self._servers.append(server)
        self._threads.append(thread)
        return f"https://{HOST}:{server.bind_addr[1]}"

    def stop(self) -> None:
        """Stop every server at once, waiting a few seconds at most."""
        stopping = [threading.Thread(target=server.stop, daemon=True) for server in self._servers]
        for thread in stopping:
            thread.start()
        deadline = time.monotonic() + 5
        for thread in stopping + self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._servers.clear()
        self._threads.clear()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- what a client needs ----

    @property
    def generic_login_url(self) -> str:
        """The org's token endpoint under the name login.salesforce.com plays here (not My Domain)."""
        return self.salesforce_url.replace("//127.0.0.1:", "//localhost:")

    def env(self) -> dict[str, str]:
        """Environment variables for a leadsync process pointed at this sandbox."""
        if self.certs is None:
            raise RuntimeError("start the sandbox first")
        return {**self.credentials, "REQUESTS_CA_BUNDLE": str(self.certs.bundle_path)}

    def write_config(self, path: Path, state_url: str) -> Path:
        """A leadsync config (SPEC §3) pointing at this sandbox, with demo-fast schedules."""
        path = Path(path)
        definition = write_portal_definition(DEFINITION_PATH, path.with_name(path.stem + "-definition.toml"))
        text = _config_toml(self.hubspot_url, self.salesforce_url, state_url, self.hubspot.limits.per_10s,
                            definition, with_salesforce=self.crm == "salesforce")
        if self.crm == "sugarcrm":
            text += _sugar_toml(self.sugarcrm_url)
        path.write_text(text, encoding="utf-8")
        return path

    def write_default_config(self) -> Path:
        """``leadsync-sandbox.toml`` beside the certificates, with the state store there too."""
        return self.write_config(self.directory / "leadsync-sandbox.toml", f"sqlite:///{self.directory / 'leadsync.db'}")

    def run_forever(self, out: Any = None) -> None:
        """``leadsync sandbox``: serve until SIGINT/SIGTERM, after saying how to connect."""
        out = out or sys.stdout
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            config = self.write_default_config()
            if self.manifest is not None:
                self.manifest.write(self.directory / MANIFEST_NAME)
            _announce(self, config, out)
            stop.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()


def _config_toml(hubspot_url: str, salesforce_url: str, state_url: str, per_10s: int, definition: Path, *,
                 with_salesforce: bool = True) -> str:
    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "\n".join([
        "# leadsync configuration for the built-in sandbox (written by `leadsync sandbox`).",
        "[hubspot]", f"base_url = {q(hubspot_url)}", 'token_env = "HUBSPOT_TOKEN"',
        f"rate_limit_per_10s = {per_10s}", "",
        *(["[salesforce]", 'auth = "client_credentials"', f"login_url = {q(salesforce_url)}",
           'client_id_env = "SF_CLIENT_ID"', 'client_secret_env = "SF_CLIENT_SECRET"',
           'username_env = "SF_USERNAME"', 'password_env = "SF_PASSWORD"', 'api_version = "59.0"', ""]
          if with_salesforce else []),
        "[state]", f"url = {q(state_url)}", "",
        "[definition]", f"path = {q(str(definition))}", "",
        "[schedule]", 'hubspot_every = "5s"', 'salesforce_every = "10s"', 'reconcile_cron = "*/5 * * * *"', "",
    ])


def _sugar_toml(sugarcrm_url: str) -> str:
    return "\n".join([
        "", "[crm]", 'system = "sugarcrm"', "",
        "[sugarcrm]", f'base_url = "{sugarcrm_url}"', f'api_version = "{SUGAR_API_VERSION}"',
        f'platform = "{SUGAR_PLATFORM}"', 'client_id = "leadsync"', 'client_secret_env = "SUGAR_CLIENT_SECRET"',
        'username_env = "SUGAR_USERNAME"', 'password_env = "SUGAR_PASSWORD"', "",
    ])


def _announce(sandbox: Sandbox, config: Path, out: Any) -> None:
    print(f"HubSpot sandbox:    {sandbox.hubspot_url}", file=out)
    if sandbox.crm == "sugarcrm":
        print(f"SugarCRM sandbox:   {sandbox.sugarcrm_url}/rest/{SUGAR_API_VERSION}", file=out)
    else:
        print(f"Salesforce sandbox: {sandbox.salesforce_url or '(not available in this build)'}", file=out)
    print(f"Config:             {config}", file=out)
    if sandbox.manifest is not None:
        print(f"Portal:             brownfield, {sandbox.manifest.people} people, seed {sandbox.manifest.seed}; "
              f"ground truth in {sandbox.directory / MANIFEST_NAME}", file=out)
    print(f"Search lag:         {sandbox.hubspot.index.lag:g} s", file=out)
    print("Run leadsync against it with:", file=out)
    for name, value in sandbox.env().items():
        print(f"  export {name}={value}", file=out)
    print(f"  leadsync --config {config} sync", file=out)
    print("Admin: GET /__admin__/state, /__admin__/calls; POST/DELETE /__admin__/faults. Ctrl-C stops.",
          file=out, flush=True)
