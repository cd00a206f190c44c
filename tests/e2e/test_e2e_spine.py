"""End to end: the real clients against the built-in sandbox on loopback, one full sync.

Proves the spine: exactly the contacts the definition qualifies exist as Salesforce Leads (or
Contacts at a customer account) with the pinned fields; disqualified contacts never reach
Salesforce; HubSpot contacts carry stage and score; a second sync with nothing changed writes
nothing. Runs on SQLite and, when configured, on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.core.lead import merge_fields
from connector.core.qualify import evaluate
from connector.app.runtime import Runtime

pytestmark = pytest.mark.e2e

PINNED = ("Leadsync_Stage__c", "Leadsync_Score__c", "Leadsync_Handoff_At__c", "Leadsync_Reason__c",
          "Leadsync_Definition_Version__c")


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(people=200)


@pytest.fixture
def runtime(sandbox, state_url, sandbox_config):
    with Runtime.from_config_path(sandbox_config(sandbox, state_url)) as rt:
        yield rt


def synced_records(sandbox):
    """Salesforce Leads and Contacts that carry a HubSpot contact id, with their object name."""
    return {r["HubSpot_Contact_Id__c"]: {**r, "object": obj}
            for obj in ("Lead", "Contact") for r in sandbox.salesforce.records(obj)
            if r.get("HubSpot_Contact_Id__c")}


def test_given_seeded_sandbox_when_synced_then_exactly_the_qualified_reach_salesforce(runtime, sandbox):
    summary = runtime.sync()
    assert summary.outcome == "ok", summary.message

    people = runtime.store.people()
    assert len(people) == len(sandbox.hubspot.contacts())
    # Independently of the write path: re-evaluate every stored person with the definition.
    now = runtime.clock()
    window = timedelta(days=runtime.definition.engagement.window_days)
    activities = runtime.store.activities(list(people), since=now - window)
    maps = runtime.write_maps()
    qualified = {pid for pid, p in people.items()
                 if evaluate(merge_fields(p["fields"], p["crm_fields"], maps.crm_fields),
                             activities[pid], runtime.definition, now).mql}
    assert 0 < len(qualified) < len(people)

    in_crm = synced_records(sandbox)
    assert set(in_crm) == qualified
    for hubspot_id, record in in_crm.items():
        assert all(record.get(field) not in (None, "") for field in PINNED), record
        assert record["Leadsync_Stage__c"] == "mql"
        if record["object"] == "Lead":
            assert record["Status"] == "Open - Not Contacted"

    disqualified = {pid for pid, p in people.items() if p["stage"] == "disqualified"}
    assert disqualified and not disqualified & set(in_crm)

    for contact in sandbox.hubspot.contacts():
        assert contact.get("leadsync_stage") == people[contact["id"]]["stage"]
        assert contact.get("leadsync_score") not in (None, "")


def test_given_nothing_changed_when_synced_again_then_zero_writes(runtime, sandbox):
    runtime.sync()
    mark = sandbox.calls.mark()
    second = runtime.sync()
    writes = [c for c in sandbox.calls.since(mark) if c.write]
    assert writes == []
    assert second.counts["written_hubspot"] == 0 and second.counts["written_crm"] == 0
    assert second.counts["handed_off"] == 0
