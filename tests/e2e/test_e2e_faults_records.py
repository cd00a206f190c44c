"""Fault injection, record level and budget: per-record refusals in either system, locked rows,
the daily quota. A permanent refusal leaves both systems differing from a fault-free run by
exactly the quarantined people, each listed with its reason; a transient one heals by itself on
a later cycle after its backoff; a spent quota stops the cycle cleanly and a later run finishes.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from connector.cli.commands import main
from connector.engine.cycle import HUBSPOT_CURSOR
from tests import fault_helpers as F
from tests.fault_helpers import certs_dir, config, crm_name, expected, run, sandbox  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

SF_UPSERT = "/composite/sobjects/Lead/HubSpot_Contact_Id__c"


def quarantine_list(config, capsys):
    capsys.readouterr()
    assert main(["--config", str(config), "quarantine", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["quarantined"]


def retry_all(config, capsys):
    assert main(["--config", str(config), "quarantine", "retry", "--json"]) == 0
    capsys.readouterr()


def test_given_hubspot_207_for_two_contacts_when_synced_then_differs_by_exactly_them_until_retried(
        run, sandbox, expected, config, capsys):
    handed, plain = F.handed_off_ids(expected)[0], next(F.iter_stage(expected, "lead"))
    for contact_id in (handed, plain):
        sandbox.hubspot.fail_record(contact_id, f"Property values were not valid for {contact_id}")

    summary = run.sync()

    assert summary.outcome == "partial" and summary.counts["quarantined"] == 2
    held = quarantine_list(config, capsys)
    assert {(q["hubspot_id"], q["system"]) for q in held} == {(handed, "hubspot"), (plain, "hubspot")}
    assert all("HubSpot refused the update" in q["reason"] and not q["transient"] for q in held)
    assert F.differing(expected, F.snapshot(sandbox)) == {"hubspot": {handed, plain}, "crm": set()}
    F.assert_no_duplicates(sandbox)

    retry_all(config, capsys)
    assert run.sync().outcome == "ok"
    assert quarantine_list(config, capsys) == []
    F.assert_same_as(expected, sandbox)


def test_given_salesforce_validation_rule_rejects_one_lead_when_synced_then_only_that_handoff_is_held_back(
        run, sandbox, expected, config, capsys):
    victim = F.handed_off_ids(expected)[1]
    email = expected["crm"][victim]["Email"]
    sandbox.salesforce.add_validation_rule("Lead", "Region_Required", lambda r: r.get("Email") == email,
                                           "Leads from this company need a sales region", field="Country")

    summary = run.sync()

    assert summary.outcome == "partial"
    assert summary.counts["handed_off"] == len(F.handed_off_ids(expected)) - 1
    [held] = quarantine_list(config, capsys)
    assert (held["hubspot_id"], held["system"], held["operation"]) == (victim, "salesforce", "handoff")
    assert held["code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and not held["transient"]
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in held["reason"]
    # Neither system claims the lead reached sales: no Lead, and HubSpot still shows it unhanded.
    assert F.differing(expected, F.snapshot(sandbox)) == {"hubspot": {victim}, "crm": {victim}}
    assert sandbox.hubspot.contact(victim).get("leadsync_stage") != "mql"
    assert sandbox.salesforce.lead_by_external_id(victim) is None
    assert run.sync().counts["quarantined"] == 0, "a permanent refusal waits for a person"

    sandbox.salesforce.clear_validation_rules()
    retry_all(config, capsys)
    assert run.sync().outcome == "ok"
    F.assert_same_as(expected, sandbox)


def test_given_locked_row_when_synced_then_retried_after_its_backoff_and_same_as_fault_free(
        run, sandbox, expected, config, capsys):
    victim = F.handed_off_ids(expected)[2]
    sandbox.salesforce.lock_record(victim, times=2)

    assert run.sync().outcome == "partial"
    [held] = quarantine_list(config, capsys)
    assert held["code"] == "UNABLE_TO_LOCK_ROW" and held["transient"] and held["attempts"] == 1

    run.clock.advance(timedelta(seconds=30))          # inside the first backoff (1 minute)
    assert run.sync().counts["quarantined"] == 0, "not retried before its backoff"
    assert sandbox.salesforce.lead_by_external_id(victim) is None

    run.clock.advance(timedelta(minutes=1))            # still locked: the backoff grows
    assert run.sync().counts["quarantined"] == 1
    [held] = quarantine_list(config, capsys)
    assert held["attempts"] == 2

    run.clock.advance(timedelta(minutes=6))            # the lock is gone
    assert run.sync().outcome == "ok"
    assert quarantine_list(config, capsys) == []
    F.assert_same_as(expected, sandbox)


def test_given_hubspot_daily_limit_spent_mid_cycle_when_synced_then_stops_cleanly_and_resumes_when_restored(
        run, sandbox, expected):
    F.install_hooks(sandbox, F.CallHook("salesforce", after=1, path=SF_UPSERT,
                                        action=lambda: sandbox.hubspot.set_daily_remaining(0)))

    stopped = run.sync()

    assert stopped.outcome == "stopped" and "daily" in stopped.message
    assert run.rt.store.cursor(HUBSPOT_CURSOR) is None
    F.assert_no_duplicates(sandbox)

    sandbox.hubspot.set_daily_remaining(200_000)       # a new day
    run.vtime.sleep(3600)
    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    F.assert_same_as(expected, sandbox)


def test_given_salesforce_allocation_nearly_spent_mid_cycle_when_synced_then_stops_cleanly_and_resumes(
        run, sandbox, expected):
    org = sandbox.salesforce
    F.install_hooks(sandbox, F.CallHook("salesforce", after=1, path=SF_UPSERT,
                                        action=lambda: org.set_api_usage(org.daily_limit - 3)))

    stopped = run.sync()

    assert stopped.outcome == "stopped" and "allocation" in stopped.message
    assert org.api_usage() <= org.daily_limit
    F.assert_no_duplicates(sandbox)

    org.set_api_usage(0)                               # a new day
    run.vtime.sleep(3600)
    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    F.assert_same_as(expected, sandbox)
