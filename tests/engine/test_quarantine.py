"""Quarantine with in-memory systems: a bad record waits, the rest of the sync goes on, and
only transient failures come back by themselves (after their backoff)."""

from __future__ import annotations

from datetime import timedelta

from connector.core.errors import SkippableRecord
from connector.ports import WriteOutcome
from tests.engine.test_engine_order import NOW, FakeCrm, FakeHubSpot, engine_for, qualified_person  # noqa: F401


class FlakyCrm(FakeCrm):
    """Refuses the handoff of some keys, transiently (a locked row) or for good (a rule)."""

    def __init__(self, locked=frozenset(), refused=frozenset()):
        super().__init__()
        self.locked, self.refused, self.attempts = set(locked), set(refused), []

    def upsert(self, writes):
        outcome = WriteOutcome()
        for w in writes:
            self.attempts.append(w.key)
            if w.key in self.locked:
                outcome.failed[w.key] = SkippableRecord("unable to obtain exclusive access", code="UNABLE_TO_LOCK_ROW",
                                                        transient=True)
            elif w.key in self.refused:
                outcome.failed[w.key] = SkippableRecord("Company: required field missing",
                                                        code="REQUIRED_FIELD_MISSING")
            else:
                self.records[w.key] = dict(w.values)
                outcome.written[w.key] = f"00Q{w.key}"
        return outcome


def people():
    return [[qualified_person(i, NOW - timedelta(hours=3)) for i in (1, 2, 3)]]


def test_given_a_locked_row_then_it_is_retried_only_after_its_backoff_and_then_released(engine_for):
    hubspot, crm = FakeHubSpot(people()), FlakyCrm(locked={"2"})
    engine = engine_for(hubspot, crm)
    first = engine.cycle(legs=("marketing",))
    assert first.counts["handed_off"] == 2 and first.counts["quarantined"] == 1
    assert engine.store.people()["2"]["stage"] == "subscriber"
    [entry] = engine.store.quarantined()
    assert entry.transient and entry.next_attempt_at == NOW + timedelta(minutes=1)
    engine.cycle(legs=("marketing",))                      # still inside the backoff: not retried
    assert crm.attempts.count("2") == 1
    crm.locked.clear()
    engine.clock = lambda: NOW + timedelta(minutes=2)
    later = engine.cycle(legs=("marketing",))
    assert crm.attempts.count("2") == 2 and later.counts["handed_off"] == 1
    assert engine.store.people()["2"]["stage"] == "mql" and engine.store.quarantined() == []


def test_given_a_permanent_refusal_then_it_waits_for_a_person_and_the_others_go_on(engine_for):
    hubspot, crm = FakeHubSpot(people()), FlakyCrm(refused={"3"})
    engine = engine_for(hubspot, crm)
    first = engine.cycle(legs=("marketing",))
    assert set(crm.records) == {"1", "2"} and first.counts["quarantined"] == 1
    [entry] = engine.store.quarantined()
    assert not entry.transient and entry.next_attempt_at is None and "Company" in entry.reason
    for hours in (1, 24):                                   # however long it waits, no retry by itself
        engine.clock = lambda h=hours: NOW + timedelta(hours=h)
        engine.cycle(legs=("marketing",))
    assert crm.attempts.count("3") == 1
    assert engine.store.people()["3"]["stage"] == "subscriber"
