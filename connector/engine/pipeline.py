"""Writing one batch while the next is prepared: a first sync's marketing pass spends most of
its time waiting on the two systems' answers to a batch's writes, and the next batch's
adoption and qualification need none of them (batches hold different people).

Ordering is kept: batches are written one at a time, in the order given, on one thread, and
a batch's cursor moves with its writes, so a cursor never passes what was written. A failure
in a batch's writes is raised to the pass at its next step, before another batch goes out.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable


class WriteBehind:
    """Each batch's ``work`` on the writing thread, at most one batch behind the caller. Not
    ``enabled`` (a dry run, whose planned state is not shared across threads): run in place."""

    def __init__(self, enabled: bool = True) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadsync-batch") if enabled else None
        self._last: Future[None] | None = None
        self._keys: frozenset[str] = frozenset()

    def submit(self, work: Callable[[], None], keys: Iterable[str], *,
               unless: Callable[[], bool] = lambda: False) -> None:
        """Hand over a prepared batch (``keys``: its people), once the batch before it is
        written. ``unless`` (the daemon stopping meanwhile): the batch is left unwritten, as
        if it had not been read, and the pass stops at the one before it."""
        if self._pool is None:
            work()
            return
        self.wait()
        if unless():
            return
        self._keys = frozenset(keys)
        self._last = self._pool.submit(work)

    def before_preparing(self, keys: Iterable[str]) -> None:
        """A batch about to be prepared with someone still being written (read again in the
        same pass) waits for that write: its state is read back after it."""
        if self._last is not None and not self._keys.isdisjoint(keys):
            self.wait()

    def wait(self) -> None:
        """Until the batch in hand is written; its failure, if any, is raised here."""
        last, self._last = self._last, None
        if last is not None:
            last.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
