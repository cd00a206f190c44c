"""``leadsync explain``: rep first (who, why in words, the activity behind the score, what is
missing), and the lead's real story (recycled, converted by hand) ahead of the verdict."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from connector.app.config import Config
from connector.app.runtime import Runtime
from connector.cli.explain_cmd import explain_email
from connector.core.model import Activity

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
ANN = {"email": "ann@acme-robotics.com", "first_name": "Ann", "last_name": "Lee", "company": "Acme Robotics",
       "title": "VP Engineering", "employees": 400, "industry": "Software", "country": "United States",
       "wants_sales_contact": True}


@pytest.fixture
def rt(tmp_path):
    runtime = Runtime.from_config(Config(file="t.toml", state_url=f"sqlite:///{tmp_path}/s.db"), connect=False,
                                  clock=lambda: NOW)
    yield runtime
    runtime.close()


def save(rt, hubspot_id, fields, **row):
    rt.store.save_people([{"hubspot_id": hubspot_id, "email": fields["email"], "fields": fields, **row}], NOW)


def shown(rt, email=ANN["email"], width=80):
    console = Console(record=True, width=width, file=io.StringIO())
    assert explain_email(rt, email, as_json=False, console=console) == 0
    return console.export_text()


def test_given_handed_off_lead_when_explained_then_who_owner_crm_status_and_sla_due_come_first(rt):
    save(rt, "1", ANN, stage="mql", handoff_at=NOW - timedelta(minutes=10), crm_id="00Q1", crm_object="lead",
         crm_status="Open - Not Contacted", owner_id="005REP")
    # The shipped definition names its demo form by a GUID placeholder: a booked meeting counts
    # on every portal.
    rt.store.add_activities({"1": [Activity("meeting_booked", NOW - timedelta(days=1), {}, "hubspot", "m1"),
                                   Activity("page_view", NOW - timedelta(days=2), {"url": "https://x.com/pricing"},
                                            "hubspot", "p1")]})
    text = shown(rt)
    head = text.split("Why:")[0]
    for fact in ("Ann Lee", "VP Engineering at Acme Robotics", "owner 005REP", "lead 00Q1", "Open - Not Contacted",
                 "SLA first touch due 2026-11-24 12:20 UTC (in 20m)"):
        assert fact in head, fact
    assert "Activity that earned the score" in text and "Meeting booked" in text
    assert "(?i)" not in text and "\\b" not in text, "regexes said in words"
    why = text.split("Why:")[1].split("Activity")[0]
    assert " 0 " not in why and "earned nothing" in why, "rules that earned nothing are counted, not listed"
    assert "Missing:" in text


def shown_email(rt):
    return shown(rt, ANN["email"])


def test_given_bant_when_explained_then_passed_of_total_and_what_is_needed(rt):
    save(rt, "1", ANN, stage="sal", handoff_at=NOW - timedelta(days=1), crm_id="00Q1",
         crm_fields={"bant_budget": True, "bant_need": "slow reviews"})
    text = shown_email(rt)
    assert "BANT: " in text and " of 4 passed" in text and "for sql" in text and "of 3 for sql" not in text


def test_given_recycled_lead_when_explained_then_sales_reason_is_shown(rt):
    save(rt, "1", ANN, stage="recycled", reason="No budget until next fiscal year", recycled_at=NOW - timedelta(days=1))
    text = shown_email(rt)
    assert "recycled by sales: No budget until next fiscal year" in text
    assert "Sales said: No budget until next fiscal year" in text


def test_given_hand_converted_lead_when_explained_then_it_says_so_not_every_gate_passes(rt):
    save(rt, "1", ANN, stage="sql", handoff_at=NOW - timedelta(days=2), crm_id="00Q1", opportunity_id="006X")
    rt.store.add_transition("1", "mql", "sql", NOW - timedelta(days=1), cause="gate_violation",
                            rule="converted by sales before BANT was verified", definition_version=1, run_id=None)
    text = shown_email(rt)
    assert "converted by hand in the CRM on 2026-11-23" in text and "gate violation" in text
    assert not text.split("Why:")[0].strip().endswith("qualified: every gate passes")
    doc = json.loads(_json(rt))
    assert doc["headline"].startswith("converted by hand") and doc["who"]["name"] == "Ann Lee"


def _json(rt):
    import contextlib
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        explain_email(rt, ANN["email"], as_json=True)
    return buffer.getvalue()


def test_given_free_mail_address_when_explained_then_reason_says_the_rule_failed_not_its_name(rt):
    save(rt, "1", {**ANN, "email": "ann@gmail.com"}, stage="disqualified")
    text = shown(rt, "ann@gmail.com")
    assert "Disqualified: fails \u201cBusiness email\u201d" in text
    assert "any of: @gmail.com" in text
