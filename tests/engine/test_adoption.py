"""Where a person starts on day one, from what both systems already say; sales' lead status."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connector.core import plan as P
from connector.core.adoption import pick_record, records_of, starting_stage
from connector.core.feedback import FeedbackRules
from connector.ports import CONTACT, LEAD, CrmRecord, Opportunity

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
LIFECYCLE = {"subscriber": "subscriber", "lead": "lead", "mql": "marketingqualifiedlead",
             "sal": "salesqualifiedlead", "sql": "salesqualifiedlead", "opportunity": "opportunity",
             "customer": "customer", "recycled": "lead", "disqualified": ""}
RULES = FeedbackRules({"Open - Not Contacted": "mql", "Working - Contacted": "sal",
                       "Closed - Not Converted": "recycled"})


def record(id_="00Q1", *, kind=LEAD, stage=None, status=None, hubspot_id="7", email="a@acme.test",
           converted=False, opportunity=None):
    return CrmRecord(id=id_, kind=kind, email=email, hubspot_id=hubspot_id, status=status, owner_id="005A",
                     fields={}, modified_at=NOW, is_converted=converted, opportunity_id=opportunity, stage=stage)


def opportunity(stage, *, closed=False, won=False):
    return Opportunity("006A", stage, 1000.0, None, closed, won, "001A", NOW)


@pytest.mark.parametrize("lifecycle, records, opportunities, expected", [
    ("lead", [record(stage="sal", status="Working - Contacted")], {}, "sal"),
    ("customer", [record(stage="mql", status="Open - Not Contacted")], {}, "customer"),
    ("evangelist", [], {}, "customer"),
    ("salesqualifiedlead", [], {}, "sal"),
    ("lead", [record(kind=CONTACT, stage="customer")], {}, "customer"),
    ("lead", [record(stage="sql", converted=True, opportunity="006A")], {"006A": opportunity("Prospecting")}, "opportunity"),
    ("lead", [record(stage="sql", converted=True, opportunity="006A")], {"006A": opportunity("Closed Won", closed=True, won=True)}, "customer"),
    ("marketingqualifiedlead", [record(stage="sql", converted=True, opportunity="006A")],
     {"006A": opportunity("Closed Lost", closed=True)}, "recycled"),
    ("opportunity", [record(stage="recycled", status="Closed - Not Converted")], {}, "opportunity"),
    ("lead", [record(stage="mql", status="Open - Not Contacted")], {}, "mql"),
    ("lead", [record(stage="recycled"), record("00Q2", stage="mql")], {}, "mql"),
])
def test_given_what_both_systems_say_then_the_person_starts_at_the_furthest_sales_stage(
        lifecycle, records, opportunities, expected):
    start = starting_stage(lifecycle, LIFECYCLE, records, opportunities, RULES)
    assert start is not None and start.stage == expected
    assert start.why


@pytest.mark.parametrize("lifecycle", [None, "", "subscriber", "lead", "marketingqualifiedlead", "other"])
def test_given_nothing_sales_holds_then_no_starting_stage(lifecycle):
    assert starting_stage(lifecycle, LIFECYCLE, [], {}, RULES) is None


def test_given_a_linked_lead_and_an_email_twin_then_the_linked_one_is_picked_and_both_count():
    linked, twin = record("00Q1", hubspot_id="7"), record("00Q2", hubspot_id=None, email="A@acme.test")
    other = record("00Q3", hubspot_id="8", email="a@acme.test")
    assert records_of("7", "a@acme.test", [linked, twin, other]) == [linked, twin]
    assert pick_record("7", "a@acme.test", [twin, linked]) == linked
    assert pick_record("9", "a@acme.test", [record("003", kind=CONTACT, hubspot_id=None), twin]) == twin


@pytest.mark.parametrize("managed, held, ours, written", [
    (True, None, None, True),                    # blank: leadsync may set it
    (True, "UNQUALIFIED", "UNQUALIFIED", True),  # its own earlier value
    (True, "IN_PROGRESS", None, False),          # sales set it
    (True, "CONNECTED", "UNQUALIFIED", False),   # sales changed leadsync's value
    (False, None, None, False),                  # sales' stage: sales' field
])
def test_given_hs_lead_status_then_leadsync_writes_it_only_where_it_manages_and_never_over_sales(
        managed, held, ours, written):
    values = {"leadsync_stage": "disqualified", "hs_lead_status": "UNQUALIFIED"}
    kept = P.leave_sales_status(values, managed, {"hs_lead_status": held}, {"hs_lead_status": ours})
    assert ("hs_lead_status" in kept) is written
    assert kept["leadsync_stage"] == "disqualified"
