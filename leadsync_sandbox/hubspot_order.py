"""Records in modified-time order: how the sandbox answers a keyset search page without
evaluating the whole portal (HubSpot's index answers such a query in time that does not grow
with the portal; a sandbox that scans every record per page slows the connector it tests).

Kept up to date under the portal lock on every change (``HubSpotState.changing``); a search
that this order cannot answer exactly falls back to evaluating every record.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any, Iterator

from leadsync_sandbox.hubspot_search import to_millis

_TOP = "\uffff"


class ModifiedOrder:
    def __init__(self, properties: dict[str, str]) -> None:
        self.properties = properties                     # object type → its modified-time property
        self._keys: dict[str, list[tuple[int, str]]] = {kind: [] for kind in properties}
        self._at: dict[str, dict[str, int]] = {kind: {} for kind in properties}

    def load(self, kind: str, records: dict[str, Any]) -> None:
        at = {rid: _millis(r, self.properties[kind]) for rid, r in records.items()}
        self._at[kind] = {rid: ms for rid, ms in at.items() if ms is not None}
        self._keys[kind] = sorted((ms, rid) for rid, ms in self._at[kind].items())

    def moved(self, kind: str, record_id: str, record: Any | None) -> None:
        if kind not in self._keys:
            return
        keys, at = self._keys[kind], self._at[kind]
        old = at.pop(record_id, None)
        if old is not None:
            i = bisect_left(keys, (old, record_id))
            if i < len(keys) and keys[i] == (old, record_id):
                del keys[i]
        new = _millis(record, self.properties[kind]) if record is not None else None
        if new is not None:
            at[record_id] = new
            insort(keys, (new, record_id))

    def ids_from(self, kind: str, lower: int, *, open_: bool) -> Iterator[tuple[int, str]]:
        keys = self._keys[kind]
        start = bisect_right(keys, (lower, _TOP)) if open_ else bisect_left(keys, (lower, ""))
        for i in range(start, len(keys)):
            yield keys[i]

    def count(self, kind: str, lower: int, open_: bool, upper: int | None, upper_closed: bool) -> int:
        keys = self._keys[kind]
        start = bisect_right(keys, (lower, _TOP)) if open_ else bisect_left(keys, (lower, ""))
        if upper is None:
            return len(keys) - start
        end = bisect_right(keys, (upper, _TOP)) if upper_closed else bisect_left(keys, (upper, ""))
        return max(0, end - start)

    def millis(self, kind: str, record_id: str) -> int | None:
        return self._at[kind].get(record_id)


def _millis(record: Any, name: str) -> int | None:
    value = (record.properties or {}).get(name)
    return to_millis(value) if value else None
