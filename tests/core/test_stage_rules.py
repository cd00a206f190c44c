"""Stage decisions from sales' feedback and the handoff's record choice, at their edges.

Each test states a rule of the lead process (LEAD-PROCESS.md §2, SPEC §4): who may move a lead,
which way, and which CRM record a handoff lands on.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connector.core.feedback import FeedbackRules, from_opportunity, from_record
from connector.core.handoff import HandoffRules, route
from connector.ports import Account, CrmRecord, Opportunity
from tests.core.test_qualify import definition

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
RULES = FeedbackRules(status_to_stage={"Open - Not Contacted": "mql", "Working - Contacted": "sal",
                                       "Closed - Not Converted": "recycled"})
OPENING, WORKING, REJECTED = "Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"


def lead_record(status=None, *, converted=False, reason=None, id="00Q1", email="a@acme.io", hubspot_id="7",
                kind="lead", owner="005A"):
    return CrmRecord(id=id, kind=kind, email=email, hubspot_id=hubspot_id, status=status, owner_id=owner,
                     fields={}, modified_at=NOW, is_converted=converted, reason=reason)


def opp(stage, *, closed=False, won=False, untouched=timedelta(days=1)):
    return Opportunity("006X", stage, 1000.0, None, closed, won, "001A", NOW - untouched)


# --- Lead Status and conversion (from_record) -------------------------------------------------

def test_given_hand_conversion_before_sql_when_read_then_lead_follows_reality_to_sql_flagged():
    move = from_record("mql", lead_record("Closed - Converted", converted=True), RULES, converted_by_us=False)
    assert (move.to_stage, move.cause) == ("sql", "gate_violation")
    assert move.rule


def test_given_converted_record_at_sql_when_read_again_then_no_new_transition():
    # sql is exactly where a conversion belongs: neither a breach nor a move, whoever converted it.
    for by_us in (False, True):
        assert from_record("sql", lead_record("Closed - Converted", converted=True), RULES, converted_by_us=by_us) is None
        assert from_record("opportunity", lead_record(converted=True), RULES, converted_by_us=by_us) is None


def test_given_fresh_mql_with_opening_status_when_read_then_nothing_moves():
    assert from_record("mql", lead_record(OPENING), RULES, converted_by_us=False) is None


def test_given_working_status_when_lead_already_past_sal_then_it_never_moves_backwards():
    for stage in ("sal", "sql", "opportunity", "recycled"):
        assert from_record(stage, lead_record(WORKING), RULES, converted_by_us=False) is None


def test_given_working_status_when_mql_then_sales_accepted_it():
    move = from_record("mql", lead_record(WORKING), RULES, converted_by_us=False)
    assert (move.to_stage, move.cause) == ("sal", "sales") and move.rule


@pytest.mark.parametrize("stage", ["mql", "sal", "sql"])
def test_given_rejection_status_when_handed_off_then_sales_recycles_it_with_the_reps_reason(stage):
    move = from_record(stage, lead_record(REJECTED, reason="No budget this year"), RULES, converted_by_us=False)
    assert (move.to_stage, move.cause) == ("recycled", "sales")
    assert "No budget this year" in move.rule


def test_given_rejection_without_reason_when_read_then_recycled_all_the_same():
    move = from_record("sal", lead_record(REJECTED), RULES, converted_by_us=False)
    assert (move.to_stage, move.cause) == ("recycled", "sales") and move.rule


@pytest.mark.parametrize("stage", ["lead", "subscriber", "disqualified", "recycled"])
def test_given_rejection_status_when_never_handed_off_or_already_recycled_then_nothing_moves(stage):
    assert from_record(stage, lead_record(REJECTED), RULES, converted_by_us=False) is None


# --- Opportunity progress (from_opportunity) --------------------------------------------------

def test_given_lost_opportunity_when_read_then_the_lead_recycles():
    move = from_opportunity("opportunity", opp("Closed Lost", closed=True), RULES, NOW)
    assert (move.to_stage, move.cause) == ("recycled", "opportunity") and move.rule


def test_given_lost_or_won_stage_named_in_rules_when_closed_flag_not_yet_set_then_the_stage_decides():
    lost = from_opportunity("opportunity", opp("Closed Lost"), RULES, NOW)
    won = from_opportunity("sql", opp("Closed Won"), RULES, NOW)
    assert (lost.to_stage, lost.cause) == ("recycled", "opportunity")
    assert (won.to_stage, won.cause) == ("customer", "opportunity") and won.rule


def test_given_closed_opportunity_in_a_stage_the_rules_do_not_name_then_its_won_flag_decides():
    lost = from_opportunity("opportunity", opp("Closed - Dead", closed=True), RULES, NOW)
    won = from_opportunity("opportunity", opp("Closed - Signed", closed=True, won=True), RULES, NOW)
    assert lost.to_stage == "recycled"
    assert (won.to_stage, won.cause) == ("customer", "opportunity")


def test_given_open_opportunity_untouched_past_stalled_after_then_it_recycles():
    move = from_opportunity("opportunity", opp("Proposal/Price Quote", untouched=timedelta(days=91)), RULES, NOW)
    assert (move.to_stage, move.cause) == ("recycled", "opportunity")
    assert "91 days" in move.rule     # how long it sat, for the rep reading the log


def test_given_open_opportunity_untouched_exactly_stalled_after_then_it_is_not_yet_stalled():
    assert from_opportunity("opportunity", opp("Proposal/Price Quote", untouched=timedelta(days=90)), RULES, NOW) is None
    assert from_opportunity("sql", opp("Qualification", untouched=timedelta(days=90)), RULES, NOW) is None


def test_given_sql_when_opportunity_moves_past_qualification_then_the_lead_is_an_opportunity():
    move = from_opportunity("sql", opp("Proposal/Price Quote"), RULES, NOW)
    assert (move.to_stage, move.cause) == ("opportunity", "opportunity") and move.rule
    assert from_opportunity("opportunity", opp("Negotiation/Review"), RULES, NOW) is None


@pytest.mark.parametrize("stage", ["mql", "customer", "recycled"])
def test_given_lead_without_an_open_opportunity_stage_when_opportunity_read_then_nothing_moves(stage):
    assert from_opportunity(stage, opp("Closed Lost", closed=True), RULES, NOW) is None


def test_given_sal_holding_an_opportunity_when_it_closes_then_that_counts_but_its_stage_moves_do_not():
    # Where leads convert at sal (SugarCRM), an sal already has its opportunity: closing it
    # counts; moving its stage is BANT's business, not a promotion to opportunity.
    assert from_opportunity("sal", opp("Closed Lost", closed=True), RULES, NOW).to_stage == "recycled"
    assert from_opportunity("sal", opp("Closed Won", closed=True, won=True), RULES, NOW).to_stage == "customer"
    assert from_opportunity("sal", opp("Proposal/Price Quote"), RULES, NOW) is None


# --- Handoff: which record, whose (route) -----------------------------------------------------

def never():
    raise AssertionError("round robin must not be consulted")


CUSTOMER = {"acme.io": Account("001A", "Acme", "acme.io", "005OWN", True)}


def test_given_identity_map_entry_when_handing_off_then_that_record_is_reused_before_an_email_match():
    by_email = lead_record(OPENING, id="00Q1", hubspot_id=None)
    mapped = lead_record(OPENING, id="00Q5", email="old@elsewhere.io", hubspot_id=None, owner="005M")
    decision = route("7", "a@acme.io", {"crm_id": "00Q5"}, [by_email, mapped], {}, HandoffRules(), never)
    assert (decision.record_id, decision.owner_id, decision.assigned_owner) == ("00Q5", "005M", None)


def test_given_record_with_our_external_id_when_email_changed_then_it_is_reused():
    linked = lead_record(OPENING, id="00Q7", email="old@acme.io", hubspot_id="7", owner="005L")
    decision = route("7", "new@acme.io", {}, [linked], {}, HandoffRules(), never)
    assert (decision.record_id, decision.owner_id) == ("00Q7", "005L")


def test_given_only_another_persons_records_when_handing_off_then_none_is_reused():
    others = [lead_record(OPENING, id="00Q8", email="b@acme.io", hubspot_id="8"),
              lead_record(OPENING, id="00Q9", email="c@acme.io", hubspot_id=None)]
    decision = route("7", "a@acme.io", {}, others, {}, HandoffRules(), lambda: None)
    assert decision.record_id is None and decision.auto_assign


def test_given_converted_record_with_same_email_when_handing_off_then_a_new_record_is_routed():
    converted = lead_record(id="00Q3", hubspot_id=None, converted=True)
    decision = route("7", "a@acme.io", {}, [converted], {}, HandoffRules(), lambda: None)
    assert decision.record_id is None and (decision.kind, decision.auto_assign) == ("lead", True)


def test_given_existing_contact_at_customer_account_when_handing_off_then_reused_as_contact_of_a_customer():
    contact = lead_record(None, id="003C", kind="contact", hubspot_id=None, owner="005OWN")
    decision = route("7", "a@acme.io", {}, [contact], CUSTOMER, HandoffRules(), never)
    assert (decision.kind, decision.record_id, decision.assigned_owner) == ("contact", "003C", None)
    assert decision.existing_customer is True


def test_given_existing_lead_at_no_account_when_handing_off_then_not_an_existing_customer():
    decision = route("7", "a@acme.io", {}, [lead_record(OPENING)], {}, HandoffRules(), never)
    assert (decision.kind, decision.existing_customer) == ("lead", False)


def test_given_customer_account_when_contacts_are_off_then_a_lead_for_its_owner_flagged_as_customer():
    rules = HandoffRules(customer_account_as_contact=False)
    decision = route("7", "a@acme.io", {}, [], CUSTOMER, rules, never)
    assert (decision.kind, decision.assigned_owner, decision.existing_customer) == ("lead", "005OWN", True)


def test_given_round_robin_when_no_account_then_a_new_lead_for_the_next_user():
    rules = HandoffRules(routing="round_robin", users=("005A", "005B"))
    decision = route("7", "a@new.io", {}, [], {}, rules, lambda: "005B")
    assert (decision.kind, decision.record_id, decision.assigned_owner, decision.auto_assign) == \
        ("lead", None, "005B", False)


def test_given_no_account_and_no_round_robin_then_a_new_lead_for_the_crms_assignment_rule():
    decision = route("7", "a@new.io", {}, [], {}, HandoffRules(), never)
    assert (decision.kind, decision.record_id, decision.assigned_owner, decision.auto_assign) == \
        ("lead", None, None, True)


# --- The rep's follow-up task on a new handoff ------------------------------------------------

SLA_DEFINITION = """
[sla]
first_touch_target = "4h"
first_touch_deadline = "2d"
"""


def test_given_sla_deadline_when_handed_off_then_the_follow_up_is_due_at_it_for_the_owner_on_the_record():
    decision = route("7", "a@new.io", {}, [], {}, HandoffRules(routing="round_robin"), lambda: "005B")
    task = HandoffRules().follow_up("7", "00Q1", decision, NOW, definition(extra=SLA_DEFINITION))
    assert (task.key, task.record_id, task.owner_id, task.due) == ("7", "00Q1", "005B", NOW + timedelta(days=2))
    assert task.subject == HandoffRules().task_subject
    assert "4 hours" in task.description and "2026-11-26 12:00 UTC" in task.description


def test_given_no_sla_deadline_when_handed_off_then_the_follow_up_is_due_a_day_later():
    decision = route("7", "a@new.io", {}, [], {}, HandoffRules(), lambda: None)
    task = HandoffRules().follow_up("7", "00Q1", decision, NOW, definition())
    assert (task.owner_id, task.due) == (None, NOW + timedelta(days=1))
    assert "within" not in task.description and "2026-11-25 12:00 UTC" in task.description
