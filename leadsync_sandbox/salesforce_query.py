"""Run a parsed SOQL query against the store, with the org's type rules and paging.

Checks happen against the schema first (unknown object → INVALID_TYPE, unknown field →
INVALID_FIELD, a quoted datetime → INVALID_QUERY_FILTER_OPERATOR), then rows are filtered,
ordered, cut by OFFSET/LIMIT and rendered the way the REST API prints records. Result sets
larger than a page are kept behind a query locator (``nextRecordsUrl``), as a snapshot taken
when the query ran, like a real server-side cursor.
"""

from __future__ import annotations

import heapq
import operator
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any, Callable

from leadsync_sandbox.salesforce_schema import BY_PREFIX, TEXT_TYPES, Field, SObject, sobject
from leadsync_sandbox.salesforce_soql import (
    BoolOp, Comparison, Condition, FieldRef, Literal, Not, OrderItem, Query, SoqlError, error_at, parse,
)
from leadsync_sandbox.salesforce_values import is_valid_id, normalize_id, to_json

CASE_FREE_TYPES = TEXT_TYPES - {"id", "reference"}   # compared ignoring case
OPERATORS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
             ">": operator.gt, ">=": operator.ge}
MAX_OFFSET = 2000
CURSOR_IDLE_SECONDS = 15 * 60
MAX_OPEN_CURSORS = 50


@dataclass(frozen=True, slots=True)
class Column:
    ref: FieldRef
    field: Field                   # the field read (on the related object for Owner.Name)
    via: Field | None = None       # the reference field for a parent relationship
    target: SObject | None = None  # the related object


def compile_query(text: str) -> tuple[Query, SObject, list[Column]]:
    query = parse(text)
    obj = sobject(query.sobject)
    if obj is None:
        raise error_at(text, query.sobject_pos, f"sObject type '{query.sobject}' is not supported."
                       " If you are attempting to use a custom object, be sure to append the "
                       "'__c' after the entity name. Please reference your WSDL or the describe "
                       "call for the appropriate names.", "INVALID_TYPE")
    columns = [resolve(query, obj, ref) for ref in query.fields]
    seen: set[str] = set()
    for column in columns:
        key = column.ref.text.lower()
        if key in seen:
            raise error_at(text, column.ref.pos, f"duplicate field selected: {column.ref.text}")
        seen.add(key)
    if query.where is not None:
        _check_condition(query, obj, query.where)
    for item in query.order_by:
        resolve(query, obj, item.field)
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE",
                        f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    return query, obj, columns


def resolve(query: Query, obj: SObject, ref: FieldRef) -> Column:
    if len(ref.path) == 1:
        f = obj.field(ref.path[0])
        if f is None:
            raise _no_such_column(query, ref, obj)
        return Column(ref, f)
    via = obj.relationship(ref.path[0])
    if via is None:
        raise error_at(query.text, ref.pos, f"Didn't understand relationship '{ref.path[0]}' in "
                       "field path. If you are attempting to use a custom relationship, be sure "
                       "to append the '__r' after the custom relationship name. Please reference "
                       "your WSDL or the describe call for the appropriate names.",
                       "INVALID_FIELD")
    targets = [sobject(name) for name in via.reference_to]
    fields = [t.field(ref.path[1]) for t in targets if t]
    if not fields or any(f is None for f in fields):
        raise _no_such_column(query, ref, targets[0])  # type: ignore[arg-type]
    return Column(ref, fields[0], via, targets[0])  # type: ignore[arg-type]


def _no_such_column(query: Query, ref: FieldRef, obj: SObject) -> SoqlError:
    return error_at(query.text, ref.pos, f"No such column '{ref.path[-1]}' on entity "
                    f"'{obj.name}'. If you are attempting to use a custom field, be sure to append "
                    "the '__c' after the custom field name. Please reference your WSDL or the "
                    "describe call for the appropriate names.", "INVALID_FIELD")


# --- type rules ---------------------------------------------------------------------------

_EXPECTED = {"datetime": ("dateTime", {"datetime", "relative_date"}),
             "date": ("date", {"date", "relative_date"}),
             "boolean": ("boolean", {"boolean"}),
             "int": ("double", {"number"}), "double": ("double", {"number"}),
             "currency": ("double", {"number"}), "percent": ("double", {"number"})}


def _check_condition(query: Query, obj: SObject, cond: Condition) -> None:
    if isinstance(cond, BoolOp):
        for operand in cond.operands:
            _check_condition(query, obj, operand)
    elif isinstance(cond, Not):
        _check_condition(query, obj, cond.operand)
    else:
        column = resolve(query, obj, cond.field)
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        for literal in values:
            _check_literal(query, column.field, cond.op, literal)


def _check_literal(query: Query, f: Field, op: str, literal: Literal) -> None:
    def refuse(detail: str) -> SoqlError:
        return error_at(query.text, literal.pos, detail, "INVALID_QUERY_FILTER_OPERATOR")

    if literal.kind == "null":
        if op not in ("=", "!=", "IN", "NOT IN"):
            raise refuse(f"invalid operator on null value for field '{f.name}'")
        return
    if op == "LIKE" and f.type not in CASE_FREE_TYPES:
        raise refuse(f"invalid operator on field '{f.name}': LIKE")
    if f.type in _EXPECTED:
        expected, kinds = _EXPECTED[f.type]
        if literal.kind not in kinds:
            raise refuse(f"value of filter criterion for field '{f.name}' must be of type "
                         f"{expected} and should not be enclosed in quotes")
        return
    if literal.kind != "string":
        raise refuse(f"value of filter criterion for field '{f.name}' must be of type string "
                     "and should be enclosed in quotes")
    if f.type in ("id", "reference") and op != "LIKE" and not is_valid_id(literal.value):
        raise refuse(f"invalid ID field: {literal.value}")


# --- evaluation ---------------------------------------------------------------------------

Lookup = Callable[[str], dict | None]   # a related record by id


class Evaluator:
    def __init__(self, obj: SObject, now: datetime, lookup: Lookup) -> None:
        self.obj = obj
        self.now = now
        self.lookup = lookup
        self._in_sets: dict[int, tuple[Any, set[Any]]] = {}

    def value(self, record: dict, ref: FieldRef) -> Any:
        if len(ref.path) == 1:
            return record.get(self.obj.field(ref.path[0]).name)  # type: ignore[union-attr]
        via = self.obj.relationship(ref.path[0])
        parent = self.lookup(record.get(via.name)) if record.get(via.name) else None  # type: ignore
        if parent is None:
            return None
        return next((v for k, v in parent.items() if k.lower() == ref.path[1].lower()), None)

    def field(self, ref: FieldRef) -> Field:
        if len(ref.path) == 1:
            return self.obj.field(ref.path[0])  # type: ignore[return-value]
        via = self.obj.relationship(ref.path[0])
        return sobject(via.reference_to[0]).field(ref.path[1])  # type: ignore

    def matches(self, record: dict, cond: Condition) -> bool:
        if isinstance(cond, BoolOp):
            test = all if cond.op == "AND" else any
            return test(self.matches(record, c) for c in cond.operands)
        if isinstance(cond, Not):
            return not self.matches(record, cond.operand)
        return self.compare(self.field(cond.field), self.value(record, cond.field), cond)

    def compare(self, f: Field, actual: Any, cond: Comparison) -> bool:
        if cond.op in ("IN", "NOT IN"):
            wanted = self._in_sets.get(id(cond))
            if wanted is None:     # the list, compared as "=" would, once per query (not per row)
                literals = list(cond.value)  # type: ignore[arg-type]
                expected = [None if v.kind == "relative_date" else self._literal(f, v) for v in literals]
                if all(e is not None for e in expected):    # (null and relative dates: one by one)
                    wanted = self._in_sets[id(cond)] = (cond, {_comparable(f, e) for e in expected})
            if wanted is not None:
                hit = actual is not None and _comparable(f, actual) in wanted[1]
            else:
                hit = any(self.compare(f, actual, Comparison(cond.field, "=", v))
                          for v in cond.value)  # type: ignore[union-attr]
            return hit if cond.op == "IN" else not hit
        literal: Literal = cond.value  # type: ignore[assignment]
        if literal.kind == "relative_date":
            return self._in_range(f, actual, cond.op, literal)
        expected = self._literal(f, literal)
        if actual is None or expected is None:
            equal = actual is None and expected is None
            return equal if cond.op == "=" else (not equal if cond.op == "!=" else False)
        if cond.op == "LIKE":
            return _like(str(literal.value)).match(str(actual)) is not None
        return OPERATORS[cond.op](_comparable(f, actual), _comparable(f, expected))

    def predicate(self, cond: Condition) -> Callable[[dict], bool]:
        """``cond`` as a test of one record, its fields and literals resolved once per query
        (what ``matches`` does for each record, the same answers)."""
        if isinstance(cond, BoolOp):
            parts = [self.predicate(c) for c in cond.operands]
            if cond.op == "AND":
                return lambda r: all(p(r) for p in parts)
            return lambda r: any(p(r) for p in parts)
        if isinstance(cond, Not):
            inner = self.predicate(cond.operand)
            return lambda r: not inner(r)
        literal = cond.value
        if (len(cond.field.path) != 1 or cond.op in ("IN", "NOT IN", "LIKE")
                or not isinstance(literal, Literal) or literal.kind == "relative_date"):
            return lambda r: self.matches(r, cond)
        f = self.field(cond.field)
        name, op = f.name, cond.op
        expected = self._literal(f, literal)
        if expected is None:          # = null, != null; any other comparison with null is false
            if op in ("=", "!="):
                return (lambda r: r.get(name) is None) if op == "=" else (lambda r: r.get(name) is not None)
            return lambda r: False
        right, compare = _comparable(f, expected), OPERATORS[op]

        def test(record: dict) -> bool:
            actual = record.get(name)
            return op == "!=" if actual is None else compare(_comparable(f, actual), right)
        return test

    def _literal(self, f: Field, literal: Literal) -> Any:
        if literal.kind == "string" and f.type in ("id", "reference"):
            return normalize_id(literal.value)  # type: ignore[arg-type]
        return literal.value

    def _in_range(self, f: Field, actual: Any, op: str, literal: Literal) -> bool:
        if actual is None:
            return op == "!="
        start, end = relative_range(literal.value, self.now)  # type: ignore[arg-type]
        if f.type == "date":
            actual = datetime.combine(actual, dtime(), timezone.utc)
        return {"=": start <= actual < end, "!=": not start <= actual < end,
                "<": actual < start, "<=": actual < end, ">": actual >= end,
                ">=": actual >= start}[op]


def relative_range(value: tuple[str, int], now: datetime) -> tuple[datetime, datetime]:
    """Date literals are whole days in the org's time zone (UTC here)."""
    name, n = value
    today = datetime.combine(now.astimezone(timezone.utc).date(), dtime(), timezone.utc)
    day = timedelta(days=1)
    return {
        "TODAY": (today, today + day), "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_N_DAYS": (today - n * day, now + timedelta(microseconds=1)),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
    }[name]


def _comparable(f: Field, value: Any) -> Any:
    if f.type in CASE_FREE_TYPES:
        return str(value).casefold()   # SOQL text comparisons ignore case
    if isinstance(value, date) and not isinstance(value, datetime) and f.type == "datetime":
        return datetime.combine(value, dtime(), timezone.utc)
    return value


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def order_rows(rows: list[dict], query: Query, ev: Evaluator, first: int | None = None) -> list[dict]:
    """ORDER BY, each item's NULLS FIRST/LAST whatever its direction (the ``first`` rows only,
    when a LIMIT says how many are wanted). Items of one direction are one key; otherwise one
    stable sort per item, the last item first, so earlier items decide and ties keep the order
    below them."""
    if not query.order_by:
        return rows
    keys = [_order_key(item, ev) for item in query.order_by]
    directions = {item.descending for item in query.order_by}
    if len(directions) == 1:
        descending = directions.pop()

        def key(record: dict) -> tuple:
            return tuple(k(record) for k in keys)
        if first is not None:     # (as sorted(...)[:first], ties included, in a heap of `first`)
            return (heapq.nlargest if descending else heapq.nsmallest)(first, rows, key=key)
        return sorted(rows, key=key, reverse=descending)
    rows = list(rows)
    for item, key in zip(reversed(query.order_by), reversed(keys)):
        rows.sort(key=key, reverse=item.descending)
    return rows if first is None else rows[:first]


def _order_key(item: OrderItem, ev: Evaluator) -> Callable[[dict], tuple]:
    f, ref = ev.field(item.field), item.field
    # Nulls sort as a group before (-1,) or after (1,) every value (0, v); a descending sort
    # flips the groups too, so a descending item's are swapped to stay where they were asked.
    nulls = (1,) if item.nulls_last != item.descending else (-1,)
    name = f.name if len(ref.path) == 1 else None

    def key(record: dict) -> tuple:
        value = record.get(name) if name is not None else ev.value(record, ref)
        return nulls if value is None else (0, _comparable(f, value))
    return key


def render(record: dict, obj: SObject, columns: list[Column], ev: Evaluator, base: str) -> dict:
    out: dict[str, Any] = {"attributes": {"type": obj.name,
                                          "url": f"{base}/sobjects/{obj.name}/{record['Id']}"}}
    for column in columns:
        if column.via is None:
            out[column.field.name] = to_json(column.field, record.get(column.field.name))
            continue
        name = column.via.relationship
        parent_id = record.get(column.via.name)
        parent = ev.lookup(parent_id) if parent_id else None
        if parent is None:
            out[name] = None  # type: ignore[index]
            continue
        kind = BY_PREFIX.get(parent_id[:3]) or column.target
        nested = out.get(name) or {"attributes": {  # type: ignore[arg-type]
            "type": kind.name, "url": f"{base}/sobjects/{kind.name}/{parent_id}"}}
        nested[column.field.name] = to_json(column.field, parent.get(column.field.name))
        out[name] = nested  # type: ignore[index]
    return out


def execute(text: str, rows_of: Callable[[SObject], list[dict]], lookup: Lookup, now: datetime,
            base: str) -> tuple[int, list[dict]]:
    """Run ``text``: (totalSize, rendered records). COUNT() queries render no records."""
    query, obj, columns = compile_query(text)
    ev = Evaluator(obj, now, lookup)
    test = ev.predicate(query.where) if query.where is not None else None
    rows = [r for r in rows_of(obj) if test is None or test(r)]
    start = query.offset or 0
    rows = order_rows(rows, query, ev, None if query.limit is None else start + query.limit)
    rows = rows[start:start + query.limit] if query.limit is not None else rows[start:]
    if query.count:
        return len(rows), []
    return len(rows), [render(r, obj, columns, ev, base) for r in rows]


class Cursors:
    """Open query locators: the rest of a result set, fetched page by page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[str, tuple[list[dict], float]] = OrderedDict()

    def open(self, rows: list[dict]) -> str:
        locator = "01g" + secrets.token_hex(6)[:12] + "AAA"
        with self._lock:
            self._open[locator] = (rows, time.monotonic())
            while len(self._open) > MAX_OPEN_CURSORS:
                self._open.popitem(last=False)
        return locator

    def rows(self, locator: str) -> list[dict] | None:
        with self._lock:
            entry = self._open.get(locator)
            if entry is None or time.monotonic() - entry[1] > CURSOR_IDLE_SECONDS:
                self._open.pop(locator, None)
                return None
            self._open[locator] = (entry[0], time.monotonic())
            return entry[0]
