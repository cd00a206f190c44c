"""Reading ahead: the next pages of a pull are fetched on a thread while the engine qualifies
and writes the page in hand, so a cycle spends the search lane and the write lane at once
(HubSpot limits them separately) instead of one after the other. A first run also reads its
activity feed (HubSpot's window) while it reads the CRM's records (another system)."""

from __future__ import annotations

import queue
import threading
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """``pages`` in order, read on a thread from the moment this is made, up to ``depth`` of
    them before they are asked for. An error in the reader is raised where the page it was
    reading would have been. ``close`` (or stopping early: the consumer breaks off, or the
    daemon stops) leaves the reader at most ``depth`` pages on, and ends it."""

    def __init__(self, pages: Iterator[T], depth: int = 2, *, name: str = "leadsync-read-ahead") -> None:
        self._ready: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._pages = pages
        self._reader = threading.Thread(target=self._read, name=name, daemon=True)
        self._reader.start()

    def _offer(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._offer(page):
                    return
            self._offer(_END)
        except BaseException as error:   # handed to the consumer, which raises it
            self._offer(_Failed(error))

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                item = self._ready.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=30)


def read_ahead(pages: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The pages of ``pages``, read ahead on a thread (``ReadAhead``)."""
    return iter(ReadAhead(pages, depth))
