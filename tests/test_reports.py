"""``leadsync report``: funnel, SLA and queue from a real SQLite store filled through ``Store``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from connector.config import Config, LoggingConfig
from connector.errors import ConfigError
from connector.model import Activity
from connector.reports import build_report, sla_breaches, show_report
from connector.runtime import Runtime

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
    assert d["stages"] == {"customer": 1, "mql": 2, "lead": 1}
    mql_sal = d["conversions"][0]
    assert (mql_sal["step"], mql_sal["entered"], mql_sal["converted"], mql_sal["rate_pct"]) == ("mql → sal", 3, 1, 33.3)
    assert mql_sal["verdict"] == "on target"
    assert d["win_rates"][1] == {"segment": "existing", "won": 1, "lost": 0, "rate_pct": 100.0,
                                 "target_pct": [75.0, 75.0], "verdict": "above target"}
    assert d["qualified_pipeline"]["volume"] == 0 and d["qualified_pipeline"]["value_note"]
    assert d["qualified_pipeline"]["velocity_days"]["sal → sql"] == 2.0     # 2 days less 20 minutes, to a tenth of a day
    assert sum(w["mqls"] for w in d["mqls_per_week"]["weeks"]) == 3
    assert d["mqls_per_week"]["target"] == round(300 / 13, 2)


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
    console = Console(record=True, width=160)
    show_report(rt, kind, since="30d", console=console)
    text = console.export_text()
    assert expected in text and "cy@gamma.dev" not in text


def test_given_bad_since_when_report_then_config_error_names_the_flag(rt):
    with pytest.raises(ConfigError, match="--since"):
        build_report(rt, "sla", "two weeks")
