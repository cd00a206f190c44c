"""Writing one batch behind, recording one behind that: batches are sent in order, one at a
time, and recorded in the same order, each after it was sent; the next batch is sent while
the one before is recorded; a failure surfaces before another batch goes out; a batch handed
over while stopping is left unwritten."""

from __future__ import annotations

import threading

import pytest

from connector.engine.pipeline import WriteBehind


def test_given_batches_then_each_is_sent_then_recorded_once_in_order_on_two_threads():
    sent, recorded, senders, recorders = [], [], set(), set()

    def send(n: int) -> int:
        sent.append(n)
        senders.add(threading.get_ident())
        return n * 10

    def record(answer: int) -> None:
        recorded.append(answer)
        recorders.add(threading.get_ident())
    writer = WriteBehind()
    for n in range(6):
        writer.submit(lambda n=n: send(n), record, [str(n)])
    writer.close()
    assert sent == [0, 1, 2, 3, 4, 5]
    assert recorded == [0, 10, 20, 30, 40, 50]      # each batch's own answer, in order
    assert len(senders) == 1 and len(recorders) == 1 and senders != recorders
    assert threading.get_ident() not in senders | recorders


def test_given_a_batch_being_recorded_then_the_next_is_sent_meanwhile():
    next_sent = threading.Event()
    order = []

    def record_first(_: object) -> None:
        # Only returns once the next batch went out: without the overlap this times out.
        order.append(("recorded 1", next_sent.wait(5)))
    writer = WriteBehind()
    writer.submit(lambda: order.append("sent 1"), record_first, ["1"])
    writer.submit(lambda: (order.append("sent 2"), next_sent.set()), lambda _: order.append("recorded 2"), ["2"])
    writer.close()
    assert order == ["sent 1", "sent 2", ("recorded 1", True), "recorded 2"]


def test_given_a_failed_send_then_the_next_is_not_sent_and_the_one_before_is_still_recorded():
    sent, recorded = [], []

    def fail() -> None:
        raise RuntimeError("Salesforce is down")
    writer = WriteBehind()
    writer.submit(lambda: sent.append(1), lambda _: recorded.append(1), ["1"])
    writer.submit(fail, lambda _: recorded.append(2), ["2"])
    with pytest.raises(RuntimeError, match="Salesforce is down"):
        writer.submit(lambda: sent.append(3), lambda _: recorded.append(3), ["3"])
    writer.close()
    assert sent == [1] and recorded == [1]


def test_given_a_failed_record_then_it_is_raised_before_another_batch_goes_out():
    sent = []

    def fail(_: object) -> None:
        raise RuntimeError("the state store is full")
    writer = WriteBehind()
    writer.submit(lambda: sent.append(1), fail, ["1"])
    writer.submit(lambda: sent.append(2), lambda _: None, ["2"])     # sent while 1 is recorded
    with pytest.raises(RuntimeError, match="state store is full"):
        writer.submit(lambda: sent.append(3), lambda _: None, ["3"])
    writer.close()
    assert sent == [1, 2]


def test_given_stopping_when_a_batch_is_handed_over_then_it_is_not_sent_and_the_one_before_is_recorded():
    sent, recorded = [], []
    writer = WriteBehind()
    writer.submit(lambda: sent.append(1), lambda _: recorded.append(1), ["1"])
    writer.submit(lambda: sent.append(2), lambda _: recorded.append(2), ["2"], unless=lambda: True)
    writer.close()
    assert sent == [1] and recorded == [1]


def test_given_a_person_still_being_sent_or_recorded_then_preparing_them_again_waits_for_it():
    release, done = threading.Event(), []
    writer = WriteBehind()
    writer.submit(lambda: None, lambda _: (release.wait(5), done.append("1")), ["1"])
    writer.submit(lambda: None, lambda _: done.append("2"), ["2"])   # 1 is being recorded now
    writer.before_preparing(["3"])           # someone else: no wait
    assert done == []
    release.set()
    writer.before_preparing(["1"])           # the person being recorded: waits for everything in hand
    assert done == ["1", "2"]
    writer.close()


def test_given_not_enabled_then_each_batch_is_sent_and_recorded_in_place():
    threads = []
    writer = WriteBehind(enabled=False)
    writer.submit(lambda: threads.append(threading.get_ident()), lambda _: threads.append(threading.get_ident()), ["1"])
    assert threads == [threading.get_ident()] * 2
    writer.close()
