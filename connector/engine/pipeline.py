"""Writing one batch while the next is prepared, and recording it while the next is written: a
first sync's marketing pass spends most of its time waiting on the two systems' answers to a
batch's writes, the next batch's adoption and qualification need none of them (batches hold
different people), and neither does the next batch's sending need this one's record in the
state store.

Ordering is kept. Batches are sent one at a time, in the order given, on one thread, and
recorded one at a time, in the same order, on another; a batch is recorded only after it was
sent, and its cursor moves with its record, so a cursor never passes what was written and
recorded. At most two batches are in hand: one being sent, the one before it being recorded.
A failure in either is raised to the pass at its next step, before another batch goes out.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable


class WriteBehind:
    """Each batch's ``send`` on the sending thread, then ``record(sent)`` on the recording
    thread. Not ``enabled`` (a dry run, whose planned state is not shared across threads): both
    run in place."""

    def __init__(self, enabled: bool = True) -> None:
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadsync-batch") if enabled else None
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadsync-record") if enabled else None
        self._sending: Future[Future[None]] | None = None   # its result: the same batch's record
        self._recording: Future[None] | None = None
        self._sending_keys: frozenset[str] = frozenset()
        self._recording_keys: frozenset[str] = frozenset()

    def submit(self, send: Callable[[], Any], record: Callable[[Any], None], keys: Iterable[str], *,
               unless: Callable[[], bool] = lambda: False) -> None:
        """Hand over a prepared batch (``keys``: its people), once the batch before it is sent
        and the one before that recorded. ``unless`` (the daemon stopping meanwhile): the
        batch is left unwritten, as if it had not been read, and the pass stops at the one
        before it (which is still recorded)."""
        if self._sender is None or self._recorder is None:
            record(send())
            return
        self._advance()
        if unless():
            return
        recorder = self._recorder

        def sending() -> Future[None]:
            sent = send()
            return recorder.submit(record, sent)   # (queued behind the batch before it)
        self._sending_keys = frozenset(keys)
        self._sending = self._sender.submit(sending)

    def _advance(self) -> None:
        """The batch being sent is out and queued to be recorded; the one before it is recorded.
        A failure of either is raised here."""
        sending, self._sending = self._sending, None
        if sending is None:
            return
        recording = sending.result()
        previous, self._recording = self._recording, recording
        self._recording_keys, self._sending_keys = self._sending_keys, frozenset()
        if previous is not None:
            previous.result()

    def before_preparing(self, keys: Iterable[str]) -> None:
        """A batch about to be prepared with someone still being written or recorded (read
        again in the same pass) waits for that: their state is read back after it."""
        wanted = frozenset(keys)
        if not (self._sending_keys.isdisjoint(wanted) and self._recording_keys.isdisjoint(wanted)):
            self.wait()

    def wait(self) -> None:
        """Until every batch in hand is sent and recorded; a failure, if any, is raised here."""
        self._advance()
        recording, self._recording = self._recording, None
        self._recording_keys = frozenset()
        if recording is not None:
            recording.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            # (after a failure, a batch already sent is still recorded before the pass ends)
            for pool in (self._sender, self._recorder):
                if pool is not None:
                    pool.shutdown(wait=True)
