"""The state store, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from connector.core.model import Activity
from connector.state.store import LockHeld, Store
from connector.state.schema import LATEST

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def test_given_new_store_when_opened_then_migrated_to_latest_and_reopening_is_a_no_op(state_url):
    assert Store(state_url).version == LATEST
    assert Store(state_url).version == LATEST


def test_given_cursor_when_set_then_read_back_as_utc(state_url):
    store = Store(state_url)
    assert store.cursor("hubspot.people") is None
    store.set_cursor("hubspot.people", NOW, NOW)
    store.set_cursor("hubspot.people", NOW + timedelta(seconds=5), NOW)
    assert store.cursor("hubspot.people") == NOW + timedelta(seconds=5)
    assert store.cursor("hubspot.people").tzinfo is not None


def test_given_same_activity_twice_when_added_then_stored_once(state_url):
    store = Store(state_url)
    a = Activity("page_view", NOW, {"url": "https://x/pricing"}, "hubspot", "ev1")
    assert store.add_activities({"1": [a, a]}) == 1
    assert store.add_activities({"1": [a]}) == 0
    assert store.activities(["1"])["1"][0].attrs == {"url": "https://x/pricing"}
    assert store.activities(["1"], since=NOW + timedelta(seconds=1))["1"] == []


def test_given_person_when_saved_twice_then_updated_in_place(state_url):
    store = Store(state_url)
    store.save_people([{"hubspot_id": "7", "email": "Ann@Acme.io", "email_domain": "acme.io", "stage": "lead",
                        "fields": {"title": "CTO"}}], NOW)
    store.save_people([{"hubspot_id": "7", "stage": "mql", "handoff_at": NOW}], NOW)
    person = store.people(["7"])["7"]
    assert (person["stage"], person["fields"], person["handoff_at"]) == ("mql", {"title": "CTO"}, NOW)
    assert [p["hubspot_id"] for p in store.find_people(email="ann@acme.io")] == ["7"]
    assert [p["hubspot_id"] for p in store.find_people(domain="ACME.io")] == ["7"]


def test_given_written_values_when_recorded_then_read_per_record(state_url):
    store = Store(state_url)
    store.record_written("hubspot", "7", {"leadsync_score": "85", "leadsync_stage": "mql"}, NOW)
    store.record_written("hubspot", "7", {"leadsync_score": "90"}, NOW)
    assert store.written("hubspot", ["7"]) == {"7": {"leadsync_score": "90", "leadsync_stage": "mql"}}


def test_given_transient_failure_when_quarantined_twice_then_attempts_count_and_due_time_applies(state_url):
    store = Store(state_url)
    for _ in range(2):
        store.quarantine(system="salesforce", hubspot_id="7", email="a@b.io", operation="handoff",
                         code="UNABLE_TO_LOCK_ROW", reason="locked", detail=None, transient=True, now=NOW,
                         next_attempt_at=NOW + timedelta(minutes=5))
    [entry] = store.quarantined()
    assert entry.attempts == 2
    assert store.quarantined(due_at=NOW) == []
    assert len(store.quarantined(due_at=NOW + timedelta(minutes=5))) == 1
    assert store.release(system="salesforce", hubspot_id="7") == 1


def test_given_run_when_finished_then_counts_kept_and_old_runs_pruned(state_url):
    store = Store(state_url)
    run = store.start_run("sync", NOW - timedelta(days=100))
    store.finish_run(run, NOW - timedelta(days=100), "ok", {"handed_off": 3}, {"hubspot": {"calls": 9}})
    store.add_changes([{"run_id": run, "at": NOW - timedelta(days=100), "system": "hubspot", "field": "x", "new": 1}])
    assert store.prune(NOW - timedelta(days=90)) == {"changes": 1, "errors": 0, "runs": 1}


def test_given_lock_held_when_another_process_tries_then_refused(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    code = ("import sys; from connector.state.store import Store, LockHeld\n"
            f"s = Store({sqlite_url!r})\n"
            "try:\n    ctx = s.cycle_lock(); ctx.__enter__(); print('acquired')\n"
            "except LockHeld: print('refused')\n")
    with store.cycle_lock():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
        assert out.strip() == "refused"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "acquired"


def test_given_lock_holder_killed_when_next_process_tries_then_lock_is_free(sqlite_url):
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time; from connector.state.store import Store\n"
                               f"s = Store({sqlite_url!r}); c = s.cycle_lock(); c.__enter__(); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld):
            with Store(sqlite_url).cycle_lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with Store(sqlite_url).cycle_lock():
        pass


def test_given_new_store_when_four_processes_open_it_at_once_then_all_migrate_cleanly(state_url):
    code = f"from connector.state.store import Store; print(Store({state_url!r}).version)"
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err for _, err in results]
    assert {out.strip() for out, _ in results} == {str(LATEST)}


def test_given_two_threads_writing_to_sqlite_at_once_then_they_take_turns_without_sqlite_s_busy_waits(sqlite_url):
    """With SQLite's busy handler off, a writer meeting another thread's transaction fails at
    once ("database is locked"): none does, because this process's writers queue on a lock of
    their own (SQLite's handler would make them sleep instead)."""
    import threading
    from sqlalchemy import event
    store = Store(sqlite_url)
    store.close()   # connections made from here on have no busy handler

    def no_busy_handler(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA busy_timeout=0")
    event.listen(store.engine, "connect", no_busy_handler)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for n in range(150):
                store.record_written("hubspot", f"{name}{n}", {"leadsync_score": n, "leadsync_stage": "lead"}, NOW)
        except BaseException as error:   # (asserted below)
            errors.append(error)
    threads = [threading.Thread(target=write, args=(name,)) for name in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.written("hubspot", [f"{x}{n}" for x in "ab" for n in range(150)])) == 300


def test_given_a_batch_when_it_fails_midway_then_nothing_of_it_is_kept_and_a_whole_one_is(state_url):
    store = Store(state_url)
    with pytest.raises(RuntimeError):
        with store.batch():
            store.record_written("hubspot", "51", {"leadsync_score": 61}, NOW)
            store.set_cursor("hubspot.people", NOW, NOW)
            raise RuntimeError("killed between the values and the people")
    assert store.written("hubspot", ["51"]) == {} and store.cursor("hubspot.people") is None
    with store.batch():
        store.record_written("hubspot", "51", {"leadsync_score": 61}, NOW)
        with store.batch():      # (inside one already: the same transaction)
            store.set_cursor("hubspot.people", NOW, NOW)
    assert store.written("hubspot", ["51"])["51"]["leadsync_score"] == 61
    assert store.cursor("hubspot.people") == NOW


def test_given_a_change_log_and_values_written_then_they_read_back_as_sqlalchemy_itself_would_store_them(state_url):
    """The bulk insert of a batch's change log and values (its own path on SQLite) keeps every
    value as a plain SQLAlchemy insert does: None, numbers, text, JSON objects, times."""
    from sqlalchemy import insert
    from connector.state import schema
    from connector.state.store import json_safe
    fast, plain = Store(state_url), Store(state_url.replace("state.db", "plain.db")) if "sqlite" in state_url else None
    values = [None, 61.5, 0, "", "Pricing page ×2", {"a": [1, None, "x"]}, [], True, NOW]
    rows = [{"run_id": 1, "at": NOW + timedelta(seconds=n), "hubspot_id": str(n), "email": None if n % 2 else f"p{n}@acme.com",
             "account": "acme.com", "system": "hubspot", "record_id": str(n), "field": f"f{n}", "old": old,
             "new": values[(n + 1) % len(values)], "rule": None, "definition_version": n or None}
            for n, old in enumerate(values)]
    fast.add_changes(rows)
    fast.record_written_many("hubspot", {str(n): {"leadsync_score": v, "leadsync_reason": "r"} for n, v in enumerate(values)}, NOW)
    if plain is None:
        return   # (PostgreSQL takes SQLAlchemy's own path)
    with plain.engine.begin() as conn:
        conn.execute(insert(schema.changes), [{**r, "old": json_safe(r["old"]), "new": json_safe(r["new"])} for r in rows])
        conn.execute(insert(schema.written), [{"system": "hubspot", "record_id": str(n), "field": f, "value": json_safe(v),
                                               "written_at": NOW}
                                              for n, v in enumerate(values) for f, v in (("leadsync_score", v),
                                                                                         ("leadsync_reason", "r"))])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]   # noqa: E731
    assert strip(fast.changes_of_run(1)) == strip(plain.changes_of_run(1))
    ids = [str(n) for n in range(len(values))]
    assert fast.written("hubspot", ids) == plain.written("hubspot", ids)
    with fast.engine.connect() as a, plain.engine.connect() as b:   # the very same stored text
        assert list(a.exec_driver_sql("SELECT at, old, new FROM changes ORDER BY id")) == \
            list(b.exec_driver_sql("SELECT at, old, new FROM changes ORDER BY id"))
