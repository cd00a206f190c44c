"""Configuration: one TOML file, validated whole before the first API call.

Every problem is collected and reported at once (file, key, reason). Secrets never live in
the file: it names environment variables, and ``Secrets`` reads them when a client needs them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from connector.adapters.registry import CRMS
from connector.core.durations import parse_duration
from connector.core.errors import ConfigError, Problem



def _default_mappings() -> Path:
    """The mappings shipped with the package (package data ``leadsync_mappings``, which is the
    repository's ``mappings/`` folder in a checkout)."""
    spec = importlib.util.find_spec("leadsync_mappings")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "qualification.toml").exists():
                return Path(location)
    return Path(__file__).resolve().parents[2] / "mappings"


DEFAULT_MAPPINGS = _default_mappings()

@dataclass(frozen=True)
class HubSpotConfig:
    base_url: str = "https://api.hubapi.com"
    auth: str = "private_app"                  # or "oauth": a public app's refresh-token flow
    token_env: str = "HUBSPOT_TOKEN"
    client_id_env: str = "HUBSPOT_CLIENT_ID"   # auth = "oauth" only, like the two below
    client_secret_env: str = "HUBSPOT_CLIENT_SECRET"
    refresh_token_env: str = "HUBSPOT_REFRESH_TOKEN"
    rate_limit_per_10s: int = 100
    search_per_second: int = 5
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class SalesforceConfig:
    auth: str = "client_credentials"
    login_url: str = "https://login.salesforce.com"
    instance_url: str = ""
    api_version: str = "59.0"
    client_id_env: str = "SF_CLIENT_ID"
    client_secret_env: str = "SF_CLIENT_SECRET"
    username_env: str = "SF_USERNAME"
    password_env: str = "SF_PASSWORD"
    session_id_env: str = "SF_SESSION_ID"
    max_daily_share: float = 0.5
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ScheduleConfig:
    hubspot_every: timedelta = timedelta(seconds=15)
    salesforce_every: timedelta = timedelta(minutes=2)
    sla_every: timedelta = timedelta(minutes=5)
    reconcile_cron: str = "0 3 * * *"


@dataclass(frozen=True)
class SyncConfig:
    lookback: timedelta = timedelta(seconds=30)  # re-read a little before the cursor: search index and commits lag
    first_run_since: timedelta | None = None       # None: the first run reads every contact
    activities_every: timedelta = timedelta(minutes=2)  # pull activities at least this often


@dataclass(frozen=True)
class LoggingConfig:
    format: str = "text"          # "text" | "json" (JSON lines, for a log shipper)
    level: str = "INFO"
    retain_days: int = 90
    redact_pii: bool = False      # mask emails and phone numbers in logs


@dataclass(frozen=True)
class MetricsConfig:
    port: int = 0                 # 0 = off; else Prometheus /metrics and /healthz on this port
    host: str = "127.0.0.1"
    healthz_quarantine_above: int = 25   # /healthz says degraded when more records than this are held


@dataclass(frozen=True)
class WebConfig:
    port: int = 0                 # 0 = off; else the daemon serves the review page on this port
    host: str = "127.0.0.1"       # off loopback, a token from token_env is required
    token_env: str = "LEADSYNC_WEB_TOKEN"


@dataclass(frozen=True)
class WebhooksConfig:
    port: int = 0                 # 0 = off; else the daemon receives HubSpot webhooks on this port
    host: str = "127.0.0.1"       # behind a TLS-terminating proxy that HubSpot can reach
    path: str = "/hubspot/webhooks"
    public_url: str = ""          # the target URL as set in the HubSpot app ("" = http://<Host header><path>)
    secret_env: str = "HUBSPOT_CLIENT_SECRET"   # the app's client secret, which signs each delivery
    coalesce_seconds: float = 1.0                # a burst of events waits this long at most for one cycle


ALERT_RULES = ("sla_breach", "quarantine_growth", "cycle_failed", "budget_stopped", "definition_overdue",
               "handoffs_stopped")


@dataclass(frozen=True)
class AlertsConfig:
    rules: tuple[str, ...] = ALERT_RULES
    slack_webhook_env: str = ""   # names the variable holding a Slack incoming-webhook URL ("" = off)
    webhook_url_env: str = ""     # names the variable holding a generic JSON webhook URL ("" = off)
    email_to: tuple[str, ...] = ()
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "leadsync@localhost"
    smtp_starttls: bool = False
    smtp_username_env: str = ""
    smtp_password_env: str = ""
    quarantine_above: int = 10    # quarantine_growth fires when more records than this are held
    handoffs_stopped_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class SugarConfig:
    base_url: str = "https://example.sugarondemand.com"
    api_version: str = "v11_4"           # the REST version path element
    platform: str = "leadsync"           # registered in Sugar: Admin > Configure API Platforms
    client_id: str = "sugar"             # Sugar's own client, or an OAuth key from Admin > OAuth Keys
    client_secret_env: str = "SUGAR_CLIENT_SECRET"
    username_env: str = "SUGAR_USERNAME"
    password_env: str = "SUGAR_PASSWORD"
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class CrmConfig:
    system: str = "salesforce"           # a name in adapters/registry.py


@dataclass(frozen=True)
class Config:
    file: str
    hubspot: HubSpotConfig = field(default_factory=HubSpotConfig)
    crm: CrmConfig = field(default_factory=CrmConfig)
    salesforce: SalesforceConfig = field(default_factory=SalesforceConfig)
    sugarcrm: SugarConfig = field(default_factory=SugarConfig)
    state_url: str = "sqlite:///leadsync.db"
    definition_path: Path = DEFAULT_MAPPINGS / "qualification.toml"
    mappings_dir: Path = DEFAULT_MAPPINGS
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)


# ---------------------------------------------------------------------------------------------
# Schema: section → key → (type check, converter). Unknown keys are errors: a typo must not be
# silently ignored in a file that decides which leads reach sales.

def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _url(value: Any) -> str:
    text = _str(value).rstrip("/")
    if text and not re.match(r"^https?://[^\s/]+", text):
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text


def _env_name(value: Any) -> str:
    text = _str(value)
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text):
        raise ValueError(f"{text!r} is not an environment variable name (secrets are read from the environment, never from this file)")
    return text


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"expected a port number 0-65535 (0 = off), got {value!r}")
    return value


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"expected a fraction in (0, 1], got {value!r}")
    return float(value)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return float(value)


def _duration(value: Any) -> timedelta:
    return parse_duration(_str(value))


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(map(repr, options))}, got {value!r}")
        return value
    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _cron(value: Any) -> str:
    text = _str(value)
    if len(text.split()) != 5:
        raise ValueError(f"{text!r} is not a 5-field cron expression like '0 3 * * *'")
    return text


def _state_url(value: Any) -> str:
    text = _str(value)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", text):
        raise ValueError(f"expected a sqlite:/// or postgresql:// URL, got {_mask_url(text)!r}")
    return text


def _path(value: Any) -> str:
    return _str(value)


def _sugar_version(value: Any) -> str:
    text = _str(value)
    if not re.match(r"^v1[01](_\d+)?$", text):
        raise ValueError(f"{text!r} is not a Sugar REST version like 'v11_4' (the element after /rest/)")
    return text


def _platform(value: Any) -> str:
    text = _str(value)
    if not re.match(r"^[A-Za-z0-9_-]{1,127}$", text):
        raise ValueError(f"{text!r} is not a Sugar platform name (letters, digits, - and _, at most 127)")
    return text


def _optional_env_name(value: Any) -> str:
    return "" if value == "" else _env_name(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number, 0 or more, got {value!r}")
    return value


def _url_path(value: Any) -> str:
    text = _str(value)
    if not re.match(r"^/[^\s?#]*$", text):
        raise ValueError(f"{text!r} is not a URL path (it starts with / and holds no spaces, ? or #)")
    return text


def _target_url(value: Any) -> str:
    # Kept exactly as written (a trailing slash included): HubSpot signs the URL it calls.
    text = _str(value)
    if text and not re.match(r"^https?://[^\s/]+(/\S*)?$", text):
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text


def _coalesce(value: Any) -> float:
    seconds = _seconds(value)
    if seconds > 10:
        raise ValueError(f"at most 10 seconds (a webhook is there to be faster than polling), got {value!r}")
    return seconds


def _emails(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and "@" in v for v in value):
        raise ValueError("expected a list of email addresses")
    return tuple(value)


def _alert_rules(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of rule names ({', '.join(ALERT_RULES)})")
    unknown = [v for v in value if v not in ALERT_RULES]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(map(repr, unknown))} (known: {', '.join(ALERT_RULES)})")
    return tuple(value)


SCHEMA: dict[str, dict[str, Callable[[Any], Any]]] = {
    "hubspot": {"base_url": _url, "auth": _choice("private_app", "oauth"), "token_env": _env_name,
                "client_id_env": _env_name, "client_secret_env": _env_name, "refresh_token_env": _env_name,
                "rate_limit_per_10s": _positive_int,
                "search_per_second": _positive_int, "timeout_seconds": _seconds},
    "salesforce": {"auth": _choice("client_credentials", "password", "session"), "login_url": _url,
                   "instance_url": _url, "api_version": _str, "client_id_env": _env_name,
                   "client_secret_env": _env_name, "username_env": _env_name,
                   "password_env": _env_name, "session_id_env": _env_name,
                   "max_daily_share": _share, "timeout_seconds": _seconds},
    "crm": {"system": _choice(*CRMS)},
    "sugarcrm": {"base_url": _url, "api_version": _sugar_version, "platform": _platform, "client_id": _str,
                 "client_secret_env": _env_name, "username_env": _env_name, "password_env": _env_name,
                 "timeout_seconds": _seconds},
    "state": {"url": _state_url},
    "definition": {"path": _path},
    "mappings": {"dir": _path},
    "schedule": {"hubspot_every": _duration, "salesforce_every": _duration, "sla_every": _duration,
                 "reconcile_cron": _cron},
    "sync": {"lookback": _duration, "first_run_since": _duration, "activities_every": _duration},
    "logging": {"format": _choice("text", "json"), "level": _choice("DEBUG", "INFO", "WARNING", "ERROR"),
                "retain_days": _positive_int, "redact_pii": _bool},
    "metrics": {"port": _port, "host": _str, "healthz_quarantine_above": _count},
    "web": {"port": _port, "host": _str, "token_env": _env_name},
    "alerts": {"rules": _alert_rules, "slack_webhook_env": _optional_env_name, "webhook_url_env": _optional_env_name,
               "email_to": _emails, "smtp_host": _str, "smtp_port": _port, "smtp_from": _str,
               "smtp_starttls": _bool, "smtp_username_env": _optional_env_name,
               "smtp_password_env": _optional_env_name, "quarantine_above": _count,
               "handoffs_stopped_after": _duration},
    "webhooks": {"port": _port, "host": _str, "path": _url_path, "public_url": _target_url, "secret_env": _env_name,
                 "coalesce_seconds": _coalesce},
}


def _mask_url(url: str) -> str:
    """Hide a password embedded in a database URL."""
    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and validate a config file; no file means the embedded default (sandbox + SQLite)."""
    if path is None:
        path = os.environ.get("LEADSYNC_CONFIG")
    if path is None:
        return Config(file="(defaults)")
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(Problem(str(file), "", "file not found")) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(Problem(str(file), "", f"not valid TOML: {exc}")) from None
    return parse_config(data, str(file), base_dir=file.resolve().parent)


def parse_config(data: dict[str, Any], file: str, base_dir: Path | None = None) -> Config:
    problems: list[Problem] = []
    sections: dict[str, dict[str, Any]] = {}
    for section, body in data.items():
        if section not in SCHEMA:
            problems.append(Problem(file, section, f"unknown section (known: {', '.join(SCHEMA)})"))
            continue
        if not isinstance(body, dict):
            problems.append(Problem(file, section, "expected a table"))
            continue
        parsed: dict[str, Any] = {}
        for key, value in body.items():
            check = SCHEMA[section].get(key)
            if check is None:
                problems.append(Problem(file, f"{section}.{key}", f"unknown key (known: {', '.join(SCHEMA[section])})"))
                continue
            try:
                parsed[key] = check(value)
            except ValueError as exc:
                problems.append(Problem(file, f"{section}.{key}", str(exc)))
        sections[section] = parsed

    salesforce = sections.get("salesforce", {})
    if salesforce.get("auth") == "session" and not salesforce.get("instance_url"):
        problems.append(Problem(file, "salesforce.instance_url", 'required when auth = "session"'))
    problems += _webhooks_problems(sections.get("webhooks", {}), file)
    if problems:
        raise ConfigError(problems)

    base = base_dir or Path.cwd()

    def resolve(text: str | None, default: Path) -> Path:
        if text is None:
            return default
        candidate = Path(text)
        if candidate.is_absolute():
            return candidate
        local = base / candidate
        # Relative paths are read from the config file's folder; "mappings/…" that is not
        # there names the mappings shipped with the package, so the example config works
        # from anywhere, installed or in a checkout.
        if local.exists() or candidate.parts[0] != "mappings":
            return local
        return DEFAULT_MAPPINGS.joinpath(*candidate.parts[1:])

    return Config(
        file=file,
        hubspot=HubSpotConfig(**sections.get("hubspot", {})),
        crm=CrmConfig(**sections.get("crm", {})),
        salesforce=SalesforceConfig(**salesforce),
        sugarcrm=SugarConfig(**sections.get("sugarcrm", {})),
        state_url=sections.get("state", {}).get("url", "sqlite:///leadsync.db"),
        definition_path=resolve(sections.get("definition", {}).get("path"), DEFAULT_MAPPINGS / "qualification.toml"),
        mappings_dir=resolve(sections.get("mappings", {}).get("dir"), DEFAULT_MAPPINGS),
        schedule=ScheduleConfig(**sections.get("schedule", {})),
        sync=SyncConfig(**sections.get("sync", {})),
        logging=LoggingConfig(**sections.get("logging", {})),
        metrics=MetricsConfig(**sections.get("metrics", {})),
        web=WebConfig(**sections.get("web", {})),
        alerts=AlertsConfig(**sections.get("alerts", {})),
        webhooks=WebhooksConfig(**sections.get("webhooks", {})),
    )


def _webhooks_problems(webhooks: dict[str, Any], file: str) -> list[Problem]:
    """The public URL is what HubSpot calls and signs: it must reach the path served here."""
    public = webhooks.get("public_url")
    if not public:
        return []
    from urllib.parse import urlsplit
    served = urlsplit(public).path or "/"
    path = webhooks.get("path", WebhooksConfig.path)
    if served != path:
        return [Problem(file, "webhooks.public_url", f"its path {served!r} is not webhooks.path {path!r}: "
                                                     "the receiver would never see HubSpot's requests")]
    if urlsplit(public).query:
        return [Problem(file, "webhooks.public_url", "has a query string; give HubSpot a plain URL")]
    return []


@dataclass(frozen=True)
class Secrets:
    """Reads secrets from the environment on demand. Never printed: repr shows names only."""

    config: Config
    environ: dict[str, str] | None = field(default=None, repr=False)

    def _get(self, env_name: str, key: str, required: bool = True) -> str | None:
        env = self.environ if self.environ is not None else os.environ
        value = env.get(env_name)
        if required and not value:
            raise ConfigError(Problem(self.config.file, key, f"environment variable {env_name} is not set"))
        return value or None

    def hubspot_token(self) -> str:
        if self.config.hubspot.auth == "oauth":
            self.hubspot_oauth()
            return ""
        return self._get(self.config.hubspot.token_env, "hubspot.token_env")  # type: ignore[return-value]

    def hubspot_oauth(self) -> dict[str, str]:
        """A public app's client id, secret and (first) refresh token (auth = "oauth")."""
        hs = self.config.hubspot
        return {"client_id": self._get(hs.client_id_env, "hubspot.client_id_env"),  # type: ignore[dict-item]
                "client_secret": self._get(hs.client_secret_env, "hubspot.client_secret_env"),
                "refresh_token": self._get(hs.refresh_token_env, "hubspot.refresh_token_env")}

    def salesforce(self) -> dict[str, str | None]:
        sf = self.config.salesforce
        if sf.auth == "session":
            return {"session_id": self._get(sf.session_id_env, "salesforce.session_id_env")}
        values = {
            "client_id": self._get(sf.client_id_env, "salesforce.client_id_env"),
            "client_secret": self._get(sf.client_secret_env, "salesforce.client_secret_env"),
        }
        if sf.auth == "password":
            values["username"] = self._get(sf.username_env, "salesforce.username_env")
            values["password"] = self._get(sf.password_env, "salesforce.password_env")
        return values

    def sugarcrm(self) -> dict[str, str | None]:
        """Sugar's own ``sugar`` client has an empty secret; an admin's OAuth key has one."""
        sugar = self.config.sugarcrm
        return {"client_secret": self._get(sugar.client_secret_env, "sugarcrm.client_secret_env",
                                           required=sugar.client_id != "sugar"),
                "username": self._get(sugar.username_env, "sugarcrm.username_env"),
                "password": self._get(sugar.password_env, "sugarcrm.password_env")}

    def webhook_secret(self) -> str:
        """The HubSpot app's client secret, which signs webhook deliveries."""
        return self._get(self.config.webhooks.secret_env, "webhooks.secret_env")  # type: ignore[return-value]

    def all_values(self) -> list[str]:
        """Every secret value present in the environment, for redaction of logs and output."""
        env = self.environ if self.environ is not None else os.environ
        sf, sugar = self.config.salesforce, self.config.sugarcrm
        alerts = self.config.alerts
        names = [self.config.hubspot.token_env, sf.client_id_env, sf.client_secret_env,
                 sf.username_env, sf.password_env, sf.session_id_env, self.config.web.token_env,
                 alerts.slack_webhook_env, alerts.webhook_url_env, alerts.smtp_password_env,
                 sugar.client_secret_env, sugar.username_env, sugar.password_env,
                 self.config.webhooks.secret_env]
        return [env[name] for name in names if name and env.get(name)]


        sf = self.config.salesforce
        hs, alerts = self.config.hubspot, self.config.alerts
        names = [hs.token_env, hs.client_id_env, hs.client_secret_env, hs.refresh_token_env,
                 sf.client_id_env, sf.client_secret_env, sf.username_env, sf.password_env, sf.session_id_env,
                 self.config.web.token_env, alerts.slack_webhook_env, alerts.webhook_url_env, alerts.smtp_password_env]
        return [env[name] for name in names if name and env.get(name)]

    def optional(self, env_name: str) -> str | None:
        """A secret that switches a feature on when present (web token, alert webhook URLs)."""
        env = self.environ if self.environ is not None else os.environ
        return (env.get(env_name) or None) if env_name else None
