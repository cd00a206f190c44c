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
