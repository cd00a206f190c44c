"""End to end: the lead process as a state machine both systems agree on.

Sales acts through the sandbox's admin API exactly as a rep would in Salesforce; leadsync's
syncs carry the consequences to both systems. Walks every transition: handoff → sal → sql →
opportunity → customer, BANT short → stays sal, rejection → recycled (HubSpot lifecycle cleared
and reset), re-qualification → a new handoff on the same Lead, customer accounts → their owner,
hand conversions → gate violations. No lead below mql ever appears in Salesforce; no lead below
sql ever becomes an Opportunity through leadsync.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connector.core.model import HANDED_OFF
from connector.app.runtime import Runtime

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(people=150)


@pytest.fixture
def runtime(sandbox, sqlite_url, sandbox_config):
    with Runtime.from_config_path(sandbox_config(sandbox, sqlite_url)) as rt:
        rt.sync()
        yield rt


def person(rt, hubspot_id):
    return rt.store.people([hubspot_id])[hubspot_id]


def handed_off_leads(rt):
    return sorted((p for p in rt.store.people().values() if p["stage"] == "mql" and p.get("crm_object") == "lead"),
                  key=lambda p: -(p["score"] or 0))


def leads_for(sandbox, hubspot_id):
    return [r for r in sandbox.salesforce.records("Lead") if r.get("HubSpot_Contact_Id__c") == hubspot_id]


def test_given_existing_leads_with_same_email_when_handed_off_then_reused_never_duplicated(runtime, sandbox):
    """The seed holds Leads that share an email with a HubSpot contact but carry no HubSpot id."""
    twins = {lead["Email"].lower(): lead["Id"] for lead in sandbox.seed.salesforce.leads if lead.get("Email")}
    taken_over = [p for p in runtime.store.people().values() if p.get("crm_id") and (p["email"] or "").lower() in twins]
    assert taken_over, "some seeded twins qualified"
    for p in taken_over:
        assert p["crm_id"] == twins[p["email"].lower()]
        assert sandbox.salesforce.record("Lead", p["crm_id"])["HubSpot_Contact_Id__c"] == p["hubspot_id"]
    emails = [(r.get("Email") or "").lower() for r in sandbox.salesforce.records("Lead") if r.get("Email")]
    assert len(emails) == len(set(emails))


def test_given_handoff_then_exactly_one_lead_with_owner_reason_and_follow_up_task(runtime, sandbox):
    for p in handed_off_leads(runtime):
        [lead] = leads_for(sandbox, p["hubspot_id"])
        assert lead["OwnerId"], "routed to an owner"
        assert lead["Leadsync_Reason__c"] and len(lead["Leadsync_Reason__c"]) <= 255
        tasks = sandbox.salesforce.tasks_for(lead["Id"])
        assert len([t for t in tasks if t.get("Subject") == "Follow up leadsync handoff"]) == 1
    runtime.sync()
    for p in handed_off_leads(runtime):
        assert len(leads_for(sandbox, p["hubspot_id"])) == 1
        assert len([t for t in sandbox.salesforce.tasks_for(p["crm_id"]) if t.get("Subject") == "Follow up leadsync handoff"]) == 1


def test_given_acceptance_and_bant_then_sal_then_sql_with_one_opportunity(runtime, sandbox):
    accepted, short = handed_off_leads(runtime)[:2]
    for p in (accepted, short):
        sandbox.salesforce.set_lead_status(p["crm_id"], "Working - Contacted")
    # BANT verified on one: budget, need, timeline (authority follows the title) → at least 3 of 4.
    sandbox.salesforce.set_bant(accepted["crm_id"], budget=True, need="Pipeline reviews take days", timeline="0-3 months")
    # Only 2 of 4 at most on the other: no budget, a far timeline.
    sandbox.salesforce.set_bant(short["crm_id"], budget=False, need="Curious", timeline="12+ months")
    runtime.sync()

    converted = person(runtime, accepted["hubspot_id"])
    assert converted["stage"] == "sql" and converted["opportunity_id"]
    [opportunity] = [o for o in sandbox.salesforce.opportunities() if o["Id"] == converted["opportunity_id"]]
    assert opportunity["StageName"] == "Qualification"
    assert sandbox.salesforce.record("Lead", accepted["crm_id"])["IsConverted"]
    moves = [(t["from_stage"], t["to_stage"]) for t in runtime.store.transitions(hubspot_ids=[accepted["hubspot_id"]])]
    assert ("mql", "sal") in moves and ("sal", "sql") in moves
    contact = sandbox.hubspot.contact(accepted["hubspot_id"])
    assert (contact["leadsync_stage"], contact["lifecyclestage"]) == ("sql", "salesqualifiedlead")

    stays = person(runtime, short["hubspot_id"])
    assert stays["stage"] == "sal" and not stays.get("opportunity_id")
    assert not sandbox.salesforce.record("Lead", short["crm_id"])["IsConverted"]

    # The opportunity is worked, then won: opportunity → customer.
    sandbox.salesforce.set_opportunity(converted["opportunity_id"], stage="Proposal/Price Quote", amount=48000)
    runtime.sync()
    worked = person(runtime, accepted["hubspot_id"])
    assert worked["stage"] == "opportunity" and worked["opportunity_amount"] == 48000
    sandbox.salesforce.set_opportunity(converted["opportunity_id"], stage="Closed Won")
    runtime.sync()
    assert person(runtime, accepted["hubspot_id"])["stage"] == "customer"
    assert sandbox.hubspot.contact(accepted["hubspot_id"])["lifecyclestage"] == "customer"
    assert len(sandbox.salesforce.opportunities()) == 1


def test_given_rejection_then_recycled_in_both_systems_and_requalifies_on_the_same_lead(runtime, sandbox):
    rejected = handed_off_leads(runtime)[0]
    lead_id = rejected["crm_id"]
    sandbox.salesforce.set_lead_status(lead_id, "Working - Contacted")
    runtime.sync()
    assert person(runtime, rejected["hubspot_id"])["stage"] == "sal"
    assert sandbox.hubspot.contact(rejected["hubspot_id"])["lifecyclestage"] == "salesqualifiedlead"

    sandbox.salesforce.set_lead_status(lead_id, "Closed - Not Converted", reason="No budget until next fiscal year")
    runtime.sync()
    recycled = person(runtime, rejected["hubspot_id"])
    assert recycled["stage"] == "recycled" and recycled["recycled_at"]
    contact = sandbox.hubspot.contact(rejected["hubspot_id"])
    assert contact["leadsync_stage"] == "recycled"
    assert contact["lifecyclestage"] == "lead", "HubSpot's lifecycle was cleared, then reset to lead"
    assert "No budget until next fiscal year" in contact["leadsync_reason"]
    assert sandbox.salesforce.record("Lead", lead_id)["Leadsync_Stage__c"] == "recycled"

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
    assert [r["Id"] for r in leads_for(sandbox, rejected["hubspot_id"])] == [lead_id]
    lead = sandbox.salesforce.record("Lead", lead_id)
    assert (lead["Status"], lead["Leadsync_Stage__c"]) == ("Open - Not Contacted", "mql")
    handoffs = [t for t in runtime.store.transitions(hubspot_ids=[rejected["hubspot_id"]]) if t["to_stage"] == "mql"]
    assert len(handoffs) == 2


def test_given_person_at_customer_account_then_contact_for_the_account_owner(runtime, sandbox):
    account = next(a for a in sandbox.salesforce.records("Account") if a.get("Type") == "Customer" and a.get("OwnerId"))
    domain = account["Website"].split("//")[-1].removeprefix("www.").split("/")[0]
    contact_id = sandbox.hubspot.add_contact({
        "email": f"morgan.reyes@{domain}", "firstname": "Morgan", "lastname": "Reyes", "company": account["Name"],
        "jobtitle": "VP Operations", "numemployees": "500-1000", "industry": "Software", "country": "United States",
        "wants_sales_contact": "true"})
    sandbox.hubspot.add_demo_request(contact_id)
    sandbox.hubspot.add_page_view(contact_id, "https://www.example-vendor.com/pricing")
    runtime.sync()
    farmed = person(runtime, contact_id)
    assert farmed["stage"] == "mql" and farmed["crm_object"] == "contact" and farmed["existing_customer"]
    record = sandbox.salesforce.record("Contact", farmed["crm_id"])
    assert (record["AccountId"], record["OwnerId"]) == (account["Id"], account["OwnerId"])
    assert not leads_for(sandbox, contact_id)


def test_given_hand_conversion_before_sql_then_gate_violation_is_reported(runtime, sandbox):
    lead = handed_off_leads(runtime)[0]
    sandbox.salesforce.convert_by_hand(lead["crm_id"])
    summary = runtime.sync()
    assert summary.counts["gate_violations"] == 1
    from sqlalchemy import select
    from connector.state.schema import errors
    with runtime.store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(errors))]
    assert "gate_violation" in kinds


def test_then_nothing_below_mql_in_salesforce_and_nothing_below_sql_converted_by_leadsync(runtime, sandbox):
    people = runtime.store.people()
    for obj in ("Lead", "Contact"):
        for record in sandbox.salesforce.records(obj):
            hubspot_id = record.get("HubSpot_Contact_Id__c")
            if hubspot_id:
                assert people[hubspot_id]["stage"] in HANDED_OFF | {"recycled"}
    assert sandbox.salesforce.opportunities() == []
