"""CRM search (``POST /crm/v3/objects/{type}/search``): filters, sorts and paging.

Real limits emulated (HubSpot's search guide, "Limitations"): at most 5 filterGroups, 6
filters per group and 18 in all; one sort; ``limit`` up to 200 (more is a 400); 10,000 results
per query: a request whose ``after`` + ``limit`` passes 10,000 is a 400, so the last page a
client may ask for ends at result 10,000. ``after`` is an offset, not a cursor: the filters and
the sort are evaluated again against the data as it is at every page request, so a record
that changes between two pages moves, and the ones behind it shift past the offset unseen.
Without ``sorts`` results come in ``hs_object_id`` order; with one, records of equal value come
in a stable order that is not the id order. Filters on datetime properties take
epoch milliseconds (or ISO-8601); ``hs_object_id`` and datetimes compare as numbers with
EQ/NEQ/GT/GTE/LT/LTE/BETWEEN (both ends inclusive); text comparisons ignore case. A filter or
sort on a property that does not exist is a 400.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Iterable

from leadsync_sandbox.hubspot_schema import PropertyDef

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
RESULT_CAP = 10_000


class SearchError(ValueError):
    """The request is malformed; the message is the one the API answers with."""


@dataclass(frozen=True, slots=True)
class SearchPage:
    ids: list[str]
    total: int
    next_after: str | None


def run_search(body: dict[str, Any], records: Iterable[tuple[str, dict[str, str]]],
               defs: dict[str, PropertyDef], *, result_cap: int = RESULT_CAP) -> SearchPage:
    """Ids of one page of matching records, in order."""
    groups = _groups(body, defs)
    limit = _limit(body)
    offset = _offset(body, result_cap)
    _check_window(offset, limit, result_cap)
    matching = [(rid, props) for rid, props in records if _matches(groups, props, defs)]
    matching.sort(key=_sort_key(body, defs))
    if body.get("sorts") and _sort_descending(body):
        matching.reverse()
    page = matching[offset:offset + limit]
    end = offset + len(page)
    more = end < len(matching) and end < result_cap
    return SearchPage([rid for rid, _ in page], len(matching), str(end) if more else None)


def _groups(body: dict[str, Any], defs: dict[str, PropertyDef]) -> list[list[dict[str, Any]]]:
    groups = body.get("filterGroups") or []
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups ({len(groups)}). The maximum number of filter groups is {MAX_GROUPS}.")
    filters = [g.get("filters") or [] for g in groups]
    if any(len(f) > MAX_FILTERS_PER_GROUP for f in filters):
        raise SearchError(f"Too many filters in a filter group. The maximum is {MAX_FILTERS_PER_GROUP}.")
    if sum(len(f) for f in filters) > MAX_FILTERS:
        raise SearchError(f"Too many filters. The maximum number of filters is {MAX_FILTERS}.")
    for group in filters:
        for flt in group:
            name = flt.get("propertyName")
            if name not in defs:
                raise SearchError(f"Unable to search on property {name}: it does not exist.")
            if flt.get("operator") not in _OPERATORS:
                raise SearchError(f"Unknown filter operator {flt.get('operator')!r}.")
    return filters


def _limit(body: dict[str, Any]) -> int:
    limit = int(body.get("limit") or 10)
    if limit < 1 or limit > MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    return limit


def _offset(body: dict[str, Any], result_cap: int) -> int:
    raw = body.get("after") or 0
    try:
        offset = int(raw)
    except (TypeError, ValueError):
        raise SearchError(f"Invalid paging cursor: {raw!r}.") from None
    if offset < 0:
        raise SearchError(f"Invalid paging cursor: {raw!r}.")
    return offset


def _check_window(offset: int, limit: int, result_cap: int) -> None:
    if offset + limit > result_cap:
        # The index refuses to page past its window: callers must narrow the filter instead.
        raise SearchError(f"There was a problem with the request. Search results are limited to "
                          f"{result_cap} records: after ({offset}) + limit ({limit}) is past that.")


def _matches(groups: list[list[dict[str, Any]]], props: dict[str, str], defs: dict[str, PropertyDef]) -> bool:
    if not groups:
        return True
    return any(all(_check(f, props, defs) for f in group) for group in groups)


def _check(flt: dict[str, Any], props: dict[str, str], defs: dict[str, PropertyDef]) -> bool:
    name = flt["propertyName"]
    actual = props.get(name) or ""
    operator = flt["operator"]
    if operator == "HAS_PROPERTY":
        return actual != ""
    if operator == "NOT_HAS_PROPERTY":
        return actual == ""
    convert = _converter(defs[name])
    if operator in ("IN", "NOT_IN"):
        wanted = {convert(str(v)) for v in flt.get("values") or []}
        found = actual != "" and convert(actual) in wanted
        return found if operator == "IN" else not found
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value", "")).lower().strip("*")
        found = token in actual.lower()
        return found if operator == "CONTAINS_TOKEN" else not found
    if actual == "":
        return operator == "NEQ"  # a blank value equals nothing and is not-equal to everything
    left, right = convert(actual), convert(str(flt.get("value", "")))
    if operator == "BETWEEN":
        return right <= left <= convert(str(flt.get("highValue", "")))
    return _OPERATORS[operator](left, right)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b,
    "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b, "GTE": lambda a, b: a >= b,
    "BETWEEN": lambda a, b: True, "IN": lambda a, b: True, "NOT_IN": lambda a, b: True,
    "HAS_PROPERTY": lambda a, b: True, "NOT_HAS_PROPERTY": lambda a, b: True,
    "CONTAINS_TOKEN": lambda a, b: True, "NOT_CONTAINS_TOKEN": lambda a, b: True,
}


def _converter(definition: PropertyDef) -> Callable[[str], Any]:
    if definition.type in ("datetime", "date"):
        return to_millis
    if definition.type == "number":
        return _to_float
    return lambda text: text.strip().lower()


@lru_cache(maxsize=262_144)
def to_millis(text: str) -> int:
    """Epoch milliseconds from either form HubSpot accepts in a datetime filter."""
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise SearchError(f"{text} is not a valid datetime: use epoch milliseconds.") from None


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SearchError(f"{text} is not a valid number.") from None


def _sort_key(body: dict[str, Any], defs: dict[str, PropertyDef]) -> Callable[[tuple[str, dict[str, str]]], Any]:
    sorts = body.get("sorts") or []
    if len(sorts) > 1:
        raise SearchError("Only one sort is supported.")
    if not sorts:
        return lambda item: int(item[0])
    sort = sorts[0]
    name = sort.get("propertyName") if isinstance(sort, dict) else str(sort).lstrip("-")
    if name not in defs:
        raise SearchError(f"Unable to sort on property {name}: it does not exist.")
    convert = _converter(defs[name])

    def key(item: tuple[str, dict[str, str]]) -> Any:
        value = item[1].get(name) or ""
        # Blank values sort last ascending, like HubSpot's index. Ties come in the index's own
        # order, stable between requests but not the id order: one sort is all HubSpot allows,
        # so a keyset pager cannot lean on ids being ascending within equal values.
        return (value == "", convert(value) if value else 0, _index_order(item[0]))
    return key


def _index_order(record_id: str) -> tuple[int, int]:
    return (zlib.crc32(record_id.encode()), int(record_id))


def _sort_descending(body: dict[str, Any]) -> bool:
    sort = body["sorts"][0]
    if isinstance(sort, dict):
        return str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    return str(sort).startswith("-")


_RANGE = ("GT", "GTE", "LT", "LTE")


def keyset_page(body: dict[str, Any], modified: str, order: Any, kind: str, live: dict[str, Any],
                stale: dict[str, Any], defs: dict[str, PropertyDef], *,
                result_cap: int = RESULT_CAP) -> SearchPage | None:
    """The page ``run_search`` would answer, read from the modified-time order instead of the
    whole portal, for the query a keyset pager sends: one group of range filters on the
    modified time, sorted on it ascending, from its first result. None for any other query.
    ``stale``: records search shows at an older version (the index lag)."""
    groups, sorts = body.get("filterGroups") or [], body.get("sorts") or []
    if len(groups) != 1 or len(sorts) != 1 or body.get("after") or not isinstance(sorts[0], dict):
        return None
    direction = str(sorts[0].get("direction", "ASCENDING")).upper()
    if sorts[0].get("propertyName") != modified or direction != "ASCENDING":
        return None
    filters = groups[0].get("filters") or []
    if not filters or any(f.get("propertyName") != modified or f.get("operator") not in _RANGE for f in filters):
        return None
    lowers = [f for f in filters if f["operator"] in ("GT", "GTE")]
    uppers = [f for f in filters if f["operator"] in ("LT", "LTE")]
    if len(lowers) != 1 or len(uppers) > 1:
        return None
    parsed, limit = _groups(body, defs), _limit(body)
    _check_window(0, limit, result_cap)
    lower, lower_open = to_millis(str(lowers[0]["value"])), lowers[0]["operator"] == "GT"
    upper = to_millis(str(uppers[0]["value"])) if uppers else None
    upper_closed = bool(uppers) and uppers[0]["operator"] == "LTE"

    def in_range(ms: int) -> bool:
        above = ms > lower if lower_open else ms >= lower
        below = upper is None or (ms <= upper if upper_closed else ms < upper)
        return above and below
    found: list[tuple[str, dict[str, str]]] = []
    last = None
    for ms, rid in order.ids_from(kind, lower, open_=lower_open):
        if (len(found) >= limit and ms != last) or not in_range(ms):
            break        # the page is full (and its last instant complete), or past the range
        if rid in stale or rid not in live:
            continue     # search shows another version of it (below), or none
        found.append((rid, live[rid].properties))
        last = ms
    shown = [(rid, v.properties) for rid, v in stale.items() if v is not None and _matches(parsed, v.properties, defs)]
    matching = sorted(found + shown, key=_sort_key(body, defs))
    page = matching[:limit]
    hidden = sum(1 for rid in stale if (ms := order.millis(kind, rid)) is not None and in_range(ms))
    total = order.count(kind, lower, lower_open, upper, upper_closed) - hidden + len(shown)
    more = len(page) < total and len(page) < result_cap
    return SearchPage([rid for rid, _ in page], total, str(len(page)) if more else None)
