"""The daemon: its timetable, its jobs' guard rails, stopping, and (e2e) the real thing against
the sandbox in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from connector.app.config import Config, LoggingConfig, ScheduleConfig
from connector.core.definition import DEFAULT_BANT_FIELDS, load_definition
from connector.core.errors import ConfigError, FatalError
from connector.app.metrics import Metrics
from connector.state.store import Store
from connector.engine.summary import Summary
from jobs.daemon import Daemon, Interruptible, run_daemon
from jobs.schedule import crontab_weekdays, job_specs

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parents[2]
LEADSYNC = str(Path(sys.executable).with_name("leadsync"))


# -- the timetable -------------------------------------------------------------------------------------

def test_given_schedule_when_planned_then_every_job_with_its_period_and_executor():
    config = Config(file="c.toml", schedule=ScheduleConfig(hubspot_every=timedelta(seconds=15),
                                                           salesforce_every=timedelta(minutes=2)))
    specs = {s.id: s for s in job_specs(config)}
    assert set(specs) == {"hubspot", "salesforce", "reconcile", "sla", "prune", "review"}
    assert specs["hubspot"].trigger.interval == timedelta(seconds=15) and specs["hubspot"].misfire_grace == 3600
    assert specs["salesforce"].trigger.interval == timedelta(minutes=2)
    assert {s.executor for s in specs.values() if s.id in ("hubspot", "salesforce", "reconcile")} == {"cycles"}
    assert specs["hubspot"].run_at_start and not specs["reconcile"].run_at_start
    nightly = specs["reconcile"].trigger.get_next_fire_time(None, NOW)
    assert nightly == datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("field, names", [("*", "*"), ("1-5", "mon,tue,wed,thu,fri"), ("0,6", "sun,sat"),
                                          ("7", "sun"), ("*/3", "sun,wed,sat"), ("mon-fri", "mon-fri")])
def test_given_crontab_weekdays_when_translated_then_sunday_is_zero(field, names):
    assert crontab_weekdays(field) == names


def test_given_sunday_cron_when_planned_then_fires_on_sunday():
    config = Config(file="c.toml", schedule=ScheduleConfig(reconcile_cron="0 3 * * 0"))
    spec = next(s for s in job_specs(config) if s.id == "reconcile")
    assert spec.trigger.get_next_fire_time(None, NOW).strftime("%a %H:%M") == "Sun 03:00"


@pytest.mark.parametrize("cron", ["0 27 * * *", "0 3 * * 9", "x 3 * * *"])
def test_given_bad_cron_when_planned_then_config_error_names_the_key(cron):
    with pytest.raises(ConfigError, match=r"c\.toml: schedule\.reconcile_cron: .* not a valid cron"):
        job_specs(Config(file="c.toml", schedule=ScheduleConfig(reconcile_cron=cron)))


# -- the jobs, with a stand-in runtime ------------------------------------------------------------------

class Adapter:
    def __init__(self, batches):
        self.batches, self.pulled = batches, []

    def changed_people(self, since, until):
        for batch in self.batches:
            self.pulled.append(batch)
            yield batch

    def name(self):
        return "adapter"


class FakeRuntime:
    """What the daemon uses of ``Runtime``: sync, engine, store, config, definition, clock."""

    def __init__(self, tmp_path, fail_kinds=()):
        self.config = Config(file="test.toml", state_url=f"sqlite:///{tmp_path}/state.db",
                             schedule=ScheduleConfig(hubspot_every=timedelta(seconds=1), salesforce_every=timedelta(seconds=1)),
                             logging=LoggingConfig(retain_days=30))
        self.store = Store(self.config.state_url)
        self.definition = load_definition(REPO / "mappings" / "qualification.toml", extra_fields=DEFAULT_BANT_FIELDS)
        self.clock = lambda: NOW
        self.engine_ = SimpleNamespace(marketing=Adapter([]), crm=Adapter([]))
        self.calls, self.fail_kinds, self.reviews = [], set(fail_kinds), 0

    def engine(self):
        return self.engine_

    def sync(self, kind="sync", legs=("crm", "marketing")):
        self.calls.append((kind, tuple(legs)))
        if kind in self.fail_kinds:
            raise FatalError(f"{kind}: Salesforce said INVALID_SESSION_ID", detail="raw response body")
        s = Summary(run_id=len(self.calls), kind=kind)
        s.counts["handed_off"] = 1
        return s

    def warn_if_review_due(self):
        self.reviews += 1


@pytest.fixture
def rt(tmp_path):
    runtime = FakeRuntime(tmp_path)
    yield runtime
    runtime.store.close()


def test_given_cycle_jobs_when_run_then_each_loop_syncs_its_leg_and_metrics_count(rt):
    metrics = Metrics(timedelta(seconds=1))
    daemon = Daemon(rt, metrics)
    daemon.hubspot_cycle()
    daemon.salesforce_cycle()
    daemon.reconcile()
    assert rt.calls == [("hubspot", ("marketing",)), ("salesforce", ("crm",)), ("reconcile", ("crm", "marketing"))]
    assert metrics.registry.get_sample_value("leadsync_handoffs_total") == 3


def test_given_idle_and_busy_cycles_when_logged_then_idle_at_debug_busy_at_info(rt, caplog):
    daemon = Daemon(rt)
    rt.sync = lambda kind="sync", legs=(): Summary(run_id=1, kind=kind)
    with caplog.at_level(logging.DEBUG, logger="leadsync.daemon"):
        daemon.hubspot_cycle()
        rt.sync = lambda kind="sync", legs=(): Summary(run_id=2, kind=kind, counts={"handed_off": 1})
        daemon.hubspot_cycle()
    levels = [(r.levelname, r.run_id) for r in caplog.records if hasattr(r, "run_id")]
    assert levels == [("DEBUG", 1), ("INFO", 2)]


def test_given_runtime_with_reconcile_when_nightly_job_runs_then_it_is_used(rt):
    reconciled = []
    rt.reconcile = lambda: reconciled.append("full pass") or Summary(run_id=99, kind="reconcile")
    metrics = Metrics(timedelta(seconds=1))
    Daemon(rt, metrics).reconcile()
    assert reconciled == ["full pass"]            # the runtime's full reconciliation ran …
    assert rt.calls == []                         # … instead of an ordinary incremental cycle
    assert metrics.registry.get_sample_value("leadsync_cycles_total", {"kind": "reconcile", "outcome": "ok"}) == 1


def test_given_failing_cycle_when_guarded_then_user_message_logged_and_daemon_goes_on(rt, caplog):
    rt.fail_kinds = {"hubspot"}
    metrics = Metrics(timedelta(seconds=1))
    daemon = Daemon(rt, metrics)
    spec = next(s for s in job_specs(rt.config) if s.id == "hubspot")
    with caplog.at_level(logging.ERROR, logger="leadsync.daemon"):
        daemon.guarded(spec, daemon.hubspot_cycle)()          # must not raise
    assert "HubSpot hot loop failed: hubspot: Salesforce said INVALID_SESSION_ID" in caplog.text
    assert "raw response body" not in caplog.text
    assert metrics.registry.get_sample_value("leadsync_cycles_total", {"kind": "hubspot", "outcome": "failed"}) == 1


def test_given_unexpected_exception_when_guarded_then_logged_with_traceback(rt, caplog):
    daemon = Daemon(rt)
    spec = job_specs(rt.config)[0]
    with caplog.at_level(logging.ERROR, logger="leadsync.daemon"):
        daemon.guarded(spec, lambda: 1 / 0)()
    assert "failed unexpectedly" in caplog.text and "ZeroDivisionError" in caplog.text


def test_given_stopping_when_a_queued_job_starts_then_it_does_nothing(rt):
    daemon = Daemon(rt)
    daemon.stopping.set()
    daemon.guarded(job_specs(rt.config)[0], daemon.hubspot_cycle)()
    assert rt.calls == []


def test_given_stop_during_a_pull_when_batch_ends_then_no_further_batch_is_pulled():
    stopping = threading.Event()
    adapter = Adapter([[1, 2], [3], [4]])
    wrapped = Interruptible(adapter, stopping)
    seen = []
    for batch in wrapped.changed_people(None, None):
        seen.append(batch)
        stopping.set()                      # SIGTERM arrives while the first batch is written
    assert seen == [[1, 2]] and adapter.pulled == [[1, 2]]
    assert wrapped.name() == "adapter"      # everything else passes through


def test_given_cycle_when_run_then_engine_adapters_made_interruptible_once(rt):
    daemon = Daemon(rt)
    daemon.hubspot_cycle()
    daemon.hubspot_cycle()
    assert isinstance(rt.engine_.marketing, Interruptible) and isinstance(rt.engine_.crm, Interruptible)
    assert not isinstance(rt.engine_.marketing._adapter, Interruptible)


def test_given_breached_handoff_when_sla_checked_twice_then_logged_once_and_gauges_set(rt, caplog):
    rt.store.save_people([{"hubspot_id": "7", "email": "ann@acme.com", "stage": "mql", "score": 80,
                           "handoff_at": NOW - timedelta(days=2)}], NOW)
    metrics = Metrics(timedelta(seconds=1))
    daemon = Daemon(rt, metrics)
    with caplog.at_level(logging.WARNING, logger="leadsync.daemon"):
        daemon.sla_check()
        daemon.sla_check()
    assert caplog.text.count("SLA breach: first touch after deadline for ann@acme.com") == 1
    assert metrics.registry.get_sample_value("leadsync_sla_breaches", {"breach": "first touch after deadline"}) == 1
    assert metrics.registry.get_sample_value("leadsync_queue_waiting") == 1


def test_given_old_runs_when_pruned_then_only_those_beyond_retention_go(rt):
    old = rt.store.start_run("sync", NOW - timedelta(days=31))
    rt.store.finish_run(old, NOW - timedelta(days=31), "ok", {}, {})
    recent = rt.store.start_run("sync", NOW - timedelta(days=29))
    rt.store.finish_run(recent, NOW - timedelta(days=29), "ok", {}, {})
    Daemon(rt).prune()
    from connector.state.logquery import LogFilter
    assert [r["id"] for r in rt.store.log_rows("runs", LogFilter())] == [recent]


def test_given_running_daemon_when_stopped_then_cycles_ran_and_it_returns_zero(rt):
    stop = threading.Event()
    daemon = Daemon(rt)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", daemon.run(job_specs(rt.config), stop)))
    thread.start()
    deadline = time.monotonic() + 10
    while {k for k, _ in rt.calls} < {"hubspot", "salesforce"} and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)
    assert result == {"code": 0}
    assert {k for k, _ in rt.calls} >= {"hubspot", "salesforce"}
    assert rt.reviews == 0          # the review reminder is daily, not at start (run_daemon warns at start)
    calls = len(rt.calls)
    time.sleep(1.2)
    assert len(rt.calls) == calls   # nothing runs after stopping


def test_given_missing_config_file_when_daemon_starts_then_exit_2(tmp_path, capsys):
    assert run_daemon(str(tmp_path / "nope.toml")) == 2
    assert "nope.toml: file not found" in capsys.readouterr().err


@pytest.fixture
def restore_logging():
    """run_daemon installs its log handler on the root logger; put things back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_given_daemon_lock_held_when_second_daemon_starts_then_exit_1(tmp_path, monkeypatch, capsys, restore_logging):
    for name in ("HUBSPOT_TOKEN", "SF_CLIENT_ID", "SF_CLIENT_SECRET"):
        monkeypatch.setenv(name, "not-used-0123456789")
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n')
    store = Store(f"sqlite:///{tmp_path}/state.db")
    try:
        with store.cycle_lock("daemon"):
            assert run_daemon(str(config)) == 1
    finally:
        store.close()
    assert "another leadsync daemon is already running" in capsys.readouterr().err


# -- end to end: ``leadsync daemon`` in a subprocess against the sandbox ----------------------------------

def _missing_spine() -> str | None:
    for module in ("leadsync_sandbox.server", "connector.app.wiring", "connector.adapters.hubspot.adapter",
                   "connector.adapters.salesforce.adapter"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ImportError:
            return module
    return None


MISSING = _missing_spine()


def needs_spine(test):
    """End to end; skipped only while the sandbox or the adapters are not in this build."""
    skip = pytest.mark.skipif(MISSING is not None, reason=f"the sandbox spine is not in this build yet ({MISSING})")
    return pytest.mark.e2e(skip(test))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fast_config(sandbox, path: Path, state_url: str, port: int) -> Path:
    sandbox.write_config(path, state_url)
    text = path.read_text()
    for key, value in (("hubspot_every", "1s"), ("salesforce_every", "2s")):
        text = "\n".join(f'{key} = "{value}"' if line.startswith(f"{key} =") else line for line in text.splitlines())
    path.write_text(text + f'\n[logging]\nformat = "json"\n\n[metrics]\nport = {port}\n')
    return path


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The sandbox and one daemon running against it for this module's end-to-end tests."""
    if MISSING:
        pytest.skip(f"the sandbox spine is not in this build yet ({MISSING})")
    from leadsync_sandbox.server import Sandbox
    base = tmp_path_factory.mktemp("daemon")
    # Few people and a generous rate limit: the first cycle takes seconds, not half a minute.
    with Sandbox(base / "sandbox", people=40, hubspot_rate_per_10s=1000) as sandbox:
        port = _free_port()
        state_url = f"sqlite:///{base / 'state.db'}"
        config = _fast_config(sandbox, base / "leadsync.toml", state_url, port)
        env = {**os.environ, **sandbox.env()}
        log_file = open(base / "daemon.log", "w")
        process = subprocess.Popen([LEADSYNC, "--config", str(config), "daemon"], env=env, cwd=base,
                                   stdout=log_file, stderr=subprocess.STDOUT)
        store = Store(state_url)
        live = SimpleNamespace(sandbox=sandbox, process=process, store=store, config=config, env=env, base=base,
                               metrics=f"http://127.0.0.1:{port}", log=base / "daemon.log")
        try:
            yield live
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log_file.close()
            store.close()


def _finished_kinds(store) -> set[str]:
    from connector.state.logquery import LogFilter
    return {r["kind"] for r in store.log_rows("runs", LogFilter(limit=1000), finished_only=True)}


@needs_spine
def test_given_daemon_when_running_then_both_loops_cycle_and_a_lead_is_handed_off(live):
    _wait(lambda: _finished_kinds(live.store) >= {"hubspot", "salesforce"}, 20, "a hubspot and a salesforce cycle")
    handed = _wait(lambda: [p for p in live.store.people().values() if p.get("crm_id")], 20, "a handoff")
    leads = {r.get("HubSpot_Contact_Id__c") for r in live.sandbox.salesforce.records("Lead") + live.sandbox.salesforce.records("Contact")}
    assert {p["hubspot_id"] for p in handed} <= leads


@needs_spine
def test_given_daemon_running_when_second_daemon_starts_then_refused_with_exit_1(live):
    second = subprocess.run([LEADSYNC, "--config", str(live.config), "daemon"], env=live.env, cwd=live.base,
                            capture_output=True, text=True, timeout=20)
    assert second.returncode == 1 and "already running" in second.stderr
    assert live.process.poll() is None


@needs_spine
def test_given_metrics_port_when_scraped_then_counters_and_health(live):
    _wait(lambda: "hubspot" in _finished_kinds(live.store), 20, "a hubspot cycle")
    body = _wait(lambda: (b := urllib.request.urlopen(f"{live.metrics}/metrics", timeout=5).read().decode())
                 and 'leadsync_cycles_total{kind="hubspot",outcome="ok"}' in b and b, 10, "counted cycles")
    assert "leadsync_api_calls_total" in body and "leadsync_records_pulled_total" in body
    assert urllib.request.urlopen(f"{live.metrics}/healthz", timeout=5).status == 200


@needs_spine
def test_given_sigterm_during_a_cycle_when_stopping_then_cycle_finishes_and_exit_0_within_30s(live):
    from connector.state.logquery import LogFilter
    _wait(lambda: "hubspot" in _finished_kinds(live.store), 20, "a hubspot cycle")
    # A quiet cycle takes a few milliseconds: each call made slow, a cycle is long enough to be
    # seen in progress (polled five times a second), and the signal comes in the middle of it.
    live.sandbox.faults.set_latency("hubspot", 0.3)
    _wait(lambda: any(r["outcome"] == "running" for r in live.store.log_rows("runs", LogFilter(limit=3))), 10,
          "a cycle in progress")
    started = time.monotonic()
    live.process.send_signal(signal.SIGTERM)
    assert live.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30
    runs = live.store.log_rows("runs", LogFilter(limit=1000))
    assert all(r["outcome"] != "running" for r in runs)      # the cycle in hand was finished, not cut
    last_finished = max(r["finished_at"] for r in runs)
    assert all(value <= last_finished for value in live.store.cursors().values())
    # Everything the daemon decided was written: a fresh cycle finds nothing new to hand off.
    again = subprocess.run([LEADSYNC, "--config", str(live.config), "sync", "--json"], env=live.env, cwd=live.base,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"]["handed_off"] == 0
    lines = [json.loads(line) for line in live.log.read_text().splitlines() if line.startswith("{")]
    assert any(line["message"] == "daemon stopped" for line in lines)
