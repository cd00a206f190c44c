"""Opt-in Prometheus metrics and a health check for the daemon (``[metrics] port`` > 0).

``/metrics``: cycles by kind and outcome, records pulled / written / quarantined, handoffs, API
calls and remaining daily quota per system, last success time, open SLA breaches, sales' queue.
``/healthz``: given a ``health_check`` (the daemon passes one reading the state store, see
``connector.app.health``): 200 ``ok``, 200 ``degraded`` with the reasons, or 503 when not
syncing. Without one, the in-process verdict: 200 while a cycle has succeeded within 3 × the
HubSpot interval, else 503 with the reason. Each ``Metrics`` has its own registry (never the process-global one), so tests and
several daemons in one process never collide.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app

from connector.app.serving import Served, serve_wsgi

SUCCESS = ("ok", "partial")          # a partial cycle did its work; the quarantine holds the rest
# Summary count keys per system: the engine speaks of the CRM generically; here it is Salesforce.
PULLED = {"hubspot": "pulled_hubspot", "salesforce": "pulled_crm"}
WRITTEN = {"hubspot": "written_hubspot", "salesforce": "written_crm"}


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str

    @property
    def http_status(self) -> int:
        return 200 if self.ok else 503

    def body(self) -> str:
        return f"{'ok' if self.ok else 'unhealthy'}: {self.reason}\n"


class Metrics:
    def __init__(self, hubspot_every: timedelta, clock: Callable[[], float] = time.time,
                 health_check: Callable[[], Any] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.health_check = health_check
        self.stale_after = 3 * hubspot_every.total_seconds()
        self.clock = clock
        self.started_at = clock()
        self.last_success: float | None = None
        self.last_outcome: str | None = None
        self._api_seen: dict[str, int] = {}
        self._lock = threading.Lock()
        r = self.registry
        self.cycles = Counter("leadsync_cycles", "Cycles run, by kind and outcome", ["kind", "outcome"], registry=r)
        self.pulled = Counter("leadsync_records_pulled", "Records pulled, by system", ["system"], registry=r)
        self.written = Counter("leadsync_records_written", "Records written, by system", ["system"], registry=r)
        self.quarantined = Counter("leadsync_records_quarantined", "Records quarantined", registry=r)
        self.handoffs = Counter("leadsync_handoffs", "Leads handed off to sales", registry=r)
        self.api_calls = Counter("leadsync_api_calls", "API calls made, by system", ["system"], registry=r)
        self.api_remaining = Gauge("leadsync_api_remaining", "Daily API quota remaining, by system", ["system"], registry=r)
        self.last_success_ts = Gauge("leadsync_last_success_timestamp_seconds", "When a cycle of this kind last succeeded",
                                     ["kind"], registry=r)
        self.sla_breaches = Gauge("leadsync_sla_breaches", "Handoffs of the last 30 days breaching the SLA, by breach",
                                  ["breach"], registry=r)
        self.queue = Gauge("leadsync_queue_waiting", "Handed-off leads sales has not accepted yet", registry=r)

    # -- recording ------------------------------------------------------------------------------
    def record_summary(self, summary: Any) -> None:
        """Count one finished cycle from its ``Summary``."""
        with self._lock:
            self.cycles.labels(summary.kind, summary.outcome).inc()
            counts = summary.counts
            for system, key in PULLED.items():
                self.pulled.labels(system).inc(counts.get(key, 0))
            for system, key in WRITTEN.items():
                self.written.labels(system).inc(counts.get(key, 0))
            self.quarantined.inc(counts.get("quarantined", 0))
            self.handoffs.inc(counts.get("handed_off", 0))
            self._record_api(summary.api or {})
            self.last_outcome = summary.outcome
            if summary.outcome in SUCCESS:
                self.last_success = self.clock()
                self.last_success_ts.labels(summary.kind).set(self.last_success)

    def _record_api(self, api: dict[str, Any]) -> None:
        # The transport reports calls as a running total for its lifetime (one per process in the
        # daemon): count the growth. A smaller number means a new transport, counted from zero.
        for system, usage in api.items():
            calls = int((usage or {}).get("calls") or 0)
            seen = self._api_seen.get(system, 0)
            self.api_calls.labels(system).inc(calls - seen if calls >= seen else calls)
            self._api_seen[system] = calls
            remaining = (usage or {}).get("remaining")
            if remaining is not None:
                self.api_remaining.labels(system).set(remaining)

    def record_failure(self, kind: str) -> None:
        """A cycle that raised instead of returning a summary."""
        with self._lock:
            self.cycles.labels(kind, "failed").inc()
            self.last_outcome = "failed"

    def record_sla(self, breaches_by_kind: dict[str, int], waiting: int) -> None:
        for breach, n in breaches_by_kind.items():
            self.sla_breaches.labels(breach).set(n)
        self.queue.set(waiting)

    # -- health ---------------------------------------------------------------------------------
    def health(self) -> Any:
        if self.health_check is not None:
            return self.health_check()
        now = self.clock()
        window = f"{self.stale_after:g}s"
        if self.last_success is None:
            if now - self.started_at <= self.stale_after:
                return Health(True, "starting: no cycle has finished yet")
            return Health(False, f"no successful cycle since start {now - self.started_at:.0f}s ago "
                                 f"(last outcome: {self.last_outcome or 'none'})")
        age = now - self.last_success
        if age <= self.stale_after:
            return Health(True, f"last successful cycle {age:.0f}s ago")
        return Health(False, f"last successful cycle {age:.0f}s ago, more than {window} "
                             f"(last outcome: {self.last_outcome})")

    # -- serving --------------------------------------------------------------------------------
    def wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                health = self.health()
                status = "200 OK" if health.http_status == 200 else "503 Service Unavailable"
                start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
                return [health.body().encode()]
            if environ.get("PATH_INFO") == "/metrics":
                return metrics_app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics or /healthz\n"]
        return app

    def serve(self, host: str, port: int) -> Served:
        return serve_wsgi(self.wsgi_app(), host, port, name="leadsync-metrics")
