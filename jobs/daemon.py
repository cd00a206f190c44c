"""``leadsync daemon``: the scheduled jobs, until SIGTERM/SIGINT. Orchestration only: schedule,
lock, call the runtime, record the run; every rule lives in ``connector``.

- One daemon per state store: the ``daemon`` lock is held for the process's lifetime; a second
  daemon exits 1. Each cycle takes the ``cycle`` lock (waiting), so ``leadsync sync`` and
  ``leadsync resync`` run safely beside it.
- SIGTERM/SIGINT: no new job starts; the cycle in hand stops pulling after its current batch
  (the engine checkpoints per batch) and the process exits 0 within ``STOP_GRACE`` seconds.
- A job that raises is logged with its user-facing message; the daemon keeps running.
- ``[webhooks] port`` > 0: HubSpot webhook deliveries are received (connector.app.webhooks_http)
  and the contacts they name are synced at once by the webhook job, a burst together, under the
  same cycle lock as every other cycle. The hot loop keeps polling: it is the safety net.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from connector.core.errors import ConfigError, LeadsyncError, Problem
from connector.app.logsetup import configure_logging
from connector.app.metrics import Metrics
from connector.state.store import LockHeld
from jobs.schedule import CYCLES, LIGHT, JobSpec, job_specs

log = logging.getLogger("leadsync.daemon")

EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2
STOP_GRACE = 25.0                  # seconds the cycle in hand gets to finish its batch
SLA_LOOKBACK = timedelta(days=30)  # handoffs the SLA check watches
HEALTH_CACHE_SECONDS = 2.0         # /healthz reads the store at most this often


class Interruptible:
    """Wraps an adapter so the cycle stops pulling after the batch in hand once the daemon is
    stopping: the engine then writes that batch, checkpoints it and ends the cycle normally."""

    PULLS = ("changed_people", "changed_records", "everyone")

    def __init__(self, adapter: Any, stopping: threading.Event) -> None:
        self._adapter, self._stopping = adapter, stopping

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if name not in self.PULLS:
            return attribute

        def batches(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for batch in attribute(*args, **kwargs):
                yield batch
                if self._stopping.is_set():
                    log.info("stopping: %s ends after the batch in hand", name)
                    return
        return batches


class Daemon:
    def __init__(self, rt: Any, metrics: Metrics | None = None, alerter: Any = None,
                 webhook_queue: Any = None) -> None:
        self.rt, self.metrics, self.alerter = rt, metrics, alerter
        self.webhook_queue = webhook_queue      # connector.app.webhooks.ContactQueue, when receiving
        self.stopping = threading.Event()
        self._busy = 0
        self._idle = threading.Condition()
        self._breaches_seen: set[tuple[str, str]] = set()

    # -- the jobs ---------------------------------------------------------------------------------
    def hubspot_cycle(self) -> None:
        self._cycle("hubspot", lambda: self.rt.sync(kind="hubspot", legs=("marketing",)))

    def salesforce_cycle(self) -> None:
        self._cycle("salesforce", lambda: self.rt.sync(kind="salesforce", legs=("crm",)))

    def reconcile(self) -> None:
        reconcile = getattr(self.rt, "reconcile", None)
        self._cycle("reconcile", reconcile if callable(reconcile) else lambda: self.rt.sync(kind="reconcile"))

    def webhook_cycle(self, ids: list[str]) -> None:
        """The contacts HubSpot's webhooks named, synced now (connector.engine.targeted)."""
        from connector.engine.targeted import KIND, people_cycle

        def run() -> Any:
            engine = self.rt.engine()
            self.rt.preflight()
            with self.rt.store.cycle_lock(wait=True, timeout=300):
                return people_cycle(engine, ids)
        self._cycle(KIND, run)

    def _drain_webhooks(self) -> None:
        """The webhook job: one cycle per burst of queued contacts, until the daemon stops."""
        while not self.stopping.is_set():
            ids = self.webhook_queue.take(self.stopping)
            if ids and not self.stopping.is_set():
                self._guard("webhook", "HubSpot webhook cycle", lambda: self.webhook_cycle(ids))()

    def _cycle(self, kind: str, run: Callable[[], Any]) -> None:
        self._interruptible_engine()
        try:
            summary = run()
        except Exception:
            if self.metrics:
                self.metrics.record_failure(kind)
            raise
        finally:
            self.check_alerts()
        counts = summary.counts
        # An idle cycle (nothing pulled, written or held back) is routine: DEBUG, not INFO.
        idle = summary.outcome == "ok" and not any(n for key, n in counts.items() if key != "sla_breaches")
        log.log(logging.DEBUG if idle else logging.INFO, "%s cycle %s: %s; pulled %d/%d, handed off %d, written %d/%d, quarantined %d", kind, summary.run_id,
                 summary.outcome, counts.get("pulled_hubspot", 0), counts.get("pulled_crm", 0),
                 counts.get("handed_off", 0), counts.get("written_hubspot", 0), counts.get("written_crm", 0),
                 counts.get("quarantined", 0),
                 extra={"run_id": summary.run_id, "kind": kind, "outcome": summary.outcome, "counts": dict(counts)})
        if self.metrics:
            self.metrics.record_summary(summary)

    def _interruptible_engine(self) -> None:
        engine = self.rt.engine()
        for side in ("marketing", "crm"):
            adapter = getattr(engine, side, None)
            if adapter is not None and not isinstance(adapter, Interruptible):
                setattr(engine, side, Interruptible(adapter, self.stopping))
        # The engine must know a pull was cut short, or it would take it for a complete pass.
        engine.stopping = self.stopping.is_set

    def check_alerts(self) -> None:
        """After each cycle: evaluate the alert rules (connector.app.alerts) and deliver."""
        if self.alerter is None:
            return
        from connector.app.facts import gather_facts
        try:
            self.alerter.evaluate(gather_facts(self.rt))
        except Exception:
            log.exception("evaluating alerts failed; they are evaluated again after the next cycle")

    def sla_check(self) -> None:
        from connector.core import sla as S
        from connector.app.reporting import follow_ups
        now = self.rt.clock()
        rows = follow_ups(self.rt.store, self.rt.definition, now - SLA_LOOKBACK, now)
        by_breach = {name: 0 for name in (S.TARGET_MISSED, S.DEADLINE_MISSED, S.TOO_FEW_TOUCHES)}
        for row in rows:
            for breach in row.breaches:
                by_breach[breach] += 1
                if (row.hubspot_id, breach) not in self._breaches_seen:
                    self._breaches_seen.add((row.hubspot_id, breach))
                    log.warning("SLA breach: %s for %s (handed off %s)", breach, row.email or row.hubspot_id,
                                row.handoff_at.isoformat(timespec="minutes"),
                                extra={"hubspot_id": row.hubspot_id, "breach": breach})
        if self.metrics:
            self.metrics.record_sla(by_breach, waiting=len(S.queue(rows)))

    def prune(self) -> None:
        days = self.rt.config.logging.retain_days
        removed = self.rt.store.prune(self.rt.clock() - timedelta(days=days))
        if any(removed.values()):
            log.info("pruned sync logs older than %d days: %s", days, removed, extra={"pruned": removed})

    def review_reminder(self) -> None:
        self.rt.warn_if_review_due()

    # -- running them -------------------------------------------------------------------------------
    def guarded(self, spec: JobSpec, job: Callable[[], None]) -> Callable[[], None]:
        """A job as the scheduler runs it: skipped once stopping, counted while in progress,
        and never allowed to take the daemon down."""
        return self._guard(spec.id, spec.name, job)

    def _guard(self, job_id: str, name: str, job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return
            with self._in_progress():
                try:
                    job()
                except LeadsyncError as exc:
                    log.error("%s failed: %s", name, exc, extra={"job": job_id, "kind": type(exc).__name__})
                    if exc.detail:
                        log.debug("%s detail: %s", name, exc.detail)
                except Exception:
                    log.exception("%s failed unexpectedly", name, extra={"job": job_id})
        return run

    @contextlib.contextmanager
    def _in_progress(self) -> Iterator[None]:
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def jobs(self) -> dict[str, Callable[[], None]]:
        return {"hubspot": self.hubspot_cycle, "salesforce": self.salesforce_cycle, "reconcile": self.reconcile,
                "sla": self.sla_check, "prune": self.prune, "review": self.review_reminder}

    def scheduler(self, specs: list[JobSpec], now: datetime) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone="UTC", executors={CYCLES: ThreadPoolExecutor(1), LIGHT: ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1})
        jobs = self.jobs()
        for spec in specs:
            extra = {"next_run_time": now} if spec.run_at_start else {}
            scheduler.add_job(self.guarded(spec, jobs[spec.id]), spec.trigger, id=spec.id, name=spec.name,
                              executor=spec.executor, misfire_grace_time=spec.misfire_grace, **extra)
        return scheduler

    def run(self, specs: list[JobSpec], stop: threading.Event) -> int:
        # The scheduler runs on the wall clock; the runtime's clock is the domain's "now".
        scheduler = self.scheduler(specs, datetime.now(timezone.utc))
        scheduler.start()
        drain = None
        if self.webhook_queue is not None:
            drain = threading.Thread(target=self._drain_webhooks, name="leadsync-webhook-cycles", daemon=True)
            drain.start()
        log.info("daemon started: %s%s", ", ".join(f"{s.name} ({s.trigger})" for s in specs),
                 ", HubSpot webhook cycles (on delivery)" if drain else "")
        while not stop.wait(1.0):
            pass
        log.info("stopping: no new jobs; the cycle in hand finishes its batch")
        self.stopping.set()
        scheduler.shutdown(wait=False)
        if not self.wait_idle(STOP_GRACE):
            # The engine checkpoints per batch, so what is cut short is redone next time.
            log.warning("a job is still running after %gs; exiting anyway: the next cycle resumes from "
                        "the last committed batch", STOP_GRACE)
            logging.shutdown()
            os._exit(EXIT_OK)
        log.info("daemon stopped")
        return EXIT_OK


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield          # embedded in another program (tests): the caller sets ``stop``
        return

    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _start_metrics(rt: Any, stack: contextlib.ExitStack) -> Metrics | None:
    settings = rt.config.metrics
    if not settings.port:
        return None
    metrics = Metrics(rt.config.schedule.hubspot_every, health_check=_health_check(rt))
    try:
        server = metrics.serve(settings.host, settings.port)
    except OSError as exc:
        raise ConfigError(Problem(rt.config.file, "metrics.port",
                                  f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}")) from None
    stack.callback(server.stop)
    log.info("metrics on http://%s:%d/metrics and /healthz", settings.host, server.port)
    return metrics


def _start_webhooks(rt: Any, stack: contextlib.ExitStack) -> Any:
    """The webhook receiver, when ``[webhooks] port`` is set: returns the queue it fills."""
    settings = rt.config.webhooks
    if not settings.port:
        return None
    from connector.app.config import Secrets
    from connector.app.webhooks import ContactQueue
    from connector.app.webhooks_http import Receiver, serve
    from connector.core.plan import LEAD_STATUS
    secret = Secrets(rt.config, rt.environ).webhook_secret()
    # What leadsync writes on contacts: an app's change to one of them is its own write back.
    own = frozenset({f.name for f in rt.hubspot_mapping.contact_write} | {"lifecyclestage", LEAD_STATUS})
    queue = ContactQueue(window=settings.coalesce_seconds, quiet=min(0.25, settings.coalesce_seconds))
    receiver = Receiver(secret, settings.path, queue, public_url=settings.public_url, own_properties=own)
    try:
        server = serve(receiver, settings.host, settings.port)
    except OSError as exc:
        raise ConfigError(Problem(rt.config.file, "webhooks.port",
                                  f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}")) from None
    stack.callback(server.stop)
    log.info("HubSpot webhooks received on http://%s:%d%s%s", settings.host, server.port, settings.path,
             f" (HubSpot calls {settings.public_url})" if settings.public_url else "")
    return queue


def _health_check(rt: Any) -> Callable[[], Any]:
    """/healthz from the state store: SLA breaches, quarantine, last cycles, the hot loop."""
    from connector.app.facts import gather_facts
    from connector.app.health import assess
    started_at = rt.clock()
    last: list[Any] = [float("-inf"), None]      # (monotonic time, verdict): probes come every few seconds

    def check() -> Any:
        if time.monotonic() - last[0] >= HEALTH_CACHE_SECONDS:
            last[1] = assess(gather_facts(rt), started_at=started_at, hot_every=rt.config.schedule.hubspot_every,
                             quarantine_above=rt.config.metrics.healthz_quarantine_above)
            last[0] = time.monotonic()
        return last[1]
    return check


def _start_web(rt: Any, stack: contextlib.ExitStack) -> None:
    settings = rt.config.web
    if not settings.port:
        return
    try:
        from connector.web.server import serve_in_thread
    except ImportError:
        raise ConfigError(Problem(rt.config.file, "web.port", "the review page needs the web extra: "
                                                              "pip install 'leadsync[web]'")) from None
    web = serve_in_thread(rt, settings.host, settings.port)
    stack.callback(web.stop)
    log.info("review page on http://%s:%d/", settings.host, web.port)


def _build_engine(rt: Any) -> None:
    """Adapters and engine up front, so a mapping or credential problem stops the daemon at
    start (exit 2) instead of failing every cycle. An API that is merely unreachable now is
    the first cycle's business: it retries on schedule."""
    try:
        rt.engine()
        rt.preflight()              # every mapped object and field, before the first write
    except ConfigError:
        raise
    except LeadsyncError as exc:
        log.warning("cannot prepare the API clients yet: %s; the first cycle tries again", exc)


def _config_error(exc: ConfigError) -> int:
    print("leadsync: configuration error:\n" + "\n".join(f"  {p}" for p in exc.problems), file=sys.stderr)
    return EXIT_CONFIG


def _prepare(config_path: str | None) -> Any:
    from connector.app.runtime import Runtime
    rt = Runtime.from_config_path(config_path)
    job_specs(rt.config)            # a bad cron expression is a config error, found now
    configure_logging(rt.config.logging, rt.redactor)
    # An overdue run is logged as skipped every period while a long cycle runs: expected here.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    return rt


def run_daemon(config_path: str | None, *, stop: threading.Event | None = None) -> int:
    try:
        rt = _prepare(config_path)
    except ConfigError as exc:
        return _config_error(exc)
    stop = stop or threading.Event()
    with rt, contextlib.ExitStack() as stack:
        try:
            stack.enter_context(rt.store.cycle_lock("daemon", wait=False))
        except LockHeld:
            print("leadsync: another leadsync daemon is already running on this state store; "
                  "stop it first (one daemon per state store)", file=sys.stderr)
            return EXIT_FATAL
        try:
            _build_engine(rt)
            metrics = _start_metrics(rt, stack)
            _start_web(rt, stack)
            webhook_queue = _start_webhooks(rt, stack)
        except ConfigError as exc:
            return _config_error(exc)
        rt.warn_if_review_due()
        stack.enter_context(stop_on_signals(stop))
        from connector.app.alerts import alerter_for
        return Daemon(rt, metrics, alerter_for(rt), webhook_queue).run(job_specs(rt.config), stop)
