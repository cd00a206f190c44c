"""``convert_at``: which stage converts a Lead into an Opportunity is one mapping key per CRM
(sql for Salesforce, sal for SugarCRM). Pure rules: plan, feedback, mapping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connector.core import plan as P
from connector.core.errors import ConfigError
from connector.core.feedback import FeedbackRules, from_opportunity, from_record
from connector.adapters.sugarcrm.mapping import load_sugar_mapping
from connector.ports import CONTACT, LEAD, CrmRecord, Opportunity

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
SUGAR = FeedbackRules({"In Process": "sal"}, "Qualification", convert_at="sal", unqualified_stage="Prospecting")
SALESFORCE = FeedbackRules({"Working - Contacted": "sal"}, "Qualification")
A_LEAD = {"crm_id": "L1", "crm_object": LEAD}


@pytest.mark.parametrize("from_stage,to_stage,convert_at,person,expected", [
    ("sal", "sql", "sql", A_LEAD, True),                         # Salesforce: BANT passed
    ("sal", "sal", "sql", A_LEAD, False),
    ("mql", "mql", "sal", A_LEAD, False),                        # Sugar: not accepted yet
    ("sal", "sal", "sal", A_LEAD, True),                         # Sugar: accepted → convert
    ("sal", "sql", "sal", {**A_LEAD, "opportunity_id": "O1"}, False),   # already converted
    ("sal", "sal", "sal", {"crm_id": "C1", "crm_object": CONTACT}, False),
    ("sal", "sal", "sal", {}, False),                          # nothing in the CRM
])
def test_given_a_stage_move_when_planned_then_conversion_follows_convert_at(from_stage, to_stage, convert_at,
                                                                            person, expected):
    assert P.converts(from_stage, to_stage, convert_at, person) is expected


def test_given_an_opportunity_made_at_sal_when_the_lead_becomes_sql_then_it_advances():
    assert P.advances("sal", "sql", {"opportunity_id": "O1"}) and not P.advances("sal", "sql", {})
    assert not P.advances("sal", "sal", {"opportunity_id": "O1"})


def test_given_the_crm_when_converting_then_the_opportunity_starts_at_its_pipeline_stage():
    assert SUGAR.conversion_stage == "Prospecting" and SALESFORCE.conversion_stage == "Qualification"


def _record(converted: bool) -> CrmRecord:
    return CrmRecord("L1", LEAD, "a@b.c", "1", "Converted", "u1", {}, NOW, is_converted=converted,
                     opportunity_id="O1" if converted else None)


def test_given_a_hand_conversion_before_convert_at_then_sugar_reads_acceptance_and_salesforce_a_violation():
    sugar = from_record("mql", _record(True), SUGAR, converted_by_us=False)
    salesforce = from_record("sal", _record(True), SALESFORCE, converted_by_us=False)
    assert (sugar.to_stage, sugar.cause) == ("sal", "sales")
    assert (salesforce.to_stage, salesforce.cause) == ("sql", "gate_violation")
    assert from_record("sal", _record(True), SUGAR, converted_by_us=True) is None


def _opportunity(stage: str, age: timedelta = timedelta(days=1)) -> Opportunity:
    return Opportunity("O1", stage, None, None, stage.startswith("Closed"), stage == "Closed Won", None, NOW - age)


@pytest.mark.parametrize("stage,opportunity_stage,expected", [
    ("sal", "Prospecting", None),
    ("sal", "Closed Won", "customer"),
    ("sal", "Closed Lost", "recycled"),
    ("sql", "Prospecting", None),               # the move to Qualification is still being written
    ("sql", "Qualification", None),
    ("sql", "Needs Analysis", "opportunity"),
])
def test_given_an_sal_or_sql_opportunity_when_followed_then_only_real_progress_moves_the_lead(
        stage, opportunity_stage, expected):
    move = from_opportunity(stage, _opportunity(opportunity_stage), SUGAR, NOW)
    assert (move.to_stage if move else None) == expected


def test_given_a_stalled_sal_opportunity_when_followed_then_recycled():
    move = from_opportunity("sal", _opportunity("Prospecting", timedelta(days=120)), SUGAR, NOW)
    assert move is not None and move.to_stage == "recycled" and "stalled" in move.rule


@pytest.mark.parametrize("edit,key,words", [
    ('convert_at = "sal"\nunqualified_stage = "Prospecting"', None, None),
    ('convert_at = "mql"\nunqualified_stage = "Prospecting"', "opportunity.convert_at", "a Lead converts at"),
    ('convert_at = "sal"', "opportunity.unqualified_stage", "required when convert_at"),
])
def test_given_convert_at_in_a_mapping_when_loaded_then_checked(tmp_path, edit, key, words):
    text = (REPO / "mappings" / "sugarcrm.toml").read_text(encoding="utf-8")
    text = text.replace('convert_at = "sal"                       # accepting a Lead converts it into an Opportunity\n'
                        'unqualified_stage = "Prospecting"        # "unqualified pipeline": a just-accepted lead\n',
                        edit + "\n")
    path = tmp_path / "sugarcrm.toml"
    path.write_text(text, encoding="utf-8")
    if key is None:
        opportunity = load_sugar_mapping(path).opportunity
        assert (opportunity.convert_at, opportunity.unqualified_stage) == ("sal", "Prospecting")
        return
    with pytest.raises(ConfigError) as raised:
        load_sugar_mapping(path)
    assert [(p.key, words in p.reason) for p in raised.value.problems] == [(key, True)]
