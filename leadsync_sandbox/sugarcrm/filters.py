"""Sugar's filter language over in-memory records, and ``order_by``.

A filter is a list of conditions, all of which must hold. A condition is ``{field: value}``
(equals), ``{field: {"$op": value}}``, or ``{"$and": [...]}`` / ``{"$or": [...]}``. Text
compares without regard to case (Sugar's MySQL collation); datetimes to the second.
Unknown fields and operators are refused with 422 ``invalid_parameter``, as Sugar does.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable

from leadsync_sandbox.sugarcrm.schema import Field, Module
from leadsync_sandbox.sugarcrm.values import DATETIME_TYPES, coerce, invalid, parse_datetime

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


def compile_filter(module: Module, conditions: Any) -> Predicate:
    if conditions in (None, "", []):
        return lambda record: True
    if not isinstance(conditions, list):
        raise invalid("The filter must be an array of conditions")
    parts = [_condition(module, c) for c in conditions]
    return lambda record: all(p(record) for p in parts)


def _condition(module: Module, condition: Any) -> Predicate:
    if not isinstance(condition, dict) or not condition:
        raise invalid("Each filter condition must be an object")
    parts: list[Predicate] = []
    for key, value in condition.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list):
                raise invalid(f"{key} takes an array of conditions")
            inner = [_condition(module, c) for c in value]
            parts.append((lambda ps: lambda r: all(p(r) for p in ps))(inner) if key == "$and"
                         else (lambda ps: lambda r: any(p(r) for p in ps))(inner))
        elif key.startswith("$"):
            raise invalid(f"Did not recognize the operand: {key}")
        else:
            parts.append(_field_condition(module, key, value))
    return lambda record: all(p(record) for p in parts)


def _field_condition(module: Module, name: str, spec: Any) -> Predicate:
    f = _field(module, name)
    if not isinstance(spec, dict):
        spec = {"$equals": spec}
    parts = [_operator(f, op, value) for op, value in spec.items()]
    return lambda record: all(p(record) for p in parts)


def _field(module: Module, name: str) -> Field:
    f = module.field(name)
    if f is None or f.type == "link":
        raise invalid(f"Unknown field: {name}")
    return f


def _value_of(f: Field, record: Record) -> Any:
    return record.get("email1") if f.name == "email" else record.get(f.name)


def _operand(f: Field, value: Any) -> Any:
    if f.type in DATETIME_TYPES:
        moment = parse_datetime(value)
        if moment is None:
            raise invalid(f"{f.name}: {value!r} is not a datetime")
        return moment
    return coerce(f, value)


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _operator(f: Field, op: str, value: Any) -> Predicate:
    get = lambda r: _key(_value_of(f, r))   # noqa: E731
    if op == "$is_null":
        return lambda r: _value_of(f, r) in (None, "")
    if op == "$not_null":
        return lambda r: _value_of(f, r) not in (None, "")
    if op in ("$in", "$not_in"):
        if not isinstance(value, list):
            raise invalid(f"{op} requires an array")
        wanted = {_key(_operand(f, v)) for v in value}
        return (lambda r: get(r) in wanted) if op == "$in" else (lambda r: get(r) not in wanted)
    if op in ("$between", "$dateBetween"):
        if not isinstance(value, list) or len(value) != 2:
            raise invalid(f"{op} requires an array with two values")
        low, high = (_key(_operand(f, v)) for v in value)
        return lambda r: _comparable(get(r)) and low <= get(r) <= high
    if op in ("$starts", "$ends", "$contains", "$not_contains"):
        text = str(value).lower()
        tests = {"$starts": lambda s: s.startswith(text), "$ends": lambda s: s.endswith(text),
                 "$contains": lambda s: text in s, "$not_contains": lambda s: text not in s}
        test = tests[op]
        return lambda r: test(str(_value_of(f, r) or "").lower())
    operand = _key(_operand(f, value))
    comparisons: dict[str, Callable[[Any], bool]] = {
        "$equals": lambda v: v == operand, "$not_equals": lambda v: v != operand,
        "$gt": lambda v: _comparable(v) and v > operand, "$gte": lambda v: _comparable(v) and v >= operand,
        "$lt": lambda v: _comparable(v) and v < operand, "$lte": lambda v: _comparable(v) and v <= operand,
    }
    if op not in comparisons:
        raise invalid(f"Did not recognize the operand: {op}")
    if operand is None and op not in ("$equals", "$not_equals"):
        raise invalid(f"{op} on {f.name} needs a value")
    check = comparisons[op]
    return lambda r: check(get(r))


def _comparable(value: Any) -> bool:
    return value is not None and value != ""


def order_terms(module: Module, order_by: str | None) -> list[tuple[str, bool]]:
    """``order_by`` ("date_modified:ASC,id:ASC") → a list of (field, descending). Sugar's own
    default is the newest change first."""
    text = order_by or "date_modified:DESC"
    terms = []
    for part in str(text).split(","):
        name, _, direction = part.strip().partition(":")
        direction = (direction or "ASC").upper()
        if direction not in ("ASC", "DESC"):
            raise invalid(f"Invalid order direction {direction}")
        _field(module, name.strip())
        terms.append((name.strip(), direction == "DESC"))
    return terms


def ordered(records: list[Record], terms: list[tuple[str, bool]]) -> list[Record]:
    """Sort stably by the last term first; NULLs sort first ascending, as in MySQL."""
    result = list(records)
    for name, descending in reversed(terms):
        result.sort(key=lambda r: _null_first(r.get(name)), reverse=descending)
    return result


def _null_first(value: Any) -> tuple:
    if value is None or value == "":
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    if isinstance(value, (datetime, date)):
        return (1, value.isoformat())
    return (1, value)
