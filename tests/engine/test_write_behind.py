"""Writing one batch behind: batches go out in order, one at a time; a failure surfaces before
the next batch goes out; a batch handed over while stopping is left unwritten."""

from __future__ import annotations

import threading

import pytest

from connector.engine.pipeline import WriteBehind


def test_given_batches_then_each_is_written_once_in_order_on_one_thread():
    written, threads = [], set()
    writer = WriteBehind()
    for n in range(5):
        writer.submit(lambda n=n: (written.append(n), threads.add(threading.get_ident())), [str(n)])
    writer.close()
    assert written == [0, 1, 2, 3, 4]
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_given_a_failed_batch_then_the_next_is_not_written_and_the_error_is_raised():
    written = []

    def fail():
        raise RuntimeError("Salesforce is down")
    writer = WriteBehind()
    writer.submit(fail, ["1"])
    with pytest.raises(RuntimeError, match="Salesforce is down"):
        writer.submit(lambda: written.append(2), ["2"])
    writer.close()
    assert written == []


def test_given_stopping_when_a_batch_is_handed_over_then_it_is_not_written():
    written = []
    writer = WriteBehind()
    writer.submit(lambda: written.append(1), ["1"])
    writer.submit(lambda: written.append(2), ["2"], unless=lambda: True)
    writer.close()
    assert written == [1]


def test_given_a_person_still_being_written_then_preparing_them_again_waits_for_it():
    release, done = threading.Event(), []
    writer = WriteBehind()
    writer.submit(lambda: (release.wait(5), done.append("1")), ["1"])
    writer.before_preparing(["2"])           # someone else: no wait
    assert done == []
    release.set()
    writer.before_preparing(["1"])           # the same person: waits for the write
    assert done == ["1"]
    writer.close()


def test_given_not_enabled_then_each_batch_is_written_in_place():
    threads = []
    writer = WriteBehind(enabled=False)
    writer.submit(lambda: threads.append(threading.get_ident()), ["1"])
    assert threads == [threading.get_ident()]
    writer.close()
