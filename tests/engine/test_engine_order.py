"""The sync engine with in-memory systems: state is saved only after the records it covers.

No HTTP here: fake adapters speaking the adapter protocol, so the ordering rules can be pinned
exactly (cursors after writes, nothing past a cut-short pull, failures quarantined, no-op
cycles write nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connector.ports import LEAD, CrmRecord, Person, WriteOutcome
from connector.core.errors import FatalError, SkippableRecord
from connector.app.runtime import Runtime
from connector.app.config import load_config
from connector.state.store import Store
from connector.engine.cycle import ACTIVITY_CURSOR, HUBSPOT_CURSOR, Engine
from connector.core.model import Activity

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def qualified_person(i: int, modified: datetime) -> Person:
    return Person(str(i), {"email": f"p{i}@acme-robotics.com", "first_name": "P", "last_name": str(i),
                           "company": "Acme Robotics", "title": "VP Engineering", "employees": 400,
                           "industry": "Software", "country": "United States", "wants_sales_contact": True},
                  modified)


class FakeHubSpot:
    name = "hubspot"

    def __init__(self, batches, fail_write_after: int | None = None):
        self.batches, self.writes, self.fail_write_after = batches, [], fail_write_after

    def ensure_schema(self):
        pass

    def missing_schema(self):
        return []

    def changed_people(self, since, until, echoes=None, unmanaged=False):
        staged = {w.key for batch in self.writes for w in batch if "leadsync_stage" in w.values}
        for batch in self.batches:
            yield [p for p in batch if since <= p.modified_at < until and not (unmanaged and p.id in staged)]

    def everyone(self, echoes=None):
        yield from self.batches

    def people(self, ids):
        return [p for batch in self.batches for p in batch if p.id in ids]

    def activities_between(self, since, until):
        """Each person's demo request an hour before NOW, when it falls in [since, until)."""
        demo = NOW - timedelta(hours=1)
        if since <= demo < until:
            yield {p.id: [Activity("meeting_booked", demo, {}, "hubspot",
                                   f"demo-{p.id}")] for batch in self.batches for p in batch}

    def write(self, writes):
        if self.fail_write_after is not None and len(self.writes) >= self.fail_write_after:
            raise FatalError("HubSpot is down")
        self.writes.append(list(writes))
        return WriteOutcome(written={w.key: w.key for w in writes})


class FakeCrm:
    name = "salesforce"

    def __init__(self, failing: set[str] = frozenset()):
        self.failing, self.records, self.upserts = failing, {}, 0

    def changed_records(self, since, until, unlinked=False):
        return iter(())

    def find_records(self, **kw):
        return []

    def accounts_by_domain(self, domains):
        return {}

    def touches(self, records, since):
        return {}

    def opportunities(self, ids):
        return {}

    def upsert(self, writes):
        self.upserts += 1
        outcome = WriteOutcome()
        for w in writes:
            if w.key in self.failing:
                outcome.failed[w.key] = SkippableRecord("Company: required field missing", code="REQUIRED_FIELD_MISSING")
            else:
                self.records[w.key] = dict(w.values)
                outcome.written[w.key] = f"00Q{w.key}"
        return outcome

    def update(self, writes):
        return WriteOutcome(written={w.key: w.record_id for w in writes})

    def follow_up(self, tasks):
        self.follow_ups = getattr(self, "follow_ups", 0) + len(tasks)
        return WriteOutcome(written={t.key: "00T" for t in tasks})

    def planned_values(self, write):
        return dict(write.values)

    def convert(self, ids, **kw):
        return WriteOutcome()


@pytest.fixture
def engine_for(sqlite_url):
    rt = Runtime.from_config(load_config("config.example.toml"), connect=False)

    def build(hubspot, crm, stopping=lambda: False):
        return Engine(store=Store(sqlite_url), marketing=hubspot, crm=crm, definition=rt.definition,
                      maps=rt.write_maps(), feedback=rt.feedback_rules(), handoff=rt.handoff_rules(),
                      clock=lambda: NOW, stopping=stopping,
                      # The incremental (windowed) pull: a first run without it reads everyone by id.
                      first_run_since=timedelta(days=365))
    return build


def test_given_two_batches_when_synced_then_cursor_reaches_cycle_start_and_rerun_writes_nothing(engine_for):
    hubspot = FakeHubSpot([[qualified_person(1, NOW - timedelta(hours=3))], [qualified_person(2, NOW - timedelta(hours=2))]])
    crm = FakeCrm()
    engine = engine_for(hubspot, crm)
    summary = engine.cycle(legs=("marketing",))
    assert summary.counts["handed_off"] == 2 and set(crm.records) == {"1", "2"}
    assert engine.store.cursor(HUBSPOT_CURSOR) == NOW
    writes_before = len(hubspot.writes)
    again = engine.cycle(legs=("marketing",))
    assert len(hubspot.writes) == writes_before and crm.upserts == 2
    assert again.counts["written_hubspot"] == again.counts["written_crm"] == 0


def test_given_crash_while_writing_second_batch_then_cursor_covers_only_the_first(engine_for):
    hubspot = FakeHubSpot([[qualified_person(1, NOW - timedelta(hours=3))], [qualified_person(2, NOW - timedelta(hours=2))]],
                          fail_write_after=1)
    engine = engine_for(hubspot, FakeCrm())
    with pytest.raises(FatalError):
        engine.cycle(legs=("marketing",))
    assert engine.store.cursor(HUBSPOT_CURSOR) == NOW - timedelta(hours=3)
    assert engine.store.cursor(ACTIVITY_CURSOR) is None
    # Person 2's handoff reached the CRM before HubSpot failed, but nothing of it was recorded:
    # the rerun hands it off again, onto the same record (upserted on the external id).
    assert "2" not in engine.store.people()


def test_given_daemon_stopping_after_first_batch_then_cursor_stays_at_that_batch(engine_for):
    stopping = {"now": False}

    class StopAfterFirst(FakeHubSpot):
        """SIGTERM arrives while the first batch is being written (the pull reads ahead, so
        the second batch may be read already: it must not be handled)."""

        def write(self, writes):
            outcome = super().write(writes)
            stopping["now"] = True
            return outcome

    hubspot = StopAfterFirst([[qualified_person(1, NOW - timedelta(hours=3))], [qualified_person(2, NOW - timedelta(hours=2))]])
    engine = engine_for(hubspot, FakeCrm(), stopping=lambda: stopping["now"])
    engine.cycle(legs=("marketing",))
    assert engine.store.cursor(HUBSPOT_CURSOR) == NOW - timedelta(hours=3), "not the cycle start: batch 2 was never handled"
    assert [w.key for batch in hubspot.writes for w in batch] == ["1"]


def test_given_handoff_rejected_by_crm_then_quarantined_and_hubspot_not_told_it_reached_sales(engine_for):
    hubspot = FakeHubSpot([[qualified_person(1, NOW - timedelta(hours=3)), qualified_person(2, NOW - timedelta(hours=3))]])
    engine = engine_for(hubspot, FakeCrm(failing={"2"}))
    summary = engine.cycle(legs=("marketing",))
    assert summary.outcome == "partial" and summary.counts["quarantined"] == 1
    people = engine.store.people()
    assert (people["1"]["stage"], people["2"]["stage"]) == ("mql", "subscriber")
    [entry] = engine.store.quarantined()
    assert (entry.hubspot_id, entry.code, entry.operation) == ("2", "REQUIRED_FIELD_MISSING", "handoff")
    written_keys = {w.key for batch in hubspot.writes for w in batch}
    assert written_keys == {"1"}


def test_given_qualified_people_when_reconciled_again_then_qualified_counts_only_new_ones(engine_for):
    hubspot = FakeHubSpot([[qualified_person(1, NOW - timedelta(hours=3)), qualified_person(2, NOW - timedelta(hours=3))]])
    engine = engine_for(hubspot, FakeCrm())
    assert engine.cycle(legs=("marketing",)).counts["qualified"] == 2
    quiet = engine.reconcile()
    assert quiet.counts["pulled_hubspot"] == 2 and quiet.counts["qualified"] == 0


def test_given_a_misnamed_leg_when_cycled_then_it_is_refused_not_silently_skipped(engine_for):
    engine = engine_for(FakeHubSpot([[qualified_person(1, NOW - timedelta(hours=3))]]), FakeCrm())
    with pytest.raises(ValueError, match="unknown leg"):
        engine.cycle(legs=("hubspot",))


def test_given_a_lead_carrying_a_merged_away_contacts_id_then_the_survivor_starts_where_sales_has_it(engine_for):
    """On a first run a person is adopted when the marketing pass meets them: a Lead sales is
    working, linked by an earlier connector to a contact since merged into this one, is theirs
    from the start (not found only after they were judged without it)."""
    from dataclasses import replace
    small = replace(qualified_person(1, NOW - timedelta(hours=3)), aliases=("99",))
    small = replace(small, fields={**small.fields, "employees": 20})           # fails the size rule
    worked = CrmRecord("00QW", LEAD, "p1@acme-robotics.com", "99", "Working - Contacted", "005A", {},
                       NOW - timedelta(days=3), stage="sal")

    class OrgWithALead(FakeCrm):
        def changed_records(self, since, until, unlinked=False):
            return iter([[worked]])
    engine = engine_for(FakeHubSpot([[small]]), OrgWithALead())
    engine.cycle()
    stored = engine.store.people(["1"])["1"]
    assert (stored["stage"], stored["crm_id"]) == ("sal", "00QW")


def test_given_a_batch_with_writes_to_both_systems_then_hubspots_go_out_while_the_crms_are_made(engine_for):
    """HubSpot's writes wait for nothing in the CRM but a handoff: they are sent beside the
    CRM's record updates, and the batch is recorded once both have answered."""
    import threading

    hubspot_started = threading.Event()

    class Watched(FakeHubSpot):
        def write(self, writes):
            hubspot_started.set()
            return super().write(writes)

    class SlowCrm(FakeCrm):
        overlapped: list[bool] = []

        def update(self, writes):
            self.overlapped.append(hubspot_started.wait(timeout=5))
            return super().update(writes)

    first = qualified_person(1, NOW - timedelta(hours=3))
    hubspot, crm = Watched([[first]]), SlowCrm()
    engine = engine_for(hubspot, crm)
    assert engine.cycle(legs=("marketing",)).counts["handed_off"] == 1
    # Marketing changes the industry: the score drops, and both systems get the new one.
    hubspot.batches = [[Person("1", {**first.fields, "industry": "Retail"}, NOW - timedelta(seconds=10))]]
    hubspot_started.clear()
    summary = engine.cycle(legs=("marketing",))
    assert crm.overlapped == [True]
    assert summary.counts["written_hubspot"] == 1 and summary.counts["written_crm"] == 1
    assert engine.store.people()["1"]["score"] == float(hubspot.writes[-1][0].values["leadsync_score"])


def test_given_two_batches_then_the_second_is_prepared_while_the_first_is_written(engine_for):
    """A pass writes one batch while it adopts and qualifies the next (they hold different
    people); the writes still go out in order and the cursor ends at the second batch."""
    import threading

    second_prepared = threading.Event()

    class Watched(FakeHubSpot):
        overlapped: list[bool] = []

        def write(self, writes):
            if any(w.key == "1" for w in writes):
                self.overlapped.append(second_prepared.wait(timeout=5))
            return super().write(writes)

    class Crm(FakeCrm):
        def find_records(self, **kw):
            if "p2@acme-robotics.com" in (kw.get("emails") or []):
                second_prepared.set()    # person 2 is being adopted
            return []

    hubspot = Watched([[qualified_person(1, NOW - timedelta(hours=3))], [qualified_person(2, NOW - timedelta(hours=2))]])
    engine = engine_for(hubspot, Crm())
    summary = engine.cycle(legs=("marketing",))
    assert hubspot.overlapped == [True]
    assert [w.key for batch in hubspot.writes for w in batch] == ["1", "2"]
    assert summary.counts["written_hubspot"] == 2
    assert engine.store.cursor(HUBSPOT_CURSOR) == NOW


def test_given_a_first_run_then_the_activity_feed_is_read_while_the_crm_records_are(engine_for):
    """HubSpot's activities (its ten-second window) and the CRM's records (another system) are
    read at once on a first run, and every person is still qualified on their activities."""
    import threading

    feed_started = threading.Event()

    class Watched(FakeHubSpot):
        def activities_between(self, since, until):
            feed_started.set()
            yield from super().activities_between(since, until)

    class Org(FakeCrm):
        overlapped: list[bool] = []

        def changed_records(self, since, until, unlinked=False):
            self.overlapped.append(feed_started.wait(timeout=5))
            return iter(())

    crm = Org()
    engine = engine_for(Watched([[qualified_person(1, NOW - timedelta(hours=3))]]), crm)
    summary = engine.cycle()
    assert crm.overlapped == [True]
    assert summary.counts["activities"] == 1 and summary.counts["handed_off"] == 1


def test_given_more_people_with_activities_than_a_batch_outside_the_pass_then_each_is_read_and_processed_once(engine_for):
    """People with new activities whom the pass does not meet (changed before its window) are
    read and qualified a batch at a time, each once, before the activity cursor moves."""
    from connector.engine.cycle import ADOPTION_BATCH

    class Counted(FakeHubSpot):
        reads: list[list[str]] = []

        def people(self, ids):
            self.reads.append(list(ids))
            return super().people(ids)

    long_ago = NOW - timedelta(days=400)       # before first_run_since: the pass reads nobody
    hubspot = Counted([[qualified_person(i, long_ago) for i in range(1, ADOPTION_BATCH * 2 + 101)]])
    engine = engine_for(hubspot, FakeCrm())
    summary = engine.cycle(legs=("marketing",))
    assert [len(ids) for ids in hubspot.reads] == [ADOPTION_BATCH, ADOPTION_BATCH, 100]
    read = [i for ids in hubspot.reads for i in ids]
    assert sorted(read) == sorted(str(i) for i in range(1, ADOPTION_BATCH * 2 + 101)) and len(set(read)) == len(read)
    assert summary.counts["pulled_hubspot"] == len(read) == summary.counts["handed_off"]
    assert engine.store.cursor(ACTIVITY_CURSOR) == NOW


def test_given_handed_off_people_in_several_store_batches_then_touches_are_read_once_and_opportunities_per_batch(
        engine_for, monkeypatch):
    """Sales' people are read from the store a batch at a time: their opportunities are read per
    batch, their touches in one CRM read for all (since the earliest handoff)."""
    from connector.engine import cycle

    class Watched(FakeCrm):
        touched: list[tuple[list[str], datetime]] = []
        asked: list[list[str]] = []

        def touches(self, records, since):
            self.touched.append(([r.id for r in records], since))
            return {"00Q3": [Activity("sales_touch", NOW - timedelta(hours=1), {"kind": "call"}, "salesforce", "00T1")]}

        def opportunities(self, ids):
            self.asked.append(list(ids))
            return {}

    monkeypatch.setattr(cycle, "HANDED_OFF_BATCH", 2)
    crm = Watched()
    engine = engine_for(FakeHubSpot([]), crm)
    engine.store.save_people([{"hubspot_id": str(i), "email": f"p{i}@acme.test", "stage": "sal", "crm_id": f"00Q{i}",
                               "crm_object": LEAD, "opportunity_id": f"006{i}",
                               "handoff_at": NOW - timedelta(days=i)} for i in range(1, 6)], NOW)
    summary = engine.cycle(legs=("crm",))
    assert [len(ids) for ids in crm.asked] == [2, 2, 1] and sorted(sum(crm.asked, [])) == [f"006{i}" for i in range(1, 6)]
    [(record_ids, since)] = crm.touched
    assert sorted(record_ids) == [f"00Q{i}" for i in range(1, 6)] and since == NOW - timedelta(days=5)
    assert summary.counts["activities"] == 1
    assert [a.id for a in engine.store.activities(["3"], since=NOW - timedelta(days=1))["3"]] == ["00T1"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_given_a_first_run_then_the_opportunities_its_records_name_are_read_once_in_batches_and_adopted_from(
        engine_for, monkeypatch, dry_run):
    """A first run reads the opportunities its CRM records name once, when every record is in (a
    batch of ids per query), keeps them for the run (the store; memory in a dry run) and adopts
    each person from theirs, asking the CRM nothing more; a dry run leaves none in the store."""
    from connector.engine import waiting
    from connector.ports import Opportunity
    from connector.state import schema

    stages = {"0061": ("Prospecting", False, False), "0062": ("Closed Won", True, True),
              "0063": ("Closed Lost", True, False), "0064": ("Negotiation", False, False)}
    records = [CrmRecord(f"00Q{i}", LEAD, f"p{i}@acme-robotics.com", str(i), "Qualified", "005A", {},
                         NOW - timedelta(days=3), is_converted=True, opportunity_id=f"006{i}", stage="sql")
               for i in range(1, 5)]
    records.append(CrmRecord("00Q5", LEAD, "p5@acme-robotics.com", "5", "Qualified", "005A", {},
                             NOW - timedelta(days=3), is_converted=True, opportunity_id="0069", stage="sql"))

    class Org(FakeCrm):
        asked: list[list[str]] = []

        def changed_records(self, since, until, unlinked=False):
            return iter([records[:2], records[2:]])

        def opportunities(self, ids):
            self.asked.append(list(ids))
            return {i: Opportunity(i, stage, 1000.0, None, closed, won, "001A", NOW)
                    for i in ids if i in stages for stage, closed, won in [stages[i]]}

    monkeypatch.setattr(waiting, "OPPORTUNITY_BATCH", 2)
    crm = Org()
    people = [qualified_person(i, NOW - timedelta(hours=3)) for i in range(1, 6)]
    engine = engine_for(FakeHubSpot([people[:3], people[3:]]), crm)
    engine.dry_run = dry_run
    engine.cycle()
    # Each id once, in batches, before anyone is adopted ("0069": the CRM has none; not asked again).
    assert crm.asked == [["0061", "0062"], ["0063", "0064"], ["0069"]]
    moves = engine.planned_transitions if dry_run else engine.store.transitions()
    assert {t["hubspot_id"]: t.get("to_stage", t.get("to")) for t in moves if t["cause"] == "adoption"} == {
        "1": "opportunity", "2": "customer", "3": "recycled", "4": "opportunity", "5": "sql"}
    with engine.store.engine.connect() as conn:
        assert conn.execute(schema.crm_opportunities.select()).fetchall() == []
    if dry_run:
        assert engine.store.people() == {}
