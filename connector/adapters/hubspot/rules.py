"""HubSpot behaviours the adapter must work around, as pure functions (tested without HTTP).

- CRM search pages by an offset (``after``) into a result set evaluated again for every page,
  and stops at 10,000 results: ``keyset_search`` never sends ``after``; each page is a fresh
  query keyed on (``lastmodifieddate``, ``hs_object_id``), so writes during a pull skip nobody.
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
from connector.state.idsets import SpillingIdSet
from connector.core.plan import lifecycle_rank


SearchPage = Mapping[str, Any]
# (filterGroups, the property to sort ascending on) → one search response; never an offset
SearchFn = Callable[[list[dict[str, Any]], str], SearchPage]


def to_millis(moment: datetime) -> int:
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


def modified_millis(result: Mapping[str, Any], name: str = "lastmodifieddate") -> int:
    """A search result's modified time (``lastmodifieddate`` on contacts, ``hs_lastmodifieddate``
    on companies; ISO text, or epoch ms on older portals)."""
    raw = (result.get("properties") or {}).get(name) or result.get("updatedAt")
    if raw is None:
        raise FatalError(f"HubSpot returned a record without {name}", detail=f"record {result.get('id')}")
    text = str(raw).strip()
    if text.isdigit():
        return int(text)
    return to_millis(parse_instant(text))


def keyset_search(search: SearchFn, since_ms: int, until_ms: int, *, page_size: int,
                  also: Sequence[Mapping[str, str]] = (),
                  modified: str = "lastmodifieddate") -> Iterator[list[Mapping[str, Any]]]:
    """Pages of results modified in [since_ms, until_ms), oldest first, each record once.

    HubSpot's ``after`` is an offset into a result set evaluated again for every page: a record
    written between two pages (by leadsync's own write-back or anyone else) moves to the end and
    the unread ones shift past the offset. So ``after`` is never sent. Every page is a fresh
    query from a key: ``lastmodifieddate`` at or past the newest instant not yet read whole.
    Everything older than a full page's newest instant is complete (the sort says so); that
    instant is read again from the next query. A full page of a single instant is read by
    ``hs_object_id`` keyset within it. A record only ever moves forward in this order, so none
    is skipped; one that moved after it was read is not yielded again. ``also``: more filters
    every query carries (ANDed). ``modified``: the object's modified-time property."""
    lower, lower_open = since_ms, False            # lastmodifieddate >= lower (> lower when open)
    seen = SpillingIdSet()      # (a portal of ids in bounded memory)
    extra = [dict(f) for f in also]
    while True:
        window = [_modified("GT" if lower_open else "GTE", lower, modified), _modified("LT", until_ms, modified),
                  *extra]
        results = list(search([{"filters": window}], modified).get("results") or [])
        if len(results) < page_size:
            if fresh := _unseen(results, seen):
                yield fresh
            return
        stamps = [modified_millis(r, modified) for r in results]
        top = max(stamps)
        if min(stamps) == top:
            # One instant fills the page: read that instant alone, by id.
            yield from _one_instant(search, top, page_size, seen, extra, modified)
            lower, lower_open = top, True
            continue
        if fresh := _unseen([r for r, stamp in zip(results, stamps) if stamp < top], seen):
            yield fresh
        lower, lower_open = top, False


def _one_instant(search: SearchFn, instant: int, page_size: int, seen: SpillingIdSet,
                 extra: list[dict[str, str]], modified: str) -> Iterator[list[Mapping[str, Any]]]:
    last_id = 0
    while True:
        filters = [_modified("EQ", instant, modified),
                   {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}, *extra]
        results = list(search([{"filters": filters}], "hs_object_id").get("results") or [])
        if fresh := _unseen(results, seen):
            yield fresh
        if len(results) < page_size:
            return
        last_id = max(int(r["id"]) for r in results)


def _modified(operator: str, millis: int, name: str = "lastmodifieddate") -> dict[str, str]:
    return {"propertyName": name, "operator": operator, "value": str(millis)}


def _unseen(results: Sequence[Mapping[str, Any]], seen: SpillingIdSet) -> list[Mapping[str, Any]]:
    fresh = [r for r in results if str(r["id"]) not in seen]
    seen.update(str(r["id"]) for r in fresh)
    return fresh


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
