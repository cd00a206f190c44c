"""The sandbox in a process of its own, and the admin calls a benchmark makes to it.

    with SandboxProcess(directory, people=20_000, hubspot_latency=0.05) as sandbox:
        mark = sandbox.mark()
        ...                                   # a client works against sandbox.config
        calls = sandbox.calls_since(mark)     # counts by system and route
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
LEADSYNC_PROPERTIES = ("leadsync_score", "leadsync_stage")


@dataclass
class Limits:
    """HubSpot's limits and each system's latency, as the sandbox process applies them."""

    rate_per_10s: int = 100
    search_per_second: int = 5
    daily: int = 250_000
    searches_in_burst: bool = False
    hubspot_latency: float = 0.05
    salesforce_latency: float = 0.05
    salesforce_daily: int = 1_000_000
    search_lag: float | None = None

    def arguments(self) -> list[str]:
        args = ["--rate-per-10s", str(self.rate_per_10s), "--search-per-second", str(self.search_per_second),
                "--daily", str(self.daily),
                "--searches-in-burst" if self.searches_in_burst else "--no-searches-in-burst",
                "--hubspot-latency", str(self.hubspot_latency), "--salesforce-latency", str(self.salesforce_latency),
                "--salesforce-daily", str(self.salesforce_daily)]
        if self.search_lag is not None:
            args += ["--search-lag", str(self.search_lag)]
        return args


@dataclass
class SandboxProcess:
    directory: Path
    people: int
    limits: Limits
    seed: int = 7
    startup_timeout: float = 900.0
    ready: dict[str, Any] = field(default_factory=dict)
    _process: subprocess.Popen | None = None
    _session: requests.Session | None = None

    def __enter__(self) -> "SandboxProcess":
        self.directory.mkdir(parents=True, exist_ok=True)
        ready_file = self.directory / "ready.json"
        ready_file.unlink(missing_ok=True)
        log = open(self.directory / "sandbox.log", "w", encoding="utf-8")
        command = [sys.executable, "-m", "leadsync_sandbox.process", "--dir", str(self.directory),
                   "--ready", str(ready_file), "--portal", "brownfield", "--people", str(self.people),
                   "--seed", str(self.seed), *self.limits.arguments()]
        self._process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + self.startup_timeout
        while not ready_file.exists():
            if self._process.poll() is not None:
                raise RuntimeError(f"the sandbox process exited ({self._process.returncode}): "
                                   f"see {self.directory / 'sandbox.log'}")
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the sandbox did not start in time")
            time.sleep(0.2)
        self.ready = json.loads(ready_file.read_text(encoding="utf-8"))
        self._session = requests.Session()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._session is not None:
            self._session.close()

    # ---- what a client needs ----

    @property
    def config(self) -> str:
        return self.ready["config"]

    @property
    def env(self) -> dict[str, str]:
        return dict(self.ready["env"])

    @property
    def state_db(self) -> Path:
        return Path(self.ready["state_url"].removeprefix("sqlite:///"))

    # ---- admin ----

    def _get(self, base: str, path: str, **params: Any) -> Any:
        assert self._session is not None
        # verify per request: requests lets an exported REQUESTS_CA_BUNDLE override a session's verify.
        response = self._session.get(base + path, params=params, timeout=120, verify=self.ready["ca_bundle"])
        response.raise_for_status()
        return response.json()

    def mark(self) -> int:
        return int(self._get(self.ready["hubspot_url"], "/__admin__/calls/summary", since=10**12)["mark"])

    def calls_since(self, mark: int) -> dict[str, Any]:
        """``{"calls": n, "mark": m, "systems": {system: {calls, writes, statuses, routes}}}``."""
        return self._get(self.ready["hubspot_url"], "/__admin__/calls/summary", since=mark)

    def contact_counts(self) -> dict[str, Any]:
        return self._get(self.ready["hubspot_url"], "/__admin__/contacts/count", property=list(LEADSYNC_PROPERTIES))

    def salesforce_records(self) -> dict[str, int]:
        if not self.ready.get("salesforce_url"):
            return {}
        return self._get(self.ready["salesforce_url"], "/__admin__/state")["records"]

    def edit_contacts(self, count: int, value: str) -> list[str]:
        assert self._session is not None
        response = self._session.post(self.ready["hubspot_url"] + "/__admin__/contacts/edit",
                                      json={"count": count, "property": "jobtitle", "value": value}, timeout=300,
                                      verify=self.ready["ca_bundle"])
        response.raise_for_status()
        return list(response.json()["edited"])

    def rss_mb(self) -> float:
        """The sandbox process's peak resident memory (VmHWM), in MB."""
        return _proc_status_mb(self.ready["pid"], "VmHWM")


    def cpu_seconds(self) -> float:
        """User and system CPU the sandbox process has used so far."""
        fields = Path(f"/proc/{self.ready['pid']}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
