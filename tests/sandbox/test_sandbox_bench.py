"""What the throughput benchmark needs from the sandbox: per-call latency, the search limit
apart from the burst window, the call summary by route, the paged contact list tap-hubspot
reads, bulk edits and counts, and the sandbox as a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from leadsync_sandbox import faults as faults_module
from leadsync_sandbox.hubspot_limits import RateLimiter
from leadsync_sandbox.server import Sandbox
from tests.sandbox_fixtures import NOW

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(seed=7, people=250, now=NOW, portal="brownfield", hubspot_rate_per_10s=100_000,
                 hubspot_search_per_second=10_000) as running:
        yield running


def get(box: Sandbox, path: str, **params: Any) -> requests.Response:
    return requests.get(box.hubspot_url + path, params=params, verify=str(box.certs.bundle_path),  # type: ignore[union-attr]
                        headers={"Authorization": f"Bearer {box.hubspot.token}"}, timeout=30)


def post(box: Sandbox, path: str, body: Any, base: str | None = None) -> requests.Response:
    return requests.post((base or box.hubspot_url) + path, json=body, verify=str(box.certs.bundle_path),  # type: ignore[union-attr]
                         headers={"Authorization": f"Bearer {box.hubspot.token}"}, timeout=30)


# ---- the limits -------------------------------------------------------------------------------

class FixedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_given_searches_outside_the_burst_window_then_a_full_window_still_admits_searches() -> None:
    clock = FixedClock()
    limiter = RateLimiter(per_10s=10, search_per_second=5, clock=clock, searches_in_burst=False)
    assert all(limiter.admit(search=False).allowed for _ in range(10))
    assert not limiter.admit(search=False).allowed
    assert [limiter.admit(search=True).allowed for _ in range(6)] == [True] * 5 + [False]
    clock.now += 1.0
    assert limiter.admit(search=True).allowed      # the search window moved on; the burst did not matter


def test_given_searches_in_the_burst_window_then_they_spend_it_and_a_full_window_refuses_them() -> None:
    clock = FixedClock()
    limiter = RateLimiter(per_10s=10, search_per_second=5, clock=clock)
    assert limiter.searches_in_burst
    assert all(limiter.admit(search=True).allowed for _ in range(5))
    assert [limiter.admit(search=False).allowed for _ in range(6)] == [True] * 5 + [False]
    clock.now += 1.0
    refused = limiter.admit(search=True)
    assert not refused.allowed and refused.body["policyName"] == "TEN_SECONDLY_ROLLING"


def test_given_sandbox_options_then_the_portal_carries_them() -> None:
    sandbox = Sandbox(people=20, salesforce=False, hubspot_search_per_second=7, hubspot_daily_limit=1234,
                      searches_in_burst=False, latency_seconds={"hubspot": 0.05, "salesforce": 0.02})
    limits = sandbox.hubspot.limits
    assert (limits.search_per_second, limits.daily, limits.searches_in_burst) == (7, 1234, False)
    assert sandbox.faults.latency == {"hubspot": 0.05, "salesforce": 0.02}
    with pytest.raises(ValueError):
        sandbox.faults.set_latency("hubspot", -1)
    sandbox.close()


# ---- latency ------------------------------------------------------------------------------------

def test_given_a_latency_then_every_api_call_waits_it_and_admin_calls_do_not(
        box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(faults_module.time, "sleep", waits.append)
    box.faults.set_latency("hubspot", 0.05)
    try:
        assert get(box, "/crm/v3/objects/contacts", limit=5).status_code == 200
        assert get(box, "/__admin__/calls/summary").status_code == 200
        assert post(box, "/crm/v3/objects/contacts/search", {"limit": 1}).status_code == 200
    finally:
        box.faults.set_latency("hubspot", 0)
    assert waits == [0.05, 0.05]


def test_given_the_admin_latency_route_then_it_sets_the_systems_latency(box: Sandbox) -> None:
    answer = post(box, "/__admin__/latency", {"seconds": 0.25})
    try:
        assert answer.json()["latency"]["hubspot"] == 0.25 and box.faults.latency["hubspot"] == 0.25
        assert post(box, "/__admin__/latency", {"seconds": -2}).status_code == 400
    finally:
        box.faults.set_latency("hubspot", 0)


# ---- the call summary ---------------------------------------------------------------------------

def test_given_calls_then_the_summary_counts_them_by_system_and_route_since_a_mark(box: Sandbox) -> None:
    mark = get(box, "/__admin__/calls/summary", since=10**12).json()["mark"]
    contact = box.hubspot.contacts()[0]["id"]
    get(box, f"/crm/v3/objects/contacts/{contact}")
    get(box, f"/crm/v3/objects/companies/{box.hubspot.ordered('companies')[0].id}")
    get(box, "/crm/v3/objects/contacts/999999999")
    post(box, "/crm/v3/objects/contacts/search", {"limit": 2})
    get(box, "/events/v3/events/", objectType="contact", eventType="e_visited_page")
    summary = get(box, "/__admin__/calls/summary", since=mark).json()
    hubspot = summary["systems"]["hubspot"]
    assert summary["calls"] == 5 and summary["mark"] == mark + 5
    assert hubspot["routes"] == {"GET /crm/v3/objects/contacts/<record_id>": 2,
                                 "GET /crm/v3/objects/companies/<record_id>": 1,
                                 "POST /crm/v3/objects/contacts/search": 1,
                                 "GET /events/v3/events/?eventType=e_visited_page": 1}
    assert hubspot["statuses"] == {"200": 4, "404": 1} and hubspot["writes"] == 0
    listed = get(box, "/__admin__/calls", since=mark + 4).json()
    assert [c["route"] for c in listed["calls"]] == ["GET /events/v3/events/?eventType=e_visited_page"]


def test_given_soql_queries_then_the_summary_names_the_object_each_reads(box: Sandbox) -> None:
    from tests.sandbox.helpers import salesforce_client
    mark = box.calls.mark()
    client = salesforce_client(box)
    client.query("SELECT Id FROM Lead LIMIT 1")
    client.query("select Id from Opportunity limit 1")
    routes = get(box, "/__admin__/calls/summary", since=mark).json()["systems"]["salesforce"]["routes"]
    assert routes["GET /services/data/v<version>/query/ FROM Lead"] == 1
    assert routes["GET /services/data/v<version>/query/ FROM Opportunity"] == 1


# ---- what tap-hubspot's contacts stream reads -----------------------------------------------------

def test_given_the_contact_list_paged_as_tap_hubspot_asks_then_every_contact_comes_once(box: Sandbox) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 100, "properties": "email,jobtitle", "associations": "tickets,companies,deals"}
    pages = 0
    while True:
        body = get(box, "/crm/v3/objects/contacts", **params).json()
        pages += 1
        seen += [r["id"] for r in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
        params["after"] = after
    expected = sorted((c["id"] for c in box.hubspot.contacts()), key=int)
    assert seen == expected and pages == -(-len(expected) // 100)
    companies = [c for c in body["results"] if "associations" in c]
    assert all(set(c["associations"]) == {"companies"} for c in companies)


def test_given_a_contact_created_then_the_next_list_shows_it_at_the_end(box: Sandbox) -> None:
    new_id = box.hubspot.add_contact({"email": "late.arrival@example.com"})
    last = sorted((c["id"] for c in box.hubspot.contacts()), key=int)[-2]
    body = get(box, "/crm/v3/objects/contacts", limit=10, after=last).json()
    assert [r["id"] for r in body["results"]] == [last, new_id] and "paging" not in body


def test_given_the_custom_object_schemas_asked_for_then_the_portal_has_none(box: Sandbox) -> None:
    assert get(box, "/crm/v3/schemas").json() == {"results": []}


# ---- bulk edits and counts --------------------------------------------------------------------------

def test_given_a_bulk_edit_then_that_many_contacts_change_and_counts_see_a_property(box: Sandbox) -> None:
    untitled = {c["id"] for c in box.hubspot.contacts() if not c.get("jobtitle")}
    before = get(box, "/__admin__/contacts/count", property=["jobtitle", "leadsync_score"]).json()
    edited = post(box, "/__admin__/contacts/edit", {"count": 10, "property": "jobtitle", "value": "Bench"}).json()["edited"]
    assert len(set(edited)) == 10
    assert all(box.hubspot.contact(i)["jobtitle"] == f"Bench {i}" for i in edited)
    after = get(box, "/__admin__/contacts/count", property=["jobtitle", "leadsync_score"]).json()
    assert after["contacts"] == before["contacts"] == len(box.hubspot.contacts())
    assert after["with"]["leadsync_score"] == 0
    assert after["with"]["jobtitle"] == before["with"]["jobtitle"] + len(untitled & set(edited))


# ---- the sandbox as a process -------------------------------------------------------------------------

def test_given_the_process_entry_point_then_it_serves_until_terminated(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    process = subprocess.Popen([sys.executable, "-m", "leadsync_sandbox.process", "--dir", str(tmp_path / "box"),
                                "--ready", str(ready), "--people", "40", "--hubspot-latency", "0",
                                "--no-searches-in-burst", "--rate-per-10s", "50"], cwd=ROOT)
    try:
        for _ in range(600):
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        facts = json.loads(ready.read_text())
        assert facts["people"] == 40 and facts["pid"] == process.pid
        assert Path(facts["config"]).read_text().count("rate_limit_per_10s = 50") == 1   # the portal's limit: a ceiling
        answer = requests.get(facts["hubspot_url"] + "/crm/v3/objects/contacts", verify=facts["ca_bundle"],
                              headers={"Authorization": f"Bearer {facts['env']['HUBSPOT_TOKEN']}"}, timeout=30)
        assert answer.status_code == 200 and answer.headers["X-HubSpot-RateLimit-Max"] == "50"
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
