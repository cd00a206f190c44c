"""The spilling id set behaves as ``set[str]`` before, across and after its move to disk, and
its memory stops growing once it has moved."""

from __future__ import annotations

import threading
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.state import idsets
from connector.state.idsets import SpillingIdSet
from tests.core.test_idset import ids

operations = st.lists(st.tuples(st.sampled_from(["add", "discard", "update", "difference_update"]),
                                st.lists(ids, max_size=8)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(operations, st.integers(min_value=0, max_value=12), st.lists(ids, max_size=10))
def test_given_any_operations_then_it_answers_as_a_set_does(ops, in_memory, probes):
    held, expected = SpillingIdSet(in_memory=in_memory), set()
    for name, batch in ops:
        if name in ("add", "discard"):
            for record_id in batch:
                getattr(held, name)(record_id)
                getattr(expected, name)(record_id)
        else:
            getattr(held, name)(batch)
            getattr(expected, name)(batch)
        assert len(held) == len(expected)
    assert sorted(held) == sorted(expected)
    assert bool(held) == bool(expected)
    for record_id in probes + [i for _, batch in ops for i in batch]:
        assert (record_id in held) == (record_id in expected), record_id
    assert 7 not in held                    # (not an id: never held, as with a set of text)


def test_given_more_ids_than_it_keeps_in_memory_then_they_move_to_disk_whole():
    held = SpillingIdSet(str(n) for n in range(1, 1001))
    assert not held.spilled
    small = SpillingIdSet(in_memory=100)
    small.update(str(n) for n in range(1, 1001))
    small.update(["a0b1c2d3-0000-4000-8000-000000000001", "00Q5g00000AbCdEFGH"])
    assert small.spilled and len(small) == 1002
    assert set(small) == {str(n) for n in range(1, 1001)} | {"a0b1c2d3-0000-4000-8000-000000000001",
                                                             "00Q5g00000AbCdEFGH"}
    small.difference_update(str(n) for n in range(1, 501))
    assert len(small) == 502 and "1" not in small and "501" in small
    small.close()
    assert len(small) == 0 and not small.spilled and "501" not in small


def test_given_a_portal_of_ids_then_memory_stays_where_the_threshold_put_it():
    tracemalloc.start()
    try:
        held = SpillingIdSet(in_memory=20_000)
        held.update(str(n) for n in range(1, 20_001))
        tracemalloc.reset_peak()
        at_threshold = tracemalloc.get_traced_memory()[0]
        for start in range(20_001, 400_001, 10_000):
            held.update(str(n) for n in range(start, start + 10_000))
        grown, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held.spilled and len(held) == 400_000
    assert "399999" in held and "400001" not in held
    # Twenty times the ids; the Python heap no bigger than at the threshold (the table is let
    # go), and the peak no more than a batch above it. (SQLite's own pages are capped by its
    # cache size, outside Python's heap.)
    assert grown <= at_threshold + 64 * 1024, (grown, at_threshold)
    assert peak <= at_threshold + 4 * 1024 * 1024, (peak, at_threshold)
    assert held._db.execute("PRAGMA cache_size").fetchone()[0] == -idsets.CACHE_KIB


def test_given_writers_on_two_threads_across_the_move_then_none_is_lost():
    held = SpillingIdSet(in_memory=500)
    halves = [[str(n) for n in range(start, 20_000, 2)] for start in (1, 2)]

    def write(half: list[str]) -> None:
        for n in range(0, len(half), 50):
            held.update(half[n:n + 50])
            assert half[n] in held

    threads = [threading.Thread(target=write, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert held.spilled and len(held) == 19_999
    assert set(held) == {str(n) for n in range(1, 20_000)}


def test_given_it_is_iterated_while_written_then_it_still_answers():
    held = SpillingIdSet((str(n) for n in range(1, 30_001)), in_memory=10)
    read = []
    for n, record_id in enumerate(held):
        read.append(record_id)
        if n == 100:
            held.add("999999")       # past the page being read: met or not, never an error
    assert len(set(read)) == len(read) and len(read) >= 30_000
