"""Secrets never leave the environment: not in any command's output, not in a log line (even at
DEBUG, even for a failing sign-in), not in the state store. With ``redact_pii = true`` emails and
phone numbers are masked in logs and in what ``logs``/``quarantine list`` print.

Everything runs the real ``leadsync`` command against the sandbox on loopback and keeps every
byte it wrote, then searches it for each secret value.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from leadsync_sandbox.faults import FaultRule
from tests import fault_helpers as F
from tests.fault_helpers import certs_dir  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
SECRET_KEYS = ("HUBSPOT_TOKEN", "SF_CLIENT_ID", "SF_CLIENT_SECRET", "SF_PASSWORD")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{2,}@[A-Za-z0-9.-]+\.[a-z]{2,}")


@pytest.fixture
def sandbox(certs_dir):
    with F.new_sandbox(certs_dir) as running:
        yield running


def configure(sandbox, directory: Path, *, redact_pii: bool, state_url: str | None = None) -> Path:
    config = F.write_config(sandbox, directory, state_url)
    with config.open("a", encoding="utf-8") as out:
        out.write(f'\n[logging]\nlevel = "DEBUG"\nformat = "json"\nredact_pii = {str(redact_pii).lower()}\n')
    return config


class Outputs:
    """Runs leadsync commands and keeps everything they printed."""

    def __init__(self, sandbox, config: Path, state: Path | None = None) -> None:
        self.env = {**os.environ, **F.sandbox_env(sandbox)}
        self.config = config
        self.state = state or config.parent / "state.db"
        self.texts: dict[str, str] = {}

    def run(self, name: str, *args: str, env: dict[str, str] | None = None) -> int:
        done = subprocess.run([LEADSYNC, "--config", str(self.config), *args], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=90)
        self.texts[name] = done.stdout + "\n" + done.stderr
        return done.returncode

    def daemon(self, sandbox, *, until_runs: int = 1) -> int:
        process = subprocess.Popen([LEADSYNC, "--config", str(self.config), "daemon"], env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            F.wait_until(lambda: sandbox.calls.count("hubspot", writes=True) > 0 or process.poll() is not None,
                         timeout=60)
            F.wait_until(lambda: self._runs() >= until_runs or process.poll() is not None, timeout=60)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
        self.texts["daemon"] = out + "\n" + err
        return process.returncode

    def _runs(self) -> int:
        import sqlite3
        try:
            with sqlite3.connect(self.state) as db:
                return db.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0]
        except sqlite3.Error:
            return 0

    def all_text(self) -> str:
        return "\n".join(self.texts.values())


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


def test_given_full_cycle_errors_daemon_and_failed_sign_ins_when_output_is_searched_then_no_secret_appears(
        sandbox, tmp_path):
    secrets = {k: sandbox.env()[k] for k in SECRET_KEYS}
    wrong = {"HUBSPOT_TOKEN": "pat-na1-" + "0f" * 16, "SF_CLIENT_SECRET": "e3" * 32}
    config = configure(sandbox, tmp_path, redact_pii=False)
    out = Outputs(sandbox, config)
    # Errors with vendor detail in the store, so `logs --detail` has something to show.
    victim = sandbox.hubspot.contacts()[0]["id"]
    sandbox.hubspot.fail_record(victim, "Property values were not valid")
    sandbox.faults.add(FaultRule("salesforce", path="/query", status=500, times=2))

    assert out.daemon(sandbox) == 0
    assert out.run("sync", "sync", "--json") == 0
    assert out.run("logs", "logs", "--json", "--limit", "500") == 0
    assert out.run("errors", "logs", "--errors", "--detail", "--json") == 0
    assert out.run("quarantine", "quarantine", "list", "--json") == 0
    assert out.run("explain", "explain", sandbox.hubspot.contact(victim)["email"], "--json") == 0
    sandbox.salesforce.expire_sessions()
    assert out.run("bad-sf-secret", "sync", env={"SF_CLIENT_SECRET": wrong["SF_CLIENT_SECRET"]}) == 2
    assert out.run("bad-hubspot-token", "sync", env={"HUBSPOT_TOKEN": wrong["HUBSPOT_TOKEN"]}) == 2
    assert out.run("missing-secret", "sync", env={"SF_PASSWORD": "", "SF_CLIENT_SECRET": ""}) == 2

    text = out.all_text()
    assert "hubspot.token_env: HubSpot does not recognise the access token" in out.texts["bad-hubspot-token"]
    assert "salesforce.client_secret_env: Salesforce rejected the client secret" in out.texts["bad-sf-secret"]
    assert '"logger": "leadsync.daemon"' in out.texts["daemon"], "the daemon's log was captured"
    assert "quarantined" in out.texts["errors"]
    assert leaks(text, {**secrets, **{f"wrong {k}": v for k, v in wrong.items()}}) == []
    state = (tmp_path / "state.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("state.db-*"))
    assert [k for k, v in secrets.items() if v.encode() in state] == []


def test_given_redact_pii_when_logs_and_listings_are_printed_then_emails_and_phones_are_masked(sandbox, tmp_path):
    state = tmp_path / "state.db"
    plain = Outputs(sandbox, configure(sandbox, tmp_path / "plain", redact_pii=False, state_url=f"sqlite:///{state}"), state)
    masked = Outputs(sandbox, configure(sandbox, tmp_path / "masked", redact_pii=True, state_url=f"sqlite:///{state}"), state)
    victim = next(c for c in sandbox.hubspot.contacts() if c.get("phone"))
    sandbox.hubspot.fail_record(victim["id"], f"Property values were not valid: phone {victim['phone']}")
    assert masked.daemon(sandbox) == 0
    for out in (plain, masked):     # the same store, printed without and with redact_pii
        assert out.run("errors", "logs", "--errors", "--detail", "--json") == 0
        assert out.run("quarantine", "quarantine", "list", "--json") == 0
        assert out.run("changes", "logs", "--json", "--limit", "500") == 0

    assert victim["email"] in plain.all_text(), "without redact_pii the email is shown: the check can fail"
    assert EMAIL.search(plain.texts["quarantine"])
    masked_text = masked.all_text()
    assert victim["email"] not in masked_text
    assert victim["phone"] not in masked_text
    assert not EMAIL.search(masked.texts["quarantine"] + masked.texts["errors"] + masked.texts["daemon"])
