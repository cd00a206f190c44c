"""The sync engine's pure parts: write plans, sales feedback, handoff routing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from connector.core import plan as P
from connector.core.lead import merge_fields
from connector.ports import Account, CrmRecord, Opportunity
from connector.core.feedback import FeedbackRules, from_opportunity, from_record
from connector.core.handoff import HandoffRules, route

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)

MAPS = P.WriteMaps(
    hubspot_write={"stage": "leadsync_stage", "score": "leadsync_score", "reason": "leadsync_reason",
                   "missing": "leadsync_missing", "handoff_at": "leadsync_handoff_at"},
    lifecycle={"lead": "lead", "mql": "marketingqualifiedlead", "recycled": "lead", "disqualified": ""},
    lead_status={"mql": "NEW", "recycled": "BAD_TIMING", "disqualified": "UNQUALIFIED"},
    crm_write={"stage": "Leadsync_Stage__c", "score": "Leadsync_Score__c"},
    crm_fields={"email": ("Email", "hubspot_unless_blank"), "phone": ("Phone", "two_way"),
                "bant_budget": ("Budget_Confirmed__c", "always_salesforce"),
                "industry": ("Industry", "salesforce_unless_blank")},
)
RULES = FeedbackRules(status_to_stage={"Open - Not Contacted": "mql", "Working - Contacted": "sal",
                                       "Closed - Not Converted": "recycled"})


def out(stage="mql", score=72.0, reason="Demo request", missing=""):
    return P.Outputs(stage, score, 30.0, 42.0, NOW, reason, missing, 1)


def record(status=None, converted=False, reason=None):
    return CrmRecord(id="00Q1", kind="lead", email="a@acme.io", hubspot_id="7", status=status, owner_id="005A",
                     fields={}, modified_at=NOW, is_converted=converted, reason=reason)


def test_given_crm_owned_fields_when_merged_then_bant_always_from_crm_and_blanks_filled():
    merged = merge_fields({"email": "a@acme.io", "phone": "", "industry": "Software", "bant_budget": True},
                            {"phone": "+1 555", "industry": "Fintech", "bant_budget": False}, MAPS.crm_fields)
    assert merged == {"email": "a@acme.io", "phone": "+1 555", "industry": "Fintech", "bant_budget": False}


def test_given_mql_when_planning_hubspot_then_lifecycle_moves_forward_and_values_are_strings():
    values = P.hubspot_values(out(), MAPS, "lead", recycling=False)
    assert values["lifecyclestage"] == "marketingqualifiedlead"
    assert values["leadsync_score"] == "72" and values["leadsync_handoff_at"] == "2026-11-24T12:00:00.000Z"
    assert values["hs_lead_status"] == "NEW"


def test_given_contact_further_along_in_hubspot_when_planning_then_lifecycle_left_alone():
    assert "lifecyclestage" not in P.hubspot_values(out(), MAPS, "customer", recycling=False)


def test_given_recycle_when_planning_then_lifecycle_may_move_back():
    values = P.hubspot_values(out(stage="recycled"), MAPS, "salesqualifiedlead", recycling=True)
    assert values["lifecyclestage"] == "lead" and values["hs_lead_status"] == "BAD_TIMING"


def test_given_handoff_when_planning_crm_then_leadsync_fields_written_and_bant_never_written():
    values = P.crm_values(out(), {"email": "a@acme.io", "phone": "+1", "bant_budget": True}, MAPS)
    assert values["Leadsync_Stage__c"] == "mql" and values["Email"] == "a@acme.io"
    assert "Budget_Confirmed__c" not in values and "Industry" not in values
    # The CRM's own bookkeeping (external id, opening status) is the adapter's: see the adapter tests.
    assert "Status" not in values


def test_given_values_already_written_when_diffed_then_nothing_changes():
    desired = {"leadsync_score": "72", "leadsync_stage": "mql", "n": 3.0}
    assert P.changed(desired, {"leadsync_score": "72", "leadsync_stage": "mql", "n": 3}) == {}
    assert P.changed(desired, {"leadsync_score": "70", "leadsync_stage": "mql", "n": 3}) == {"leadsync_score": "72"}


def test_given_below_mql_without_crm_record_then_it_never_reaches_the_crm():
    assert not P.reaches_crm("lead", False) and not P.reaches_crm("disqualified", False)
    assert P.reaches_crm("mql", False) and P.reaches_crm("recycled", True)


def test_given_working_status_when_mql_then_sales_accepted():
    move = from_record("mql", record("Working - Contacted"), RULES, converted_by_us=False)
    assert (move.to_stage, move.cause) == ("sal", "sales")


def test_given_rejection_when_sal_then_recycled_with_reason():
    move = from_record("sal", record("Closed - Not Converted", reason="No budget this year"), RULES, converted_by_us=False)
    assert move.to_stage == "recycled" and "No budget this year" in move.rule


def test_given_recycled_lead_when_status_still_closed_then_no_new_transition():
    assert from_record("recycled", record("Closed - Not Converted"), RULES, converted_by_us=False) is None


def test_given_hand_conversion_before_sql_then_gate_violation():
    move = from_record("sal", record("Closed - Converted", converted=True), RULES, converted_by_us=False)
    assert move.cause == "gate_violation"
    assert from_record("sql", record(converted=True), RULES, converted_by_us=True) is None


def opp(stage, modified=NOW, closed=False, won=False):
    return Opportunity("006X", stage, 1000.0, None, closed, won, "001A", modified)


def test_given_opportunity_progress_then_opportunity_customer_or_recycled():
    assert from_opportunity("sql", opp("Qualification"), RULES, NOW) is None
    assert from_opportunity("sql", opp("Proposal/Price Quote"), RULES, NOW).to_stage == "opportunity"
    assert from_opportunity("opportunity", opp("Closed Won", closed=True, won=True), RULES, NOW).to_stage == "customer"
    assert from_opportunity("opportunity", opp("Closed Lost", closed=True), RULES, NOW).to_stage == "recycled"
    stalled = from_opportunity("sql", opp("Qualification", modified=NOW - timedelta(days=91)), RULES, NOW)
    assert stalled.to_stage == "recycled" and "stalled" in stalled.rule


def never():
    raise AssertionError("round robin must not be consulted")


def test_given_existing_lead_with_same_email_when_handing_off_then_reused_not_duplicated():
    existing = [CrmRecord("00Q9", "lead", "A@acme.io", None, "Open - Not Contacted", "005B", {}, NOW)]
    decision = route("7", "a@acme.io", {}, existing, {}, HandoffRules(), never)
    assert (decision.record_id, decision.owner_id) == ("00Q9", "005B")
    assert decision.assigned_owner is None   # sales' owner is kept, never rewritten


def test_given_customer_account_when_handing_off_then_contact_for_account_owner():
    accounts = {"acme.io": Account("001A", "Acme", "acme.io", "005OWN", True)}
    decision = route("7", "a@acme.io", {}, [], accounts, HandoffRules(), never)
    assert (decision.kind, decision.owner_id, decision.existing_customer) == ("contact", "005OWN", True)
    assert (decision.assigned_owner, decision.account_id) == ("005OWN", "001A")


def test_given_prospect_account_when_handing_off_then_lead_for_account_owner():
    accounts = {"acme.io": Account("001A", "Acme", "acme.io", "005OWN", False)}
    decision = route("7", "a@acme.io", {}, [], accounts, HandoffRules(), never)
    assert (decision.kind, decision.owner_id) == ("lead", "005OWN")


def test_given_round_robin_when_no_account_then_next_user_owns_it():
    decision = route("7", "a@new.io", {}, [], {}, HandoffRules(routing="round_robin", users=("005A", "005B")), lambda: "005B")
    assert decision.assigned_owner == "005B"
    assert route("7", "a@new.io", {}, [], {}, HandoffRules(), never).auto_assign
