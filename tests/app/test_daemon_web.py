"""The daemon's part in the review page and alerts: alerts evaluated after every cycle (failed
ones too), and (e2e) a real daemon serving the page on ``[web] port`` and a truthful /healthz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from connector.app.alerts import Alerter
from connector.app.config import AlertsConfig
from connector.core.errors import FatalError
from connector.engine.cycle import Summary
from jobs.daemon import Daemon
from tests.web_fixtures import runtime

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))


class Recording:
    name = "webhook"

    def __init__(self):
        self.notices = []

    def send(self, notice):
        self.notices.append((notice.key, notice.status))


def test_given_alerter_when_cycles_succeed_and_fail_then_evaluated_after_each_and_failure_announced_once(tmp_path):
    rt = runtime(tmp_path)
    channel = Recording()
    outcomes = iter(["failed", "failed", "ok"])

    def sync(kind="sync", legs=()):
        outcome = next(outcomes)
        run_id = rt.store.start_run(kind, rt.clock())
        rt.store.finish_run(run_id, rt.clock(), outcome, {}, {}, "Salesforce rejected leadsync's sign-in" if outcome == "failed" else None)
        if outcome == "failed":
            raise FatalError("Salesforce rejected leadsync's sign-in")
        return Summary(run_id=run_id, kind=kind)

    fake = SimpleNamespace(store=rt.store, definition=rt.definition, clock=rt.clock, review_due=lambda: None,
                           engine=lambda: SimpleNamespace(), sync=sync)
    daemon = Daemon(fake, alerter=Alerter(rt.store, AlertsConfig(rules=("cycle_failed",)), [channel]))
    for _ in range(2):
        with pytest.raises(FatalError):
            daemon.salesforce_cycle()
    daemon.salesforce_cycle()
    assert channel.notices == [("cycle_failed:salesforce", "firing"), ("cycle_failed:salesforce", "resolved")]
    rt.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.e2e
def test_given_web_and_metrics_ports_when_daemon_runs_then_page_shows_its_runs_and_healthz_tells_the_truth(tmp_path):
    from leadsync_sandbox.server import Sandbox
    with Sandbox(tmp_path / "sandbox", people=30, hubspot_rate_per_10s=1000) as sandbox:
        web, metrics = _free_port(), _free_port()
        config = sandbox.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
        config.write_text(config.read_text() + f'\n[web]\nport = {web}\n\n[metrics]\nport = {metrics}\n'
                          'healthz_quarantine_above = 0\n')
        env = {**os.environ, **sandbox.env()}
        with open(tmp_path / "daemon.log", "w") as log:
            process = subprocess.Popen([LEADSYNC, "--config", str(config), "daemon"], env=env, cwd=tmp_path,
                                       stdout=log, stderr=subprocess.STDOUT)
            try:
                page = _wait(lambda: (r := _get(f"http://127.0.0.1:{web}/"))[0] == 200 and 'data-run="' in r[1] and r[1],
                             30, "the review page listing a run")
                assert "hubspot" in page
                status, body = _get(f"http://127.0.0.1:{metrics}/healthz")
                assert status == 200 and body.splitlines()[0] in ("ok", "degraded")
                sandbox.hubspot.fail_record(sandbox.hubspot.contacts()[0]["id"], "Property values were not valid")
                sandbox.hubspot.update_contact(sandbox.hubspot.contacts()[0]["id"], {"jobtitle": "Director of Sales"})
                status, body = _wait(lambda: (r := _get(f"http://127.0.0.1:{metrics}/healthz"))[1].startswith("degraded") and r,
                                     30, "health degraded by the quarantined record")
                assert status == 200 and "1 records quarantined (more than 0)" in body
                assert _get(f"http://127.0.0.1:{web}/healthz")[1] == body, "the page's /healthz is the same verdict"
            finally:
                process.terminate()
                assert process.wait(timeout=40) == 0


def test_given_store_when_leadsync_web_runs_then_serves_the_page_until_interrupted(tmp_path):
    import signal
    rt = runtime(tmp_path)
    from tests.web_fixtures import seed
    seed(rt.store)
    rt.close()
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n')
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "LEADSYNC_WEB_TOKEN"}
    process = subprocess.Popen([LEADSYNC, "--config", str(config), "web", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status, page = _wait(lambda: (r := _get(f"http://127.0.0.1:{port}/errors"))[0] == 200 and r, 20, "the page")
        assert "3 record(s) held back" in page
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out and "GET /" not in out + err, "no access log"


def test_given_off_loopback_host_without_token_when_leadsync_web_starts_then_exit_2_naming_the_key(tmp_path):
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n\n[web]\nhost = "0.0.0.0"\n')
    env = {k: v for k, v in os.environ.items() if k != "LEADSYNC_WEB_TOKEN"}
    done = subprocess.run([LEADSYNC, "--config", str(config), "web", "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "web.token_env" in done.stderr and "LEADSYNC_WEB_TOKEN" in done.stderr
