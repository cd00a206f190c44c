"""The state store's batch reads and writes, as a cycle uses them (a page of people at a time,
never everyone at once): same answers as row-by-row, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from connector.core.model import Activity
from connector.state.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def person(i: int, **extra):
    return {"hubspot_id": str(i), "email": f"P{i}@Acme.test", "stage": "lead", "fields": {"n": i}, **extra}


def test_given_a_batch_with_new_known_and_repeated_people_then_each_is_saved_once_with_its_last_values(state_url):
    store = Store(state_url)
    store.save_people([person(1), person(2)], NOW)
    store.save_people([person(2, stage="mql", score=40.0), person(3), person(3, stage="sal")], NOW)
    people = store.people()
    assert sorted(people) == ["1", "2", "3"]
    assert (people["2"]["stage"], people["2"]["score"], people["2"]["fields"]) == ("mql", 40.0, {"n": 2})
    assert people["3"]["stage"] == "sal" and people["1"]["stage"] == "lead"


def test_given_more_ids_than_an_in_list_holds_then_reads_are_chunked_and_complete(state_url):
    store = Store(state_url)
    store.save_people([person(i) for i in range(1, 1201)], NOW)
    ids = [str(i) for i in range(1, 1201)]
    assert len(store.people(ids)) == 1200
    assert [len(chunk) for chunk in store.alive_ids(batch=500)] == [500, 500, 200]
    store.save_people([{"hubspot_id": "7", "deleted": True}], NOW)
    assert sum(len(chunk) for chunk in store.alive_ids()) == 1199
    assert store.known_emails(["p5@acme.test", "p7@acme.test", "nobody@acme.test"]) == {"p5@acme.test", "p7@acme.test"}


def test_given_stages_and_links_then_people_in_reads_only_those(state_url):
    store = Store(state_url)
    store.save_people([person(1, stage="sal", opportunity_id="006A"), person(2, stage="sal"),
                       person(3, stage="lead", opportunity_id="006B"),
                       person(4, stage="mql", crm_id="00QA", handoff_at=NOW - timedelta(days=2))], NOW)
    assert list(store.people_in(("sal", "sql"), having="opportunity_id")) == ["1"]
    assert list(store.people_in(("mql", "sal"), having="crm_id")) == ["4"]
    assert list(store.handed_off_since(NOW - timedelta(days=3))) == ["4"]
    assert store.handed_off_since(NOW - timedelta(days=1)) == {}


def test_given_many_handed_off_people_then_people_in_batches_reads_each_once_with_only_the_columns_asked(state_url):
    store = Store(state_url)
    store.save_people([person(i, stage="sal" if i % 3 else "lead", crm_id=f"00Q{i}", handoff_at=NOW)
                       for i in range(1, 1001)] + [person(1001, stage="sal", crm_id="00Qx", deleted=True)], NOW)
    batches = list(store.people_in_batches(("mql", "sal"), having="crm_id", batch=250,
                                           columns=("crm_id", "handoff_at")))
    assert [len(b) for b in batches] == [250, 250, 167]
    ids = [i for b in batches for i in b]
    assert ids == sorted(ids) and set(ids) == set(store.people_in(("mql", "sal"), having="crm_id"))
    first = batches[0][ids[0]]
    assert set(first) == {"hubspot_id", "crm_id", "handoff_at"} and first["handoff_at"] == NOW
    assert sum(map(len, store.people_in_batches(("sal",), having="opportunity_id", batch=250))) == 0


def test_given_activities_twice_then_stored_once(state_url):
    store = Store(state_url)
    acts = {str(i): [Activity("page_view", NOW, {}, "hubspot", f"e{i}"), Activity("page_view", NOW, {}, "hubspot", f"f{i}")]
            for i in range(1, 700)}
    assert store.add_activities(acts) == 1398
    assert store.add_activities(acts) == 0
    assert len(store.activities(["5"])["5"]) == 2


def test_given_transitions_releases_and_companies_in_batches_then_they_read_back(state_url):
    store = Store(state_url)
    store.add_transitions([{"hubspot_id": "1", "from_stage": None, "to_stage": "mql", "at": NOW, "cause": "qualified",
                            "rule": "r", "definition_version": 1, "run_id": None},
                           {"hubspot_id": "2", "from_stage": "lead", "to_stage": "sal", "at": NOW, "cause": "accepted",
                            "rule": "r", "definition_version": 1, "run_id": None}])
    assert [(t["hubspot_id"], t["to_stage"]) for t in store.transitions()] == [("1", "mql"), ("2", "sal")]
    for key in ("1", "2", "3"):
        store.quarantine(system="hubspot", hubspot_id=key, email=None, operation="write", code="x", reason="r",
                         detail=None, transient=True, now=NOW, next_attempt_at=NOW)
    assert store.release_many("hubspot", ["1", "3", "9"]) == 2
    assert [q.hubspot_id for q in store.quarantined()] == ["2"]
    store.keep_companies({"10": ({"name": "Acme", "numemployees": "100-500"}, NOW), "11": ({"name": "Old"}, None)}, NOW)
    store.keep_companies({"11": ({"name": "New"}, NOW)}, NOW)
    assert store.companies(["10", "11", "12"]) == {"10": {"name": "Acme", "numemployees": "100-500"}, "11": {"name": "New"}}
