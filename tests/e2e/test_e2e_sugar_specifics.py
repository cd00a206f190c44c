"""What only SugarCRM does, end to end (the CRM loop and its faults run on both CRMs in
test_e2e_crm_loop.py and test_e2e_crm_faults.py): Dead as a rejection, a planned call that is
no touch yet, values Sugar would silently cut, an Opportunity joining the Account the company
already has, refresh tokens that no longer work, a whole ``bulk`` refused with 409, creates
that fail after saving. Waits run on virtual time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from leadsync_sandbox.faults import FaultRule
from tests import fault_helpers as F
from tests.crm_helpers import Driver, crm  # noqa: F401  (fixture)
from tests.fault_helpers import certs_dir, config, expected, run, sandbox  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
TOKEN, BULK = "/oauth2/token", r"/rest/v11_4/bulk$"


@pytest.fixture(scope="module")
def crm_name() -> str:
    return "sugarcrm"


def person(run: F.FaultRun, hubspot_id: str) -> dict[str, Any]:
    return run.rt.store.people([hubspot_id])[hubspot_id]


def handed_off(run: F.FaultRun) -> list[dict[str, Any]]:
    return sorted((p for p in run.rt.store.people().values() if p["stage"] == "mql" and p.get("handoffs")),
                  key=lambda p: p["hubspot_id"])


def ready_for_sales(sandbox: Any, email: str, company: str, **extra: str) -> str:
    contact_id = sandbox.hubspot.add_contact({
        "email": email, "firstname": "Rene", "lastname": "Okafor", "company": company, "jobtitle": "VP Operations",
        "numemployees": "500-1000", "industry": "Software", "country": "United States",
        "wants_sales_contact": "true", **extra})
    sandbox.hubspot.add_demo_request(contact_id)
    sandbox.hubspot.add_page_view(contact_id, "https://www.example-vendor.com/pricing")
    return contact_id


def test_given_a_lead_marked_dead_then_recycled_in_both_systems_with_the_reps_words(run, sandbox):
    run.sync()
    dead = handed_off(run)[0]
    sandbox.sugarcrm.set_lead_status(dead["crm_id"], "Dead", description="Student project")
    run.sync()
    assert person(run, dead["hubspot_id"])["stage"] == "recycled"
    contact = sandbox.hubspot.contact(dead["hubspot_id"])
    assert (contact["leadsync_stage"], contact["lifecyclestage"]) == ("recycled", "lead")
    assert "Student project" in contact["leadsync_reason"]
    assert not [o for o in sandbox.sugarcrm.records("Opportunities")
                if o.get("hubspot_contact_id_c") == dead["hubspot_id"]]


def test_given_a_planned_call_on_a_lead_then_it_is_no_touch_until_held(run, sandbox):
    run.sync()
    lead = handed_off(run)[0]
    handoff_at = lead["handoff_at"]
    sandbox.sugarcrm.log_touch(lead["crm_id"], "call", at=handoff_at + timedelta(minutes=40), status="Planned")
    sandbox.sugarcrm.log_touch(lead["crm_id"], "meeting", at=handoff_at + timedelta(hours=1))
    run.sync()
    touches = [a for a in run.rt.store.activities([lead["hubspot_id"]])[lead["hubspot_id"]] if a.type == "sales_touch"]
    assert [a.attrs["kind"] for a in touches] == ["meeting"]


def test_given_a_value_sugar_would_cut_then_quarantined_naming_module_and_field_and_nothing_written(run, sandbox):
    run.sync()
    contact_id = ready_for_sales(sandbox, "long.title@northwind-example.com", "Northwind",
                                 jobtitle="VP " + "Global Strategic Revenue Operations and Enablement " * 3)
    summary = run.sync()
    [held] = [q for q in run.rt.store.quarantined() if q.hubspot_id == contact_id]
    assert "Leads.title" in held.reason and "100" in held.reason
    assert summary.counts["quarantined"] >= 1
    assert not sandbox.sugarcrm.lead_by_email("long.title@northwind-example.com")


def test_given_an_accepted_lead_whose_company_has_an_account_then_the_opportunity_joins_that_account(
        run, sandbox, crm: Driver):
    run.sync()
    account = crm.prospect_account()
    contact_id = ready_for_sales(sandbox, f"rene.okafor@{account.domain}", account.name)
    run.sync()
    lead = person(run, contact_id)
    assert lead["stage"] == "mql" and lead["crm_object"] == "lead"
    accounts_before = len(crm.accounts())
    crm.accept(lead["crm_id"])
    run.sync()
    opportunity = crm.opportunity(person(run, contact_id)["opportunity_id"])
    assert opportunity.account_id == account.id and len(crm.accounts()) == accounts_before


def test_given_a_dead_refresh_token_when_the_token_expires_then_leadsync_signs_in_again(run, sandbox, expected):
    state = sandbox.sugarcrm
    logins = state.sessions.logins            # the readiness check signed in once already
    F.install_hooks(sandbox, F.CallHook("sugarcrm", after=4, action=state.end_sessions, path="/filter"))
    summary = run.sync()
    assert summary.outcome == "ok", summary.message
    assert state.sessions.logins - logins == 2 and state.sessions.refreshes == 0
    refused = [c for c in sandbox.calls.calls("sugarcrm") if c.path.endswith(TOKEN) and c.status == 400]
    assert len(refused) == 1, "the refresh was tried once, then the password"
    F.assert_same_as(expected, sandbox)


def test_given_a_whole_bulk_refused_with_409_when_written_then_retried_by_the_transport(run, sandbox, expected):
    sandbox.faults.add(FaultRule("sugarcrm", path=BULK, status=409, times=2,
                                 body={"error": "edit_conflict", "error_message": "Edit conflict"}))
    summary = run.sync()
    assert summary.outcome == "ok", summary.message
    assert len([c for c in sandbox.calls.calls("sugarcrm") if c.status == 409]) == 2
    F.assert_same_as(expected, sandbox)


def test_given_creates_that_fail_after_saving_when_written_then_the_saved_records_are_kept(run, sandbox, expected):
    store, original, lost = sandbox.sugarcrm.store, sandbox.sugarcrm.store.create, []

    def create_then_fail(module: str, values: Any, actor: str) -> Any:
        record = original(module, values, actor)     # Sugar saved it...
        if module == "Leads" and len(lost) < 2:
            lost.append(record["id"])
            raise RuntimeError("...then failed: the sub-request answers 500")
        return record
    store.create = create_then_fail                  # type: ignore[method-assign]
    summary = run.sync()
    assert summary.outcome == "ok", summary.message
    assert len(lost) == 2 and all(sandbox.sugarcrm.record("Leads", i) for i in lost)
    assert summary.counts["quarantined"] == 0
    F.assert_same_as(expected, sandbox)
