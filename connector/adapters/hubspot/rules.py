"""HubSpot behaviours the adapter must work around, as pure functions (tested without HTTP).

- CRM search stops paging at 10,000 results: ``windowed_search`` restarts the query from the
  last ``lastmodifieddate`` it saw and drops the ids it already yielded at that instant.
- ``lifecyclestage`` only moves forward: ``lifecycle_phases`` splits a backwards move (a
  recycle) into clearing it, then setting it.
- Property values travel as text: ``wire_value``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

from connector.ports import Write
from connector.core.durations import parse_instant
from connector.core.errors import FatalError
from connector.core.plan import lifecycle_rank


SearchPage = Mapping[str, Any]
# (lower bound ms inclusive, upper bound ms exclusive, after) → one search response
SearchFn = Callable[[int, int, str | None], SearchPage]


def to_millis(moment: datetime) -> int:
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


def modified_millis(result: Mapping[str, Any]) -> int:
    """A search result's lastmodifieddate (ISO text, or epoch ms on older portals)."""
    raw = (result.get("properties") or {}).get("lastmodifieddate") or result.get("updatedAt")
    if raw is None:
        raise FatalError("HubSpot returned a contact without lastmodifieddate",
                         detail=f"contact {result.get('id')}")
    text = str(raw).strip()
    if text.isdigit():
        return int(text)
    return to_millis(parse_instant(text))


def windowed_search(search: SearchFn, since_ms: int, until_ms: int, *, page_size: int,
                    result_cap: int) -> Iterator[list[Mapping[str, Any]]]:
    """Pages of results sorted by lastmodifieddate ascending, past HubSpot's 10,000-result cap."""
    lower, after = since_ms, None
    last_ms, ids_at_last = since_ms, set()     # newest instant seen, and the ids seen at it
    skip_at_lower: set[str] = set()            # ids already yielded at the window's lower bound
    while True:
        page = search(lower, until_ms, after)
        fresh = []
        for result in page.get("results") or []:
            stamp, rid = modified_millis(result), str(result["id"])
            if stamp == lower and rid in skip_at_lower:
                continue
            if stamp > last_ms:
                last_ms, ids_at_last = stamp, set()
            ids_at_last.add(rid)
            fresh.append(result)
        if fresh:
            yield fresh
        end = int(after or 0) + len(page.get("results") or [])
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        # At the cap HubSpot may offer a cursor it will refuse, or none while `total` says more.
        more = bool(after) or int(page.get("total") or 0) > end
        if not more:
            return
        if not after or int(after) + page_size > result_cap:
            if last_ms == lower:
                # Over 10,000 contacts share one millisecond: no narrower window exists.
                raise FatalError("HubSpot search cannot page past 10,000 contacts modified at the same instant",
                                 detail=f"lastmodifieddate={lower}")
            # Same ordering from the newest instant seen: ties there are dropped by id.
            lower, after, skip_at_lower = last_ms, None, set(ids_at_last)


def lifecycle_phases(writes: Sequence[Write], current: Mapping[str, str | None]) -> tuple[list[Write], list[Write]]:
    """(first round, second round). A write moving lifecyclestage backwards clears it in the
    first round and sets it in the second; HubSpot rejects the backwards move otherwise."""
    first, second = [], []
    for write in writes:
        wanted = write.values.get("lifecyclestage")
        now = current.get(write.key)
        if wanted and lifecycle_rank(now) > lifecycle_rank(wanted) >= 0:
            first.append(replace(write, values={**write.values, "lifecyclestage": ""}))
            second.append(replace(write, values={"lifecyclestage": wanted}))
        else:
            first.append(write)
    return first, second


def wire_value(value: Any) -> str:
    """HubSpot property values are text; an empty string clears a property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
