"""A first run's CRM records wait in the state store for their person, not in memory: the same
records come back (times and all), each taken once, and a run's rows go with it."""

from __future__ import annotations

from datetime import date, datetime, timezone

from connector.core.records import CrmRecord
from connector.engine.waiting import StoredWaiting, WaitingInMemory
from connector.ports import CONTACT, LEAD
from connector.state.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def record(i: int, hubspot_id: str | None, email: str | None = None, **extra) -> CrmRecord:
    return CrmRecord(id=f"00Q{i:04d}", kind=LEAD if i % 2 else CONTACT, email=email, hubspot_id=hubspot_id,
                     status="Working - Contacted", owner_id="005A", modified_at=NOW,
                     fields={"bant_budget": True, "phone": None, "employees": 120, "met": date(2026, 11, 2),
                             "called": NOW}, written={"Leadsync_Score__c": 61.0}, notes=("a note",), **extra)


def rooms(url: str):
    store = Store(url)
    return [StoredWaiting(store, store.start_run("sync", NOW)), WaitingInMemory()]


def test_given_records_waiting_then_each_is_taken_once_by_its_id_and_comes_back_the_same(state_url):
    for room in rooms(state_url):
        one, two, three = record(1, "51", opportunity_id="006X"), record(2, "51"), record(3, "52")
        room.add([one, two, three, record(4, None, "Twin@Acme.com"), record(5, None, None)])
        assert room.take(["51", "51", "99"]) == {"51": [one, two]}
        assert room.take(["51"]) == {}
        assert [r.id for batch in room.left_with_id(10) for r in batch] == [three.id]
        assert list(room.left_with_id(10)) == []
        room.close()


def test_given_records_without_an_id_then_they_match_by_email_and_stay(state_url):
    for room in rooms(state_url):
        twin = record(4, None, "Twin@Acme.com")
        room.add([twin, record(6, None, "other@acme.com")])
        assert room.without_id(["twin@acme.com", "nobody@acme.com"]) == {"twin@acme.com": [twin]}
        assert room.without_id(["twin@acme.com"]) == {"twin@acme.com": [twin]}
        assert [[r.id for r in b] for b in room.left_without_id(1)] == [["00Q0004"], ["00Q0006"]]
        assert [[r.id for r in b] for b in room.left_without_id(5)] == [["00Q0004", "00Q0006"]]
        room.close()


def test_given_a_run_cut_short_then_the_next_run_starts_with_an_empty_waiting_room(state_url):
    store = Store(state_url)
    cut_short = StoredWaiting(store, store.start_run("sync", NOW))
    cut_short.add([record(1, "51")])                  # (the process died here: no close)
    following = StoredWaiting(store, store.start_run("sync", NOW))
    assert following.take(["51"]) == {} and cut_short.take(["51"]) == {}
    following.add([record(2, "52")])
    following.close()
    assert StoredWaiting(store, store.start_run("sync", NOW)).take(["52"]) == {}


def test_given_a_record_with_an_id_sharing_an_email_then_only_the_id_less_match_by_email(state_url):
    for room in rooms(state_url):
        twin, linked = record(4, None, "twin@acme.com"), record(7, "53", "twin@acme.com")
        room.add([linked, twin])
        assert room.without_id(["twin@acme.com"]) == {"twin@acme.com": [twin]}
        assert room.take(["53"]) == {"53": [linked]}
        room.close()


def test_given_a_large_run_waiting_then_lookups_use_the_run_s_indexes_not_its_every_record(sqlite_url):
    """SQLite has no statistics here: led by the primary key's run_id, each lookup would read
    every record of the run (a first run's tens of thousands, once per page of people)."""
    from sqlalchemy import event, text
    store = Store(sqlite_url)
    room = StoredWaiting(store, store.start_run("sync", NOW))
    room.add([record(i, str(i) if i % 3 else None, f"p{i}@acme.com") for i in range(1, 300)])
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "DELETE")) and "crm_waiting" in statement:
            statements.append((statement, parameters))
    event.listen(store.engine, "before_cursor_execute", keep)
    room.take(["1", "2"])
    room.without_id(["p3@acme.com", "p6@acme.com"])
    event.remove(store.engine, "before_cursor_execute", keep)
    assert len(statements) == 3
    with store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
            assert "ix_crm_waiting_run_" in plan, (statement, plan)
    room.close()


def test_given_a_store_from_before_the_run_indexes_when_opened_then_its_lookups_are_indexed(sqlite_url):
    from sqlalchemy import inspect, text
    store = Store(sqlite_url)
    with store.engine.begin() as conn:     # the waiting room as version 5 made it
        for index in ("ix_crm_waiting_run_hubspot_id", "ix_crm_waiting_run_email"):
            conn.execute(text(f"DROP INDEX {index}"))
        conn.execute(text("CREATE INDEX ix_crm_waiting_hubspot_id ON crm_waiting (hubspot_id)"))
        conn.execute(text("CREATE INDEX ix_crm_waiting_email ON crm_waiting (email)"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 5"))
    store.close()
    reopened = Store(sqlite_url)
    with reopened.engine.connect() as conn:
        names = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("crm_waiting")}
    assert names == {"ix_crm_waiting_run_hubspot_id": ["run_id", "hubspot_id"],
                     "ix_crm_waiting_run_email": ["run_id", "email"]}


def test_given_records_naming_opportunities_then_each_is_read_once_in_batches_and_kept_the_same(state_url, monkeypatch):
    from connector.engine import waiting
    from connector.ports import Opportunity

    monkeypatch.setattr(waiting, "OPPORTUNITY_BATCH", 2)
    won = {f"006{i}": Opportunity(f"006{i}", "Closed Won", 1200.5, "2026-10-01", True, True, "001A", NOW)
           for i in (1, 2, 4)}
    for room in rooms(state_url):
        asked: list[list[str]] = []

        def read(ids):
            asked.append(list(ids))
            return {i: won[i] for i in ids if i in won}
        room.add([record(1, "51", opportunity_id="0064"), record(2, "52", opportunity_id="0061"),
                  record(3, None, "twin@acme.com", opportunity_id="0061"), record(4, "53", opportunity_id="0063"),
                  record(5, None, None, opportunity_id="0065"), record(6, "54", opportunity_id="0062")])
        room.read_opportunities(read)
        # Sorted, each once; a record nobody can be matched to (no id, no email) names none worth reading.
        assert asked == [["0061", "0062"], ["0063", "0064"]]
        assert room.opportunities(["0061", "0063", "0064", "0069"]) == {"0061": won["0061"], "0063": None,
                                                                      "0064": won["0064"]}
        room.take(["51", "52", "53", "54"])
        assert room.opportunities(["0062"]) == {"0062": won["0062"]}     # kept for the run, not with the record
        room.close()
        assert room.opportunities(["0061"]) == {}


def test_given_another_runs_opportunities_then_a_run_sees_only_its_own(state_url):
    from connector.ports import Opportunity

    store = Store(state_url)
    mine = Opportunity("0061", "Prospecting", None, None, False, False, None, NOW)
    cut_short = StoredWaiting(store, store.start_run("sync", NOW))
    cut_short.add([record(1, "51", opportunity_id="0061")])
    cut_short.read_opportunities(lambda ids: {"0061": mine})
    following = StoredWaiting(store, store.start_run("sync", NOW))
    assert following.opportunities(["0061"]) == {} and cut_short.opportunities(["0061"]) == {}
    following.add([record(2, "52", opportunity_id="0061")])
    following.read_opportunities(lambda ids: {})
    assert following.opportunities(["0061"]) == {"0061": None}


def test_given_a_store_from_before_the_opportunities_were_kept_then_opening_it_adds_them(state_url):
    from sqlalchemy import text

    from connector.state.schema import LATEST

    old = Store(state_url)
    with old.engine.begin() as conn:      # as version 6 left it
        conn.execute(text("DROP TABLE crm_opportunities"))
        conn.execute(text("ALTER TABLE crm_waiting DROP COLUMN opportunity_id"))
        conn.execute(text("DELETE FROM schema_version WHERE version = 7"))
    old.close()
    store = Store(state_url)
    assert store.version == LATEST
    room = StoredWaiting(store, store.start_run("sync", NOW))
    room.add([record(1, "51", opportunity_id="0061")])
    room.read_opportunities(lambda ids: {})
    assert room.opportunities(["0061"]) == {"0061": None}
