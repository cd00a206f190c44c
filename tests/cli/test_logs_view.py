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


def ids(store, kind, f, finished_only=False):
    return [r["id"] for r in store.log_rows(kind, f, finished_only=finished_only)]


# -- queries ---------------------------------------------------------------------------------------

def test_given_runs_when_limited_then_newest_kept_and_listed_oldest_first(store):
    assert ids(store, "runs", L.LogFilter(limit=2)) == [2, 3]
    assert ids(store, "runs", L.LogFilter(), finished_only=True) == [1, 2]


def test_given_since_two_hours_when_querying_then_older_rows_left_out(store):
    f = L.build_filter(store, args("--since", "2h"), NOW)
    assert ids(store, "runs", f) == [2, 3]
    assert ids(store, "changes", f) == [3]


def test_given_lead_email_in_other_case_when_querying_then_that_persons_changes_and_errors(store):
    f = L.build_filter(store, args("--lead", "Bo@Beta.io"), NOW)
    assert ids(store, "changes", f) == [3] and ids(store, "errors", f) == [1]


@pytest.mark.parametrize("account, changes", [("acme.com", [1, 2]), ("C77", [1, 2]), ("001A", [1, 2]),
                                               ("beta.io", [3]), ("nobody.example", []), ("C00", [])])
def test_given_account_as_domain_or_company_or_account_id_when_querying_then_its_changes(store, account, changes):
    f = L.build_filter(store, args("--account", account), NOW)
    assert ids(store, "changes", f) == changes


def test_given_run_id_when_querying_then_only_that_runs_rows(store):
    f = L.build_filter(store, args("--run", "1"), NOW)
    assert (ids(store, "runs", f), ids(store, "changes", f), ids(store, "errors", f)) == ([1], [1, 2], [])


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
    assert set(d) == {"runs", "changes", "errors", "totals"} and d["totals"] == {"runs": 1, "changes": 1, "errors": 1}
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


# -- cut lists, errors by type, export, closed pipes -------------------------------------------------------

def many_changes(store, n=120):
    run_id = store.start_run("sync", ago(minutes=30))
    store.add_changes([change(run_id, ago(minutes=30), f"p{i}@gamma.io", "leadsync_score", i, i + 1, hubspot_id=str(100 + i))
                       for i in range(n)])
    store.finish_run(run_id, ago(minutes=29), "ok", {}, {})
    return run_id


def test_given_more_changes_than_the_limit_when_run_shown_then_it_says_showing_n_of_total(store):
    run_id = many_changes(store)
    text = run(store, "--run", str(run_id), plain=False)
    assert "Changes: showing 50 of 120 (--limit N for more)" in text
    assert json.loads(run(store, "--run", str(run_id), "--json"))["totals"]["changes"] == 120


def test_given_errors_of_two_types_when_listed_then_summary_by_type_and_type_drills_down(store):
    for i in range(3):
        store.add_error(run_id=2, at=ago(minutes=10 + i), kind="quarantined", system="salesforce", hubspot_id=str(10 + i),
                        email=f"q{i}@beta.io", message="write quarantined: Salesforce refused the record: INVALID_FIELD on X__c")
    d = json.loads(run(store, "--errors", "--json"))
    by_type = {g["type"]: g for g in d["errors_by_type"]}
    assert by_type["quarantined: INVALID_FIELD"]["count"] == 3 and by_type["quarantined: INVALID_FIELD"]["people"] == 3
    assert by_type["quarantined"]["count"] == 1
    assert by_type["quarantined: INVALID_FIELD"]["drill_down"] == "leadsync logs --errors --type INVALID_FIELD"
    drilled = json.loads(run(store, "--errors", "--type", "INVALID_FIELD", "--json"))
    assert len(drilled["errors"]) == 3 and drilled["totals"]["errors"] == 3
    assert "Errors by type" in run(store, "--errors", plain=False)


def test_given_csv_when_logs_run_then_every_matching_change_written_regardless_of_limit(store, tmp_path):
    import csv
    run_id = many_changes(store)
    target = tmp_path / "changes.csv"
    run(store, "--run", str(run_id), "--csv", str(target))
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 120 and {r["run_id"] for r in rows} == {str(run_id)}
    assert {"system", "record_id", "email", "field", "old", "new", "rule"} <= set(rows[0])


def test_given_output_piped_to_head_when_reader_closes_then_no_traceback(store, tmp_path):
    import subprocess
    import sys
    many_changes(store, n=3000)
    config = tmp_path / "c.toml"
    config.write_text(f'[state]\nurl = "{store.url}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli.commands", "--config", str(config), "logs",
                             "--limit", "5000", "--account", "gamma.io"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err
