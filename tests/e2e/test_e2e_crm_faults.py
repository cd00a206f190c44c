"""Fault injection on each CRM: 5xx bursts and dropped connections on both systems, the CRM's
session expiring in the middle of a run, another user saving the same record (409), a
conversion whose answer is lost. Afterwards both systems hold exactly what a fault-free run
leaves on an identically seeded sandbox: nothing lost, nothing doubled. Waits run on virtual
time (fault_helpers); the CRM's endpoints and behaviours come from tests/crm_helpers.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadsync_sandbox.faults import FaultRule
from tests import fault_helpers as F
from tests.crm_helpers import Driver, crm, crm_name  # noqa: F401  (fixtures)
from tests.fault_helpers import certs_dir, config, expected, run, sandbox  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

HS_SEARCH = "/crm/v3/objects/contacts/search"  # every run but the nightly one reads by search
HS_BATCH_READ = "/crm/v3/objects/contacts/batch/read"
HS_BATCH_UPDATE = "/crm/v3/objects/contacts/batch/update"
HS_EVENTS = "/events/v3/events"
HUBSPOT_PATHS = (HS_SEARCH, HS_BATCH_READ, HS_EVENTS, HS_BATCH_UPDATE)


def crm_paths(crm: Driver) -> tuple[str, ...]:
    return (crm.token_path, crm.read_path, *crm.write_paths)


def test_given_5xx_bursts_on_both_systems_when_synced_then_retried_and_same_as_fault_free(run, sandbox, expected,
                                                                                         crm: Driver):
    statuses = (500, 502, 503, 504)
    for n, path in enumerate(HUBSPOT_PATHS):
        sandbox.faults.add(FaultRule("hubspot", path=path, status=statuses[n % 4], times=2))
    for n, path in enumerate(crm_paths(crm)):
        sandbox.faults.add(FaultRule(crm.name, path=path, status=statuses[n % 4], times=2))

    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    assert sandbox.faults.rules() == [], "every burst was delivered"
    assert summary.api["hubspot"]["retries"] >= 8 and summary.api[crm.name]["retries"] >= 2 * len(crm_paths(crm))
    F.assert_same_as(expected, sandbox)


def test_given_connection_resets_mid_response_on_both_systems_when_synced_then_retried_and_same_as_fault_free(
        run, sandbox, expected, crm: Driver):
    paths = [("hubspot", p) for p in HUBSPOT_PATHS] + [(crm.name, p) for p in crm_paths(crm)]
    for system, path in paths:
        sandbox.faults.add(FaultRule(system, path=path, kind="reset", times=2))

    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    assert sandbox.faults.rules() == []
    assert len([c for c in sandbox.calls.calls() if c.status == 0]) == 2 * len(paths)
    F.assert_same_as(expected, sandbox)


def test_given_the_crm_session_expiring_mid_run_when_synced_then_signed_in_again_and_same_as_fault_free(
        run, sandbox, expected, crm: Driver):
    # Once between the reads, once right after the Leads were created (before their Tasks).
    F.install_hooks(sandbox, F.CallHook(crm.name, after=2, action=crm.expire_sessions, path=crm.read_path.rstrip("$")),
                    F.CallHook(crm.name, after=1, action=crm.expire_sessions, path=crm.create_path.rstrip("$")))

    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    assert len([c for c in sandbox.calls.calls(crm.name) if c.status == 401]) == 2
    F.assert_same_as(expected, sandbox)


def test_given_another_user_saving_the_lead_meanwhile_when_written_then_sent_again_and_written_once(
        run, sandbox, expected, crm: Driver):
    """Sugar answers 409 edit_conflict: the save is sent again in the same cycle. Salesforce
    answers UNABLE_TO_LOCK_ROW: the record waits, quarantined as transient, for its backoff."""
    run.sync()
    lead = next(p for p in run.rt.store.people().values() if p["stage"] == "mql" and p.get("handoffs"))
    crm.accept(lead["crm_id"])
    crm.conflict_on(lead["crm_id"], times=2)

    summary = run.sync()

    if not crm.conflict_heals_in_cycle:
        assert summary.outcome == "partial"
        [held] = run.rt.store.quarantined()
        assert (held.hubspot_id, held.transient) == (lead["hubspot_id"], True)
        run.clock.advance(timedelta(minutes=2))
        run.sync()
        run.clock.advance(timedelta(minutes=6))
        summary = run.sync()
    assert summary.outcome == "ok", summary.message
    assert run.rt.store.quarantined() == [] and crm.conflicts_left(lead["crm_id"]) == 0
    assert crm.lead(lead["crm_id"]).stage == "sal"
    assert run.rt.store.people([lead["hubspot_id"]])[lead["hubspot_id"]]["stage"] == "sal"
    F.assert_no_duplicates(sandbox)


def test_given_a_conversion_whose_answer_is_lost_when_retried_then_one_opportunity(run, sandbox, crm: Driver,
                                                                                  monkeypatch):
    run.sync()
    lead = next(p for p in run.rt.store.people().values() if p["stage"] == "mql" and p.get("handoffs"))
    crm.accept(lead["crm_id"])
    if not crm.converts_on_acceptance():
        run.sync()
        crm.set_bant(run.rt.store.people([lead["hubspot_id"]])[lead["hubspot_id"]], verified=True)
    before = len([c for c in sandbox.calls.calls(crm.name) if crm.convert_path.rstrip("$") in c.path])
    lost = crm.lose_conversion_answer(monkeypatch)

    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    converts = [c.status for c in sandbox.calls.calls(crm.name) if crm.convert_path.rstrip("$") in c.path][before:]
    assert lost and converts[0] == 500
    now = run.rt.store.people([lead["hubspot_id"]])[lead["hubspot_id"]]
    assert now["stage"] == crm.convert_at and now["opportunity_id"]
    assert crm.lead_ids_converted_to(now["opportunity_id"]) == [lead["crm_id"]]
    assert [o.id for o in crm.opportunities() if crm.lead_ids_converted_to(o.id) == [lead["crm_id"]]] \
        == [now["opportunity_id"]], "converted once"
