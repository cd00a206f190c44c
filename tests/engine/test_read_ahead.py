"""Reading ahead on a thread: pages in order, an error where its page would be, and a consumer
that stops early leaves the reader stopped."""

from __future__ import annotations

import threading

import pytest

from connector.engine.prefetch import read_ahead


def test_given_pages_then_they_come_in_order_each_once():
    assert list(read_ahead(iter([[1], [2, 3], [4]]), depth=2)) == [[1], [2, 3], [4]]


def test_given_the_reader_fails_then_the_error_comes_after_the_pages_before_it():
    def pages():
        yield [1]
        raise RuntimeError("HubSpot is down")
    got = []
    with pytest.raises(RuntimeError, match="HubSpot is down"):
        for page in read_ahead(pages()):
            got.append(page)
    assert got == [[1]]


def test_given_the_consumer_stops_early_then_the_reader_reads_at_most_depth_more_and_ends():
    read = []

    def pages():
        for n in range(100):
            read.append(n)
            yield [n]
    ahead = read_ahead(pages(), depth=3)
    assert next(ahead) == [0]
    ahead.close()
    assert len(read) <= 1 + 3 + 1
    assert not [t for t in threading.enumerate() if t.name == "leadsync-read-ahead"]
