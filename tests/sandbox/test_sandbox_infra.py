"""Sandbox plumbing: certificates, fault injection, the call log, config and admin routes."""

from __future__ import annotations

import ipaddress
import ssl
import threading
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import urllib3
from cryptography import x509
from hubspot.crm.contacts import ApiException as ContactsError

from leadsync_sandbox.faults import CallLog, FaultRule, Faults
from leadsync_sandbox.seed import build_seed, sf_id
from leadsync_sandbox.server import Sandbox
from leadsync_sandbox.tls import make_certificates
from tests.sandbox_fixtures import NOW, HubSpotApis, _no_leftover_faults, hs, sandbox  # noqa: F401

CONTACTS = "/crm/v3/objects/contacts"


# ---- certificates ---------------------------------------------------------------------------

def test_given_a_directory_when_making_certificates_then_loopback_names_and_a_full_bundle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "system.pem"
    system.write_text("# the system's trusted roots\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(system))
    certs = make_certificates(tmp_path / "certs")
    server = x509.load_pem_x509_certificate(certs.cert_path.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                               ipaddress.ip_address("::1")}
    bundle = certs.bundle_path.read_text()
    assert bundle.startswith("# the system's trusted roots") and certs.ca_path.read_text() in bundle
    ssl.create_default_context(cafile=str(certs.bundle_path))  # a usable CA file


def test_given_valid_certificates_then_they_are_reused_and_missing_ones_regenerated(tmp_path: Path) -> None:
    first = make_certificates(tmp_path)
    ca = first.ca_path.read_bytes()
    assert make_certificates(tmp_path).ca_path.read_bytes() == ca
    first.key_path.unlink()
    assert make_certificates(tmp_path).ca_path.read_bytes() != ca


# ---- the call log and fault rules -----------------------------------------------------------

def test_given_calls_from_many_threads_then_the_log_counts_them_all() -> None:
    log = CallLog()
    threads = [threading.Thread(target=lambda: [log.record("hubspot", "GET", "/x", 200, False) for _ in range(100)])
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mark = log.mark()
    log.record("salesforce", "POST", "/y", 201, True)
    assert log.count() == 801 and log.count("hubspot") == 800 and log.count(writes=True) == 1
    assert [c.path for c in log.since(mark)] == ["/y"]


def test_given_after_and_times_then_the_fault_skips_then_fires_then_stops() -> None:
    faults = Faults()
    faults.add(FaultRule("hubspot", path=r"/contacts$", method="GET", after=2, times=2))
    fired = [faults.take("hubspot", "GET", "/crm/v3/objects/contacts") is not None for _ in range(5)]
    assert fired == [False, False, True, True, False]
    assert faults.take("salesforce", "GET", "/crm/v3/objects/contacts") is None


def test_given_an_unknown_kind_or_bad_regex_then_the_rule_is_refused() -> None:
    with pytest.raises(ValueError):
        FaultRule("hubspot", kind="explode")  # type: ignore[arg-type]
    with pytest.raises(Exception):
        FaultRule("hubspot", path="(")


def test_given_a_status_fault_on_the_third_page_then_the_client_sees_that_status(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    sandbox.faults.add(FaultRule("hubspot", path=f"{CONTACTS}$", status=503, after=2))
    hs.contacts.get_page(limit=5)
    hs.contacts.get_page(limit=5, after="106")
    with pytest.raises(ContactsError) as caught:
        hs.contacts.get_page(limit=5, after="111")
    assert caught.value.status == 503
    assert hs.contacts.get_page(limit=5, after="111").results  # times=1: the retry works


def test_given_a_429_fault_with_headers_then_they_reach_the_client(sandbox: Sandbox, hs: HubSpotApis) -> None:
    # No Retry-After here: urllib3 would honour it and retry the GET by itself.
    sandbox.faults.add(FaultRule("hubspot", status=429, headers={"X-HubSpot-Correlation-Id": "c-1"}))
    with pytest.raises(ContactsError) as caught:
        hs.contacts.get_page(limit=1)
    assert caught.value.status == 429 and caught.value.headers["X-HubSpot-Correlation-Id"] == "c-1"
    assert '"RATE_LIMIT"' in caught.value.body


def test_given_a_reset_then_requests_raises_a_connection_error(sandbox: Sandbox) -> None:
    sandbox.faults.add(FaultRule("hubspot", kind="reset"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{sandbox.hubspot_url}{CONTACTS}", verify=str(sandbox.certs.bundle_path),
                     headers={"Authorization": f"Bearer {sandbox.hubspot.token}"}, timeout=5)
    assert sandbox.calls.calls("hubspot")[-1].status == 0


def test_given_resets_then_the_hubspot_client_raises_a_protocol_error(sandbox: Sandbox, hs: HubSpotApis) -> None:
    # urllib3 retries an idempotent GET three times on its own, so every attempt must fail.
    sandbox.faults.add(FaultRule("hubspot", kind="reset", times=4))
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        hs.contacts.get_page(limit=1)
    assert isinstance(caught.value.reason, urllib3.exceptions.ProtocolError)
    sandbox.faults.add(FaultRule("hubspot", path="batch/update", kind="reset"))
    with pytest.raises(urllib3.exceptions.ProtocolError):  # a POST is never retried
        hs.contacts_batch.update({"inputs": [{"id": "120", "properties": {"jobtitle": "CTO"}}]})


def test_given_a_delay_longer_than_the_timeout_then_the_client_times_out(sandbox: Sandbox) -> None:
    sandbox.faults.add(FaultRule("hubspot", kind="delay", delay=0.6))
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sandbox.hubspot_url}{CONTACTS}", verify=str(sandbox.certs.bundle_path),
                     headers={"Authorization": f"Bearer {sandbox.hubspot.token}"}, timeout=0.2)


# ---- admin over HTTP, config, seed ----------------------------------------------------------

def test_given_admin_routes_then_they_work_without_auth_and_are_never_logged(sandbox: Sandbox) -> None:
    verify = str(sandbox.certs.bundle_path)
    mark = sandbox.calls.mark()
    state = requests.get(f"{sandbox.hubspot_url}/__admin__/state", verify=verify, timeout=5).json()
    assert state["contacts"] == len(sandbox.hubspot.contacts())
    added = requests.post(f"{sandbox.hubspot_url}/__admin__/faults", json={"path": "contacts$", "status": 502},
                          verify=verify, timeout=5)
    assert added.status_code == 201
    listed = requests.get(f"{sandbox.hubspot_url}/__admin__/faults", verify=verify, timeout=5).json()["faults"]
    assert listed[0]["status"] == 502 and listed[0]["system"] == "hubspot"
    requests.delete(f"{sandbox.hubspot_url}/__admin__/faults", verify=verify, timeout=5)
    assert sandbox.faults.rules() == []
    # Other tests' delayed requests may still land here; what matters is that no admin call does.
    assert [c for c in sandbox.calls.since(mark) if "__admin__" in c.path] == []
    bad = requests.post(f"{sandbox.hubspot_url}/__admin__/faults", json={"kind": "melt"}, verify=verify, timeout=5)
    assert bad.status_code == 400


def test_given_a_sandbox_then_env_and_config_point_a_client_at_it(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox.env()
    assert env["REQUESTS_CA_BUNDLE"] == str(sandbox.certs.bundle_path)
    assert env["HUBSPOT_TOKEN"] == sandbox.hubspot.token
    assert {"SF_CLIENT_ID", "SF_CLIENT_SECRET", "SF_USERNAME", "SF_PASSWORD"} <= set(env)
    config = tomllib.loads(sandbox.write_config(tmp_path / "c.toml", "sqlite:///x.db").read_text())
    assert config["hubspot"]["base_url"] == sandbox.hubspot_url
    assert config["hubspot"]["token_env"] == "HUBSPOT_TOKEN"
    assert config["salesforce"]["auth"] == "client_credentials"
    assert config["state"]["url"] == "sqlite:///x.db"
    assert Path(config["definition"]["path"]).is_file()


def test_given_two_sandboxes_then_their_credentials_differ() -> None:
    one = Sandbox(people=1, now=NOW, salesforce=False)
    two = Sandbox(people=1, now=NOW, salesforce=False)
    try:
        assert one.credentials["HUBSPOT_TOKEN"] != two.credentials["HUBSPOT_TOKEN"]
        assert one.credentials["SF_PASSWORD"] != two.credentials["SF_PASSWORD"]
    finally:
        one.close()
        two.close()


def test_given_the_same_seed_and_now_then_the_data_is_identical() -> None:
    first, second = build_seed(11, 40, NOW), build_seed(11, 40, NOW)
    assert [c.properties for c in first.hubspot.contacts] == [c.properties for c in second.hubspot.contacts]
    assert [e.id for e in first.hubspot.events] == [e.id for e in second.hubspot.events]
    assert first.salesforce.leads == second.salesforce.leads
    assert build_seed(12, 40, NOW).hubspot.contacts[0].properties != first.hubspot.contacts[0].properties


def test_given_the_default_seed_then_activities_sit_in_the_last_120_days_and_sales_knows_some_people() -> None:
    seed = build_seed(7, 300, NOW)
    oldest = min(e.occurred_at for e in seed.hubspot.events)
    assert NOW - timedelta(days=121) < oldest and max(e.occurred_at for e in seed.hubspot.events) < NOW
    emails = {c.properties["email"] for c in seed.hubspot.contacts}
    twins = [lead for lead in seed.salesforce.leads if lead["Email"] in emails]
    assert twins and all(lead["HubSpot_Contact_Id__c"] is None for lead in twins)
    assert any(a["Type"] == "Customer" for a in seed.salesforce.accounts)
    assert len(seed.salesforce.rep_ids) == 3 and seed.salesforce.assignment_rule["Active"]


def test_given_a_number_then_sf_id_is_18_chars_with_the_case_checksum() -> None:
    assert sf_id("00Q", 1) == "00Q5g0000000001EAA"  # the Q in chunk one sets bit 2
    assert len(sf_id("001", 123456)) == 18 and sf_id("001", 123456) != sf_id("001", 123457)


def test_given_datetime_now_default_then_the_seed_is_relative_to_it() -> None:
    seed = build_seed(3, 5)
    assert abs(seed.now - datetime.now(timezone.utc)) < timedelta(minutes=1)


# ---- the whole sandbox ----------------------------------------------------------------------

def test_given_a_full_sandbox_then_its_salesforce_credentials_get_a_token(tmp_path: Path) -> None:
    with Sandbox(tmp_path, people=10, now=NOW) as full:
        assert full.salesforce is not None and full.salesforce_url.startswith("https://127.0.0.1:")
        env = full.env()
        answer = requests.post(f"{full.salesforce_url}/services/oauth2/token", verify=env["REQUESTS_CA_BUNDLE"],
                               data={"grant_type": "client_credentials", "client_id": env["SF_CLIENT_ID"],
                                     "client_secret": env["SF_CLIENT_SECRET"]}, timeout=5)
        assert answer.status_code == 200 and answer.json()["instance_url"].startswith("https://")


def test_given_run_forever_then_it_announces_how_to_connect_and_stops_on_sigint(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    script = ("from pathlib import Path; from leadsync_sandbox import Sandbox; "
              f"Sandbox(Path({str(tmp_path)!r}), people=5, salesforce=False).run_forever()")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        announced = "".join(lines)
        assert "export HUBSPOT_TOKEN=" in announced and "export REQUESTS_CA_BUNDLE=" in announced
        config = tomllib.loads((tmp_path / "leadsync-sandbox.toml").read_text())
        assert config["hubspot"]["base_url"] in announced
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_given_relative_directory_then_generated_config_and_ca_bundle_use_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sandbox = Sandbox(Path("rel/sandbox"), people=5, salesforce=False)
    sandbox.certs = make_certificates(sandbox.directory / "certs")
    config = sandbox.write_default_config()
    state = tomllib.loads(config.read_text())["state"]["url"]
    assert Path(state.removeprefix("sqlite:///")).is_absolute()
    assert Path(sandbox.env()["REQUESTS_CA_BUNDLE"]).is_absolute()
