"""``leadsync logs``: queries on a real SQLite store, and what each flag prints."""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from connector.cli import logs_view as L
from connector.cli.commands import build_parser
from connector.core.errors import ConfigError
from connector.core.redact import Redactor
from connector.state.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
SECRET = "sk-live-0123456789"


def ago(**kw) -> datetime:
    return NOW - timedelta(**kw)


@pytest.fixture
def store(tmp_path):
    st = Store(f"sqlite:///{tmp_path}/state.db")
    fill(st)
    yield st
    st.close()


def change(run_id, at, email, field, old, new, system="hubspot", hubspot_id="1"):
    return {"run_id": run_id, "at": at, "hubspot_id": hubspot_id, "email": email, "account": email.split("@")[1],
            "system": system, "record_id": hubspot_id, "field": field, "old": old, "new": new,
            "rule": "qualified (score 75, definition v1)", "definition_version": 1}


def fill(st: Store) -> None:
    """Run 1 (a day ago): ann handed off. Run 2 (an hour ago): bo quarantined. Run 3: running."""
    r1 = st.start_run("sync", ago(days=1))
    st.add_changes([change(r1, ago(days=1), "ann@acme.com", "leadsync_stage", "lead", "mql"),
                    change(r1, ago(days=1), "ann@acme.com", "Leadsync_Stage__c", None, "mql", "salesforce")])
    st.finish_run(r1, ago(days=1) + timedelta(seconds=3.5), "ok", {"pulled_hubspot": 40, "handed_off": 1},
                  {"hubspot": {"calls": 9, "remaining": 249_000}, "salesforce": {"calls": 4}})
    r2 = st.start_run("hubspot", ago(hours=1))
    st.add_changes([change(r2, ago(hours=1), "bo@beta.io", "leadsync_score", 20, 35, hubspot_id="2")])
    st.add_error(run_id=r2, at=ago(hours=1), kind="quarantined", system="salesforce", hubspot_id="2", email="bo@beta.io",
                 message="handoff quarantined: Phone is required", detail=f"HTTP 400 body with token {SECRET}")
    st.finish_run(r2, ago(hours=1) + timedelta(seconds=1), "partial", {"pulled_hubspot": 2, "quarantined": 1}, {})
    st.start_run("salesforce", ago(minutes=1))
    st.save_people([{"hubspot_id": "1", "email": "ann@acme.com", "stage": "mql", "company_id": "C77", "account_id": "001A"},
                    {"hubspot_id": "2", "email": "bo@beta.io", "stage": "lead"}], NOW)


def args(*argv):
    return build_parser().parse_args(["logs", *argv])


def run(store, *argv, plain=True, redactor=None, **kw) -> str:
    out = io.StringIO()
    L.show_logs(store, args(*argv), redactor or Redactor([SECRET]), now=NOW,
                console=Console(file=out, width=220), plain=plain, **kw)
    return out.getvalue()


def ids(store, query):
    return [r["id"] for r in L.fetch(store, query)]


# -- queries ---------------------------------------------------------------------------------------

def test_given_runs_when_limited_then_newest_kept_and_listed_oldest_first(store):
    assert ids(store, L.runs_query(L.LogFilter(limit=2))) == [2, 3]
    assert ids(store, L.runs_query(L.LogFilter(), finished_only=True)) == [1, 2]


def test_given_since_two_hours_when_querying_then_older_rows_left_out(store):
    f = L.build_filter(store, args("--since", "2h"), NOW)
    assert ids(store, L.runs_query(f)) == [2, 3]
    assert ids(store, L.changes_query(f)) == [3]


def test_given_lead_email_in_other_case_when_querying_then_that_persons_changes_and_errors(store):
    f = L.build_filter(store, args("--lead", "Bo@Beta.io"), NOW)
    assert ids(store, L.changes_query(f)) == [3] and ids(store, L.errors_query(f)) == [1]


@pytest.mark.parametrize("account, changes", [("acme.com", [1, 2]), ("C77", [1, 2]), ("001A", [1, 2]),
                                               ("beta.io", [3]), ("nobody.example", []), ("C00", [])])
def test_given_account_as_domain_or_company_or_account_id_when_querying_then_its_changes(store, account, changes):
    f = L.build_filter(store, args("--account", account), NOW)
    assert ids(store, L.changes_query(f)) == changes


def test_given_run_id_when_querying_then_only_that_runs_rows(store):
    f = L.build_filter(store, args("--run", "1"), NOW)
    assert (ids(store, L.runs_query(f)), ids(store, L.changes_query(f)), ids(store, L.errors_query(f))) == ([1], [1, 2], [])


@pytest.mark.parametrize("argv, expected", [((), ("runs",)), (("--run", "2"), ("runs", "changes", "errors")),
                                            (("--lead", "a@b.c"), ("changes", "errors")), (("--errors", "--run", "2"), ("errors",))])
def test_given_flags_when_choosing_sections_then_what_a_reader_asked_for(store, argv, expected):
    assert L.sections(L.build_filter(store, args(*argv), NOW), args(*argv).errors) == expected


def test_given_bad_since_when_filtering_then_config_error_names_the_flag(store):
    with pytest.raises(ConfigError, match="--since"):
        L.build_filter(store, args("--since", "yesterday"), NOW)


# -- output -------------------------------------------------------------------------------------------

def test_given_pipe_when_runs_shown_then_tab_separated_with_duration_counts_calls(store):
    lines = run(store).splitlines()
    assert lines[0].split("\t") == L.HEADERS["runs"]
    first = lines[1].split("\t")
    assert first[:4] == ["1", "sync", "2026-11-23 12:00:00", "3.5s"]
    assert first[4] == "pulled HS 40, handed off 1" and first[5] == "hubspot 9, salesforce 4" and first[6] == "ok"
    assert lines[3].split("\t")[6] == "running"


def test_given_lead_when_shown_then_old_to_new_and_rule_per_field(store):
    text = run(store, "--lead", "ann@acme.com")
    assert "leadsync_stage\tlead → mql\tqualified (score 75, definition v1)\t1" in text
    assert "Leadsync_Stage__c\t— → mql" in text


def test_given_errors_without_detail_when_shown_then_user_message_only(store):
    text = run(store, "--errors")
    assert "handoff quarantined: Phone is required" in text and "HTTP 400" not in text


def test_given_detail_when_errors_shown_then_detail_with_secrets_masked(store):
    text = run(store, "--errors", "--detail")
    assert "HTTP 400 body with token ***" in text and SECRET not in text


def test_given_json_when_run_shown_then_one_document_with_its_sections(store):
    d = json.loads(run(store, "--run", "2", "--json"))
    assert set(d) == {"runs", "changes", "errors"}
    assert d["runs"][0]["outcome"] == "partial" and d["runs"][0]["duration_s"] == 1.0
    assert d["changes"][0]["old"] == 20 and d["changes"][0]["new"] == 35
    assert "detail" not in d["errors"][0]


def test_given_redact_pii_when_shown_then_emails_masked_everywhere(store):
    text = run(store, "--lead", "bo@beta.io", "--json", redactor=Redactor([], redact_pii=True))
    assert "bo@beta.io" not in text and "b***@beta.io" in text


def test_given_terminal_when_shown_then_rich_table_with_title(store):
    text = run(store, plain=False)
    assert "Runs (3)" in text and "│" in text


def test_given_follow_when_rows_arrive_then_new_rows_printed_as_json_lines(store):
    def later():
        store.add_changes([change(2, NOW, "ann@acme.com", "leadsync_score", 75, 80)])
        store.finish_run(3, NOW, "ok", {"pulled_crm": 1}, {})
    timer = threading.Timer(0.05, later)
    timer.start()
    lines = run(store, "--follow", "--json", "--lead", "ann@acme.com", polls=3, interval=0.1).splitlines()
    timer.join()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["change", "change", "change"]   # two existing, then the new one
    assert events[-1]["new"] == 80


def test_given_follow_on_runs_when_running_run_finishes_then_printed_once_with_outcome(store):
    timer = threading.Timer(0.05, lambda: store.finish_run(3, NOW, "ok", {"pulled_crm": 1}, {}))
    timer.start()
    lines = run(store, "--follow", polls=3, interval=0.1).splitlines()
    timer.join()
    followed = [line for line in lines if line.startswith("[run]")]
    assert len(followed) == 1 and followed[0].startswith("[run] 3  salesforce") and followed[0].endswith("ok")
