"""Reading ahead: the next pages of a pull are fetched on a thread while the engine qualifies
and writes the page in hand, so a cycle spends the search lane and the write lane at once
(HubSpot limits them separately) instead of one after the other."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

T = TypeVar("T")
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(pages: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``pages`` in order, up to ``depth`` of them read before they are asked for. An error in
    the reader is raised where the page it was reading would have been; stopping early (the
    consumer breaks off, or the daemon stops) leaves the reader at most ``depth`` pages on."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for page in pages:
                if not offer(page):
                    return
            offer(_END)
        except BaseException as error:   # handed to the consumer, which raises it
            offer(_Failed(error))

    reader = threading.Thread(target=read, name="leadsync-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join(timeout=30)
