"""End to end, on each CRM: the lead process as a state machine both systems agree on.

Sales acts through the sandbox as a rep would (tests/crm_helpers.py says how, per CRM);
leadsync's syncs carry the consequences to both systems. Handoff → sal → sql → opportunity →
customer, BANT short → stays sal, rejection → recycled and re-qualified on the same Lead,
customer accounts → their owner, sales' touches → the SLA, hand conversions, and the Leads
sales already had → adopted, never duplicated. Salesforce converts a Lead at sql, Sugar when
sales accepts it (sal): the driver's data, the same assertions.

One sandbox and one runtime per CRM for the module: each test works its own leads (drawn
from the handoffs of the first sync), and checks what must hold whatever the others did.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from connector.app.reporting import follow_ups
from connector.app.runtime import Runtime
from connector.core.model import CONTACT, HANDED_OFF, SALES_OWNED
from connector.state.schema import errors
from tests import fault_helpers as F
from tests.crm_helpers import Driver, crm, crm_name, handed_off_by_leadsync  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
PEOPLE = 150


@pytest.fixture(scope="module")
def sandbox(crm_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with F.new_sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", people=PEOPLE, crm=crm_name) as running:
        yield running


@pytest.fixture(scope="module")
def runtime(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with pytest.MonkeyPatch.context() as m:
        config = F.write_config(sandbox, Path(tmp_path_factory.mktemp(f"loop-{sandbox.crm}")))
        with F.runtime_for(sandbox, config, m) as rt:
            first = rt.sync()
            assert first.outcome == "ok", first.message
            rt.first_handoffs = [p["hubspot_id"] for p in handed_off_by_leadsync(rt.store.people())]
            yield rt


@pytest.fixture(scope="module")
def pool(runtime: Runtime) -> Iterator[str]:
    """leadsync's own handoffs of the first sync, highest score first; each test takes its own."""
    return iter(list(runtime.first_handoffs))


def person(rt: Runtime, hubspot_id: str) -> dict[str, Any]:
    return rt.store.people([hubspot_id])[hubspot_id]


def take(rt: Runtime, pool: Iterator[str], n: int = 1) -> list[dict[str, Any]]:
    return [person(rt, next(pool)) for _ in range(n)]


def ready_for_sales(sandbox: Any, email: str, company: str, first: str, last: str, **extra: str) -> str:
    """A new HubSpot contact who asks for sales: qualifies on the next sync."""
    contact_id = sandbox.hubspot.add_contact({
        "email": email, "firstname": first, "lastname": last, "company": company, "jobtitle": "VP Operations",
        "numemployees": "500-1000", "industry": "Software", "country": "United States",
        "wants_sales_contact": "true", **extra})
    sandbox.hubspot.add_demo_request(contact_id)
    sandbox.hubspot.add_page_view(contact_id, "https://www.example-vendor.com/pricing")
    return contact_id


# -- the first sync (these run before any test acts as sales) ---------------------------------

def test_given_handoff_then_exactly_one_lead_with_owner_reason_and_follow_up_task(runtime, sandbox, crm: Driver):
    handed = runtime.first_handoffs
    assert len(handed) >= 10, "the seed has people ready for sales"
    tasks = crm.follow_up_tasks()
    for hubspot_id in handed:
        [lead] = crm.leads_for(hubspot_id)
        assert lead.owner_id, "routed to an owner"
        assert (lead.status, lead.stage) == (crm.handoff_status, "mql")
        assert lead.reason and len(lead.reason) <= 255
        assert tasks[lead.id] == 1
    again = runtime.sync()
    assert again.counts["handed_off"] == 0 and again.counts["written_crm"] == 0
    crm.assert_no_duplicates()
    assert all(len(crm.leads_for(h)) == 1 for h in handed)


def test_given_leads_sales_typed_in_with_the_same_email_then_adopted_with_the_external_id_never_duplicated(
        runtime, sandbox, crm: Driver):
    """The seed holds Leads sharing an email with a HubSpot contact but carrying no HubSpot id.
    Each is linked, never created a second time, and carries the HubSpot id from leadsync's
    first write to it; one sales already accepted starts as sales', not as a new handoff."""
    marketing = {(c.get("email") or "").lower() for c in sandbox.hubspot.contacts()}
    twins = {email: lead_id for email, lead_id in crm.seeded_twins().items() if email in marketing}
    adopted = [p for p in runtime.store.people().values() if (p["email"] or "").lower() in twins]
    assert len(twins) >= 4 and len(adopted) == len(twins)
    tasks = crm.follow_up_tasks()
    for p in adopted:
        lead_id = twins[p["email"].lower()]
        lead = crm.lead(lead_id)
        assert p["crm_id"] == lead_id
        assert lead.hubspot_id == p["hubspot_id"], "the external id written onto the record linked by email"
        assert lead.stage == p["stage"] and not p["handoffs"] and tasks[lead_id] == 0, "adopted, not handed off"
        if lead.converted:   # accepted before leadsync, converted where sales' acceptance converts
            assert crm.converts_on_acceptance() and p["opportunity_id"] == crm.lead_opportunity(lead_id)
    assert any(p["stage"] in SALES_OWNED for p in adopted), "some twins were being worked by sales"
    emails = [(lead.email or "").lower() for lead in crm.leads() if lead.email]
    assert len(emails) == len(set(emails))


def test_then_nothing_below_mql_in_the_crm_and_only_accepted_leads_in_the_opportunity_module(runtime, sandbox,
                                                                                             crm: Driver):
    people = runtime.store.people()
    seeded = crm.seeded_ids()
    for kind, record_id, hubspot_id in crm.linked_records():
        if record_id not in seeded:
            assert people[hubspot_id]["stage"] in HANDED_OFF | {"recycled"}
    # Salesforce converts at sql: no Opportunity before BANT. Sugar converts on acceptance: only
    # the Leads sales had accepted before leadsync came (status In Process) are Opportunities.
    with_opportunity = {h for h, p in people.items() if p.get("opportunity_id")}
    accepted_before = {h for h, p in people.items() if p["stage"] == "sal" and not p["handoffs"]}
    assert with_opportunity == (accepted_before if crm.converts_on_acceptance() else set())
    for h in with_opportunity:
        opportunity = crm.opportunity(people[h]["opportunity_id"])
        assert opportunity.stage == crm.stage_on_conversion
        assert len(crm.lead_ids_converted_to(opportunity.id)) == 1


# -- sales at work -----------------------------------------------------------------------------

def test_given_a_person_at_a_customer_account_then_a_contact_for_the_account_owner(runtime, sandbox, crm: Driver):
    account = crm.customer_account()
    contact_id = ready_for_sales(sandbox, f"morgan.reyes@{account.domain}", account.name, "Morgan", "Reyes")
    runtime.sync()
    farmed = person(runtime, contact_id)
    assert farmed["stage"] == "mql" and farmed["crm_object"] == CONTACT and farmed["existing_customer"]
    record = crm.contact(farmed["crm_id"])
    assert (record["account_id"], record["owner_id"]) == (account.id, account.owner_id)
    assert not crm.leads_for(contact_id)


def test_given_acceptance_and_bant_4_of_4_and_2_of_4_then_sql_and_stays_sal_then_won(runtime, sandbox, crm: Driver,
                                                                                    pool):
    accepted, short = take(runtime, pool, 2)
    for p in (accepted, short):
        crm.accept(p["crm_id"])
    runtime.sync()
    for p in (accepted, short):
        now = person(runtime, p["hubspot_id"])
        assert now["stage"] == "sal"
        assert sandbox.hubspot.contact(p["hubspot_id"])["lifecyclestage"] == "salesqualifiedlead"
        if crm.converts_on_acceptance():
            opportunity = crm.opportunity(now["opportunity_id"])
            assert opportunity.stage == crm.stage_on_conversion and crm.lead(p["crm_id"]).converted
        else:
            assert not now.get("opportunity_id") and not crm.lead(p["crm_id"]).converted

    crm.set_bant(person(runtime, accepted["hubspot_id"]), verified=True)
    crm.set_bant(person(runtime, short["hubspot_id"]), verified=False)
    runtime.sync()

    qualified, stays = person(runtime, accepted["hubspot_id"]), person(runtime, short["hubspot_id"])
    assert qualified["stage"] == "sql" and qualified["opportunity_id"]
    assert crm.opportunity(qualified["opportunity_id"]).stage == crm.qualified_stage
    assert crm.lead(accepted["crm_id"]).converted
    assert crm.lead_ids_converted_to(qualified["opportunity_id"]) == [accepted["crm_id"]]
    moves = [(t["from_stage"], t["to_stage"]) for t in runtime.store.transitions(hubspot_ids=[accepted["hubspot_id"]])]
    assert ("mql", "sal") in moves and ("sal", "sql") in moves
    contact = sandbox.hubspot.contact(accepted["hubspot_id"])
    assert (contact["leadsync_stage"], contact["lifecyclestage"]) == ("sql", "salesqualifiedlead")
    assert stays["stage"] == "sal"
    if crm.converts_on_acceptance():
        assert crm.opportunity(stays["opportunity_id"]).stage == crm.stage_on_conversion
    else:
        assert not stays.get("opportunity_id") and not crm.lead(short["crm_id"]).converted

    # The opportunity is worked, then won: opportunity → customer.
    crm.move_opportunity(qualified["opportunity_id"], crm.worked_stage, amount=48000)
    runtime.sync()
    worked = person(runtime, accepted["hubspot_id"])
    assert worked["stage"] == "opportunity" and worked["opportunity_amount"] == 48000
    crm.move_opportunity(qualified["opportunity_id"], crm.won_stage)
    runtime.sync()
    assert person(runtime, accepted["hubspot_id"])["stage"] == "customer"
    assert sandbox.hubspot.contact(accepted["hubspot_id"])["lifecyclestage"] == "customer"
    assert crm.lead_ids_converted_to(qualified["opportunity_id"]) == [accepted["crm_id"]], "converted once"


def test_given_rejection_then_recycled_in_both_systems_and_requalifies_on_the_same_lead(runtime, sandbox,
                                                                                       crm: Driver, pool):
    rejected = take(runtime, pool)[0]
    lead_id = rejected["crm_id"]
    crm.reject(lead_id, "No budget until next fiscal year")
    runtime.sync()
    recycled = person(runtime, rejected["hubspot_id"])
    assert recycled["stage"] == "recycled" and recycled["recycled_at"]
    contact = sandbox.hubspot.contact(rejected["hubspot_id"])
    assert (contact["leadsync_stage"], contact["lifecyclestage"]) == ("recycled", "lead")
    assert "No budget until next fiscal year" in contact["leadsync_reason"]
    assert crm.lead(lead_id).stage == "recycled" and not crm.lead(lead_id).converted

    # Nothing new: it stays with marketing even though its old engagement still scores.
    runtime.sync()
    assert person(runtime, rejected["hubspot_id"])["stage"] == "recycled"

    # New buying signals after the rejection: a new handoff, on the same Lead.
    sandbox.hubspot.add_demo_request(rejected["hubspot_id"])
    sandbox.hubspot.add_meeting_booked(rejected["hubspot_id"])
    sandbox.hubspot.add_page_view(rejected["hubspot_id"], "https://www.example-vendor.com/pricing")
    runtime.sync()
    again = person(runtime, rejected["hubspot_id"])
    assert again["stage"] == "mql" and again["handoffs"] == 2
    assert [lead.id for lead in crm.leads_for(rejected["hubspot_id"])] == [lead_id]
    lead = crm.lead(lead_id)
    assert (lead.status, lead.stage) == (crm.handoff_status, "mql")
    handoffs = [t for t in runtime.store.transitions(hubspot_ids=[rejected["hubspot_id"]]) if t["to_stage"] == "mql"]
    assert len(handoffs) == 2


def test_given_sales_touches_on_a_lead_then_they_are_its_first_touch_for_the_sla(runtime, sandbox, crm: Driver, pool):
    lead = take(runtime, pool)[0]
    handoff_at = lead["handoff_at"]
    crm.log_touch(lead["crm_id"], "call", at=handoff_at + timedelta(minutes=12))
    crm.log_touch(lead["crm_id"], "meeting", at=handoff_at + timedelta(hours=3))
    runtime.sync()
    touches = [a for a in runtime.store.activities([lead["hubspot_id"]])[lead["hubspot_id"]] if a.type == "sales_touch"]
    assert sorted(a.attrs["kind"] for a in touches) == ["call", "meeting"], "not leadsync's own reminder"
    [row] = [r for r in follow_ups(runtime.store, runtime.definition, handoff_at - timedelta(minutes=1),
                                   handoff_at + timedelta(hours=4)) if r.hubspot_id == lead["hubspot_id"]]
    # Sugar keeps whole seconds, Salesforce milliseconds.
    assert row.first_touch_at.replace(microsecond=0) == (handoff_at + timedelta(minutes=12)).replace(microsecond=0)
    assert row.within_target is True and row.calls == 2, "a meeting counts as a call"


def test_given_a_rep_converting_by_hand_then_as_the_crms_process_says_and_never_converted_twice(
        runtime, sandbox, crm: Driver, pool):
    """Before sql in Salesforce a hand conversion breaks the agreement: reported. In Sugar,
    converting a Lead is how sales accepts it: that is the acceptance."""
    lead = take(runtime, pool)[0]
    made = crm.convert_by_hand(lead["crm_id"])
    summary = runtime.sync()
    now = person(runtime, lead["hubspot_id"])
    assert summary.counts["converted"] == 0
    assert crm.lead_ids_converted_to(made) == [lead["crm_id"]]
    if crm.converts_on_acceptance():
        assert (now["stage"], now["opportunity_id"]) == ("sal", made)
        assert summary.counts["gate_violations"] == 0
    else:
        assert summary.counts["gate_violations"] == 1
        with runtime.store.engine.connect() as conn:
            reported = [r for r in conn.execute(select(errors)) if r.kind == "gate_violation"]
        assert [r.hubspot_id for r in reported] == [lead["hubspot_id"]]


def test_then_still_one_record_per_person_nothing_below_mql_and_no_lead_converted_twice(runtime, sandbox,
                                                                                       crm: Driver):
    runtime.sync()
    crm.assert_no_duplicates()
    people, seeded = runtime.store.people(), crm.seeded_ids()
    for kind, record_id, hubspot_id in crm.linked_records():
        if record_id not in seeded:
            assert people[hubspot_id]["stage"] in HANDED_OFF | {"recycled"}
    for opportunity in crm.opportunities():
        assert len(crm.lead_ids_converted_to(opportunity.id)) <= 1
