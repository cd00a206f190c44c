"""End to end: the nightly reconciliation catches what incremental pulls miss."""

from __future__ import annotations

import pytest

from connector.app.runtime import Runtime

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(people=120)


@pytest.fixture
def runtime(sandbox, sqlite_url, sandbox_config):
    with Runtime.from_config_path(sandbox_config(sandbox, sqlite_url)) as rt:
        yield rt


def handed_off(runtime):
    return [p for p in runtime.store.people().values() if p["stage"] == "mql" and p.get("crm_id")]


def test_given_crm_field_edited_without_modstamp_when_reconciled_then_restored(runtime, sandbox):
    runtime.sync()
    person = handed_off(runtime)[0]
    sandbox.salesforce.touch_without_modstamp(person["crm_id"], "Leadsync_Stage__c", "lead")
    assert runtime.sync().counts["written_crm"] == 0          # invisible to the incremental pull
    summary = runtime.reconcile()
    assert summary.counts["written_crm"] >= 1
    assert sandbox.salesforce.lead_by_external_id(person["hubspot_id"])["Leadsync_Stage__c"] == "mql"


def test_given_hubspot_value_changed_by_hand_when_reconciled_then_restored_and_nothing_else_written(runtime, sandbox):
    runtime.sync()
    person = handed_off(runtime)[0]
    sandbox.hubspot.update_contact(person["hubspot_id"], {"leadsync_score": "1"})
    summary = runtime.reconcile()
    assert sandbox.hubspot.contact(person["hubspot_id"])["leadsync_score"] != "1"
    assert summary.counts["written_hubspot"] == 1


def test_given_contact_hard_deleted_when_reconciled_then_marked_deleted_and_logged(runtime, sandbox):
    runtime.sync()
    victim = next(iter(runtime.store.people().values()))
    sandbox.hubspot.hard_delete(victim["hubspot_id"])
    summary = runtime.reconcile()
    assert summary.counts["deleted"] == 1
    assert runtime.store.people([victim["hubspot_id"]])[victim["hubspot_id"]]["deleted"]
    assert runtime.reconcile().counts["deleted"] == 0
