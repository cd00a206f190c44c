"""Reconciliation concludes "deleted" or "merged" only on proof from the platform, never from a
person's absence in a pass; a merge moves leadsync's state to the survivor."""

from __future__ import annotations

from datetime import timedelta

from tests.engine.test_engine_order import NOW, FakeCrm, FakeHubSpot, engine_for, qualified_person  # noqa: F401


class Locating(FakeHubSpot):
    """A full pass that returns only ``listed``; ``where`` is what a batch read proves."""

    def __init__(self, batches, listed, where):
        super().__init__(batches)
        self.listed, self.where, self.located = listed, where, []

    def everyone(self, echoes=None):
        yield [p for batch in self.batches for p in batch if p.id in self.listed]

    def activities_between(self, since, until):
        for chunk in super().activities_between(since, until):
            yield {k: v for k, v in chunk.items() if k in self.listed}

    def locate(self, ids):
        self.located.append(sorted(ids))
        return {i: self.where[i] for i in ids if i in self.where}


def test_given_people_missing_from_a_full_pass_then_only_proven_deletes_and_merges_are_acted_on(engine_for):
    people = [qualified_person(i, NOW - timedelta(hours=3)) for i in range(1, 7)]
    hubspot = FakeHubSpot([people])
    engine = engine_for(hubspot, FakeCrm())
    engine.cycle(legs=("marketing",))
    before = engine.store.people()
    assert set(before) == {"1", "2", "3", "4", "5", "6"}

    # 1 listed; 2 deleted (404); 3 merged into 1; 4 alive though the pass missed it (index
    # behind); 5 the platform says nothing definite about; 6 merged into 9, which the pass
    # also missed and leadsync has never seen.
    where = {"1": "1", "2": None, "3": "1", "4": "4", "6": "9"}
    engine.marketing = Locating([people + [qualified_person(9, NOW - timedelta(hours=1))]], {"1"}, where)
    summary = engine.reconcile()

    after = engine.store.people()
    assert {pid for pid, p in after.items() if p.get("deleted")} == {"2", "3", "6"}
    assert not after["4"].get("deleted") and not after["5"].get("deleted")
    assert summary.counts["deleted"] == 1 and summary.counts["merged"] == 2
    assert after["9"]["stage"] == before["6"]["stage"] and after["9"]["crm_id"] == before["6"]["crm_id"]
    assert engine.marketing.located == [["2", "3", "4", "5", "6"]]
