"""What CRM search sees: HubSpot's search index, a few seconds behind the records.

HubSpot documents that a created or updated record takes a few moments to appear in search
results, while GET and batch read answer from the record store at once. A connector that
pulls "everything modified up to now" by search and then moves its cursor to now loses the
writes of the last few seconds for good; only an index that lags shows that.

Memory stays proportional to the records written recently, not to the portal: the index keeps
a snapshot only for a record whose latest write it has not caught up with yet, and answers
from the live record otherwise. A lag of 0 makes every write searchable at once.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol


class Indexed(Protocol):
    id: str
    properties: dict[str, str]


@dataclass(slots=True)
class _Pending:
    visible: object | None                                 # what search shows now; None = absent
    queue: deque[tuple[float, object | None]] = field(default_factory=deque)   # (visible from, version)


class SearchIndex:
    def __init__(self, lag_seconds: float, *, clock: Callable[[], float] = time.monotonic,
                 snapshot: Callable[[object], object] = lambda record: record) -> None:
        if lag_seconds < 0:
            raise ValueError(f"search lag must be 0 or more seconds, got {lag_seconds}")
        self.lag = float(lag_seconds)
        self._clock = clock
        self._snapshot = snapshot
        self._stale: dict[tuple[str, str], _Pending] = {}

    def before_change(self, kind: str, record_id: str, record: object | None) -> None:
        """Called (under the portal lock) before a record is created, changed or removed."""
        if self.lag <= 0:
            return
        key = (kind, record_id)
        if key not in self._stale:
            self._stale[key] = _Pending(None if record is None else self._snapshot(record))

    def after_change(self, kind: str, record_id: str, record: object | None) -> None:
        """Called after the change: this version reaches search ``lag`` seconds from now."""
        pending = self._stale.get((kind, record_id))
        if pending is None:
            return
        version = None if record is None else self._snapshot(record)
        pending.queue.append((self._clock() + self.lag, version))

    def view(self, kind: str, live: dict[str, Indexed]) -> Iterable[Indexed]:
        """The records search evaluates its filters against, as of this moment."""
        stale = self._catch_up(kind)
        if not stale:
            return live.values()
        current = [record for record_id, record in live.items() if record_id not in stale]
        return current + [version for version in stale.values() if version is not None]  # type: ignore[misc]

    def stale(self, kind: str) -> dict[str, object | None]:
        """Record id → the version search shows instead of the live one (None: not at all),
        for the records whose latest write search has not caught up with."""
        return self._catch_up(kind) if self._stale else {}

    def pending(self) -> int:
        """How many records have a write search does not show yet."""
        self._catch_up(None)
        return len(self._stale)

    def _catch_up(self, kind: str | None) -> dict[str, object | None]:
        now = self._clock()
        stale: dict[str, object | None] = {}
        for key, pending in list(self._stale.items()):
            while pending.queue and pending.queue[0][0] <= now:
                pending.visible = pending.queue.popleft()[1]
            if not pending.queue:
                del self._stale[key]    # caught up: search reads the live record again
            elif kind is None or key[0] == kind:
                stale[key[1]] = pending.visible
        return stale
