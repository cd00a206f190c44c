"""``leadsync report``: funnel, SLA and queue from a real SQLite store filled through ``Store``."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from connector.app.config import Config, LoggingConfig
from connector.core.errors import ConfigError
from connector.core.model import Activity
from connector.app.reporting import sla_breaches
from connector.app.reporting import build_report
from connector.cli.reports import show_report
from connector.app.runtime import Runtime

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def ago(**kw) -> datetime:
    return NOW - timedelta(**kw)


@pytest.fixture
def rt(tmp_path):
    config = Config(file="test.toml", state_url=f"sqlite:///{tmp_path}/state.db", logging=LoggingConfig(redact_pii=True))
    runtime = Runtime.from_config(config, connect=False, clock=lambda: NOW)
    fill(runtime.store)
    yield runtime
    runtime.close()


def fill(store):
    """Three handoffs this week, one last quarter; one of them accepted and worked to customer."""
    people = [
        ("1", "ann@acme.com", "customer", 95, ago(days=6), True),
        ("2", "bo@beta.io", "mql", 80, ago(hours=3), False),
        ("3", "cy@gamma.dev", "mql", 90, ago(days=2), False),
        ("4", "di@delta.com", "lead", 20, None, False),
    ]
    store.save_people([{"hubspot_id": hid, "email": email, "stage": stage, "score": score, "handoff_at": handoff,
                        "existing_customer": existing} for hid, email, stage, score, handoff, existing in people], NOW)
    for hid, to_stage, at, cause in [("1", "mql", ago(days=6), "definition"), ("1", "sal", ago(days=6) + timedelta(minutes=20), "sales"),
                                     ("1", "sql", ago(days=4), "definition"), ("1", "customer", ago(days=1), "opportunity"),
                                     ("2", "mql", ago(hours=3), "definition"), ("3", "mql", ago(days=2), "definition")]:
        store.add_transition(hid, None, to_stage, at, cause=cause, rule="test", definition_version=1, run_id=None)
    store.add_activities({"1": [Activity("sales_touch", ago(days=6) + timedelta(minutes=10), {"kind": "call"}, "salesforce", "t1")],
                          "2": [Activity("sales_touch", ago(hours=1), {"kind": "email"}, "salesforce", "t2"),
                                Activity("page_view", ago(hours=2), {"url": "/pricing"}, "hubspot", "p1")]})


def test_given_store_when_funnel_report_then_counts_conversions_and_win_rate(rt):
    d = build_report(rt, "funnel", "30d")
    assert list(d["stages"].items()) == [("lead", 1), ("mql", 2), ("customer", 1)], "funnel order"
    mql_sal = d["conversions"][0]
    assert (mql_sal["step"], mql_sal["entered"], mql_sal["converted"], mql_sal["rate_pct"]) == ("mql → sal", 3, 1, 33.3)
    assert mql_sal["verdict"] == "on target"
    assert d["win_rates"][1] == {"segment": "existing", "won": 1, "lost": 0, "rate_pct": 100.0,
                                 "target_pct": [75.0, 75.0], "verdict": "above target"}
    assert d["qualified_pipeline"]["volume"] == 0 and d["qualified_pipeline"]["value_note"]
    assert d["qualified_pipeline"]["velocity_days"]["sal → sql"] == 1.986   # 2 days less 20 minutes, to the minute or so
    assert sum(w["mqls"] for w in d["mqls_per_week"]["weeks"]) == 3
    assert d["mqls_per_week"]["target"] == 24                              # 300 a quarter: 23.08 a week, rounded up
    q = d["quarter_to_date"]
    assert (q["starts"][:10], q["qualified"], q["commitment"], q["on_track"]) == ("2026-10-01", 3, 300, False)


def test_given_since_one_quarter_when_report_then_accepted_and_starts_on_the_quarters_first_day(rt):
    d = build_report(rt, "funnel", "1q")
    assert d["since"].startswith("2026-10-01T00:00")
    assert build_report(rt, "funnel", "2q")["since"].startswith("2026-07-01")


def test_given_funnel_when_rendered_then_money_days_and_weeks_read_as_people_say_them(rt):
    from connector.cli.reports import fmt_days, fmt_money
    assert fmt_money(217000.0) == "217,000" and fmt_days(0.0243) == "35 min" and fmt_days(3.24) == "3.2 days"
    console = Console(record=True, width=80, file=io.StringIO())
    show_report(rt, "funnel", since="30d", console=console)
    text = console.export_text()
    assert "≥ 24/week" in text and "23.08" not in text and "Quarter to date" in text
    assert text.index("lead ") < text.index("mql ") < text.index("customer ")


def test_given_untouched_fresh_handoffs_when_sla_report_then_pending_not_counted_as_compliant(rt):
    rt.store.save_people([{"hubspot_id": f"n{i}", "email": f"n{i}@new.io", "stage": "mql", "score": 70,
                           "handoff_at": ago(minutes=5), "owner_id": "005B"} for i in range(3)], NOW)
    d = build_report(rt, "sla", "30d")
    c = d["compliance"]
    assert (c["met"], c["breached"], c["pending"]) == (1, 2, 3)
    assert c["overall_pct"] == pytest.approx(33.3)
    assert {r["owner_id"]: r["pending"] for r in d["by_rep"]}["005B"] == 3
    queue = build_report(rt, "queue", "30d")
    fresh = next(r for r in queue["leads"] if r["hubspot_id"] == "n0")
    assert fresh["owner_id"] == "005B" and fresh["due"] == {"what": "first touch", "at": (ago(minutes=5) + timedelta(minutes=30)).isoformat(),
                                                            "minutes_left": 25}
    console = Console(record=True, width=80, file=io.StringIO())
    show_report(rt, "sla", since="30d", console=console)
    assert "1 met, 2 breached, 3 pending" in console.export_text()
    console = Console(record=True, width=80, file=io.StringIO())
    show_report(rt, "queue", since="30d", console=console)
    queue_text = console.export_text()
    assert "touch in 25m" in queue_text and "005B" in queue_text and "deadline overdue" in queue_text


def test_given_csv_when_report_shown_then_one_row_per_lead(rt, tmp_path):
    import csv
    target = tmp_path / "sla.csv"
    show_report(rt, "sla", since="30d", console=Console(file=io.StringIO()), csv_path=str(target))
    rows = list(csv.DictReader(target.open()))
    assert sorted(r["hubspot_id"] for r in rows) == ["1", "2", "3"] and "verdict" in rows[0]


def test_given_store_when_sla_report_then_each_handoff_judged_and_emails_masked(rt):
    d = build_report(rt, "sla", "30d")
    by_id = {r["hubspot_id"]: r for r in d["leads"]}
    assert by_id["1"]["minutes_to_first_touch"] == 10.0 and by_id["1"]["breaches"] == []
    assert by_id["2"]["minutes_to_first_touch"] == 120.0 and by_id["2"]["breaches"] == ["first touch after target"]
    assert by_id["3"]["status"] == "deadline missed"
    assert by_id["3"]["email"] == "c***@gamma.dev"          # redact_pii is on
    assert d["compliance"]["within_deadline_pct"] == pytest.approx(66.7)
    assert d["compliance"]["breaches"] == 3


def test_given_store_when_queue_report_then_unaccepted_highest_score_first(rt):
    d = build_report(rt, "queue", "30d")
    assert [(r["hubspot_id"], r["age_minutes"]) for r in d["leads"]] == [("3", 2 * 1440), ("2", 180)]


def test_given_short_period_when_sla_breaches_then_only_recent_breached_handoffs(rt):
    assert [r.hubspot_id for r in sla_breaches(rt.store, rt.definition, NOW, timedelta(days=1))] == ["2"]


@pytest.mark.parametrize("kind", ["funnel", "sla", "queue"])
def test_given_json_flag_when_report_shown_then_one_json_document(rt, kind, capsys):
    assert show_report(rt, kind, as_json=True, since="30d") == 0
    assert json.loads(capsys.readouterr().out)["report"] == kind


@pytest.mark.parametrize("kind, expected", [("funnel", "mql → sal"), ("sla", "deadline"), ("queue", "c***@gamma.dev")])
def test_given_terminal_when_report_shown_then_tables_name_the_facts(rt, kind, expected):
    console = Console(record=True, width=160, file=io.StringIO())
    show_report(rt, kind, since="30d", console=console)
    text = console.export_text()
    assert expected in text and "cy@gamma.dev" not in text


def test_given_bad_since_when_report_then_config_error_names_the_flag(rt):
    with pytest.raises(ConfigError, match="--since"):
        build_report(rt, "sla", "two weeks")


# -- run summaries, dry-run plans, quarantine (connector/summary.py) ----------------------------------

from connector.cli.render import print_quarantine, print_summary  # noqa: E402
from connector.engine.summary import Summary  # noqa: E402


def a_summary():
    s = Summary(run_id=12, kind="sync", outcome="partial")
    s.counts.update(pulled_hubspot=40, pulled_crm=3, handed_off=1, quarantined=1)
    s.handoffs.append({"email": "ann@acme.com", "score": 85.0, "reason": "Demo request (+30)", "crm_id": "00Q1", "object": "Lead"})
    s.api = {"hubspot": {"calls": 9, "retries": 1, "remaining": 249_991, "limit": 250_000},
             "salesforce": {"calls": 4, "retries": 0, "remaining": None, "limit": None}}
    return s


def rendered(fn, *args, **kwargs) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    fn(*args, console=console, **kwargs)
    return console.export_text()


def test_given_summary_when_printed_as_json_then_counts_handoffs_and_api_round_trip(capsys):
    print_summary(a_summary(), as_json=True)
    d = json.loads(capsys.readouterr().out)
    assert (d["run_id"], d["outcome"], d["counts"]["pulled_hubspot"]) == (12, "partial", 40)
    assert d["handoffs"][0]["email"] == "ann@acme.com" and d["api"]["hubspot"]["remaining"] == 249_991


def test_given_summary_when_printed_then_counts_quota_and_handoff_reason_shown():
    text = rendered(print_summary, a_summary())
    assert "sync run 12: partial" in text
    assert re.search(r"pulled from HubSpot\s+40\b", text) and re.search(r"handed off\s+1\b", text)
    assert "249991" in text and "Demo request (+30)" in text and "Lead 00Q1" in text


def test_given_planned_writes_when_shaped_then_one_row_per_field_with_person_sync_rule_and_why():
    from connector.cli.resync_cmd import plan_rows
    planned = [{"system": "crm", "key": "101", "record": None, "object": "Lead", "values": {"Phone": "+1 555"},
                "rule": "qualified (score 75, definition v1)"},
               {"system": "hubspot", "key": "102", "record": "102", "object": None, "current": {"leadsync_score": 40},
                "values": {"leadsync_score": 65}}]
    people = {"101": {"name": "Ann Lee", "email": "ann@acme.com"}, "102": {"name": "Bo Chan", "email": "bo@acme.com"}}
    rules = {("crm", "Phone"): "two_way", ("hubspot", "leadsync_score"): "leadsync writes"}
    rows = plan_rows(planned, people, rules)
    assert [(r["person"], r["email"], r["field"], r["current"], r["planned"], r["rule"]) for r in rows] == [
        ("Ann Lee", "ann@acme.com", "Phone", None, "+1 555", "two_way"),
        ("Bo Chan", "bo@acme.com", "leadsync_score", 40, 65, "leadsync writes")]
    assert rows[0]["why"] == "qualified (score 75, definition v1)"


@pytest.mark.parametrize("raw, expected", [("summitmedical.com", ("summitmedical.com", None)),
                                           ("www.SummitMedical.com", ("summitmedical.com", None)),
                                           ("https://www.summitmedical.com/about?x=1", ("summitmedical.com", None)),
                                           ("0015g00000AbCdE", (None, "0015g00000AbCdE")), ("1234", (None, "1234"))])
def test_given_account_key_in_any_spelling_when_parsed_then_one_domain_or_an_id(raw, expected):
    from connector.cli.resync_cmd import account_key
    assert account_key(raw) == expected


def test_given_quarantined_records_when_listed_then_reason_retry_and_masked_email(rt):
    rt.store.quarantine(system="salesforce", hubspot_id="2", email="bo@beta.io", operation="handoff", code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
                        reason="Phone is required by a validation rule", detail="raw body", transient=False, now=NOW, next_attempt_at=None)
    text = rendered(print_quarantine, rt.store.quarantined(), redactor=rt.redactor)
    assert "b***@beta.io" in text and "bo@beta.io" not in text
    assert "Phone is required" in text and "waits for a person" in text and "raw body" not in text
