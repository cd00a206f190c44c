"""Validation helpers for the definition loader: collect problems, never stop at the first one.

Every check appends a ``Problem(file, key_path, reason)`` and carries on with a harmless value,
so one ``leadsync definition check`` run shows everything that is wrong.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import Any, Iterable, Mapping

from connector.core import model
from connector.core.durations import parse_duration as parse_any_duration
from connector.core.errors import Problem
from connector.core.predicate import OPERATORS, Predicate

# BANT answers live in the CRM; the mappings add these canonical fields (see salesforce.toml).
DEFAULT_BANT_FIELDS: tuple[str, ...] = ("bant_budget", "bant_authority", "bant_need", "bant_timeline")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a table"}


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"2h"``, ``"1d"``, ``"14d"``, ``"2w"``, ``"45s"`` → timedelta (must be > 0).
    The syntax is the config file's (``config.parse_duration``); a definition's durations must
    also be longer than zero."""
    hint = "use a number and a unit s, m, h, d or w, like \"30m\" or \"14d\""
    try:
        value = parse_any_duration(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if value is None:
        raise ValueError(f"bad duration {text!r}: {hint}")
    if value <= timedelta(0):
        raise ValueError(f"bad duration {text!r}: must be longer than zero")
    return value


def rule_path(section: str, index: int, rule: Any) -> str:
    """``behavior["Demo request"]`` when the rule is named, ``fit[2]`` when it is not."""
    name = rule.get("name") if isinstance(rule, dict) else None
    if isinstance(name, str) and name.strip():
        return f'{section}["{name}"]'
    return f"{section}[{index}]"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        return "a number"
    return " or ".join(_TYPE_NAMES.get(k, getattr(k, "__name__", str(k))) for k in kinds)


def _got(value: Any) -> str:
    kind = {bool: "boolean", str: "string", int: "integer", float: "number", list: "list", dict: "table"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


class Reader:
    """Reads one definition file, collecting problems with their key paths."""

    def __init__(self, file: str, fields: frozenset[str]) -> None:
        self.file = file
        self.fields = fields
        self.problems: list[Problem] = []

    def problem(self, key: str, reason: str) -> None:
        self.problems.append(Problem(self.file, key, reason))

    def keys(self, table: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
        allowed = set(allowed)
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(_join(path, key), f"unknown key{hint}")

    def table(self, parent: Mapping[str, Any], key: str, path: str) -> dict | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(path, f"must be a table, got {_got(value)}")
            return None
        return value

    def value(self, table: Mapping[str, Any], key: str, path: str, kind: Any, *,
              required: bool = False, default: Any = None) -> Any:
        if key not in table:
            if required:
                self.problem(_join(path, key), "missing")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if wrong_bool or not isinstance(value, kinds):
            self.problem(_join(path, key), f"must be {_kind_name(kind)}, got {_got(value)}")
            return default
        return value

    def field(self, name: Any, path: str) -> bool:
        if not isinstance(name, str):
            self.problem(path, f"must be a field name, got {_got(name)}")
            return False
        if name not in self.fields:
            close = difflib.get_close_matches(name, sorted(self.fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.problem(path, f"unknown field {name!r} ({hint}known: {', '.join(sorted(self.fields))})")
            return False
        return True

    def duration(self, table: Mapping[str, Any], key: str, path: str) -> timedelta | None:
        text = self.value(table, key, path, str)
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as error:
            self.problem(_join(path, key), str(error))
            return None


def _operators_in(table: Mapping[str, Any]) -> list[str]:
    return [op for op in OPERATORS if op in table]


def _one_operator(reader: Reader, table: Mapping[str, Any], path: str) -> str | None:
    """The single operator of a predicate; ``min`` and ``max`` together count as one (a range)."""
    ops = _operators_in(table)
    if set(ops) == {"min", "max"} or ops in (["min"], ["max"]):
        return "range"
    if len(ops) == 1:
        return ops[0]
    found = f"found {len(ops)}: {', '.join(ops)}" if ops else "found none"
    reader.problem(path, f"needs exactly one operator ({', '.join(OPERATORS)}); {found}")
    return None


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _operand(reader: Reader, op: str, table: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Validate the operand for ``op``; (ok, operand ready for Predicate)."""
    if op == "range":
        low, high = table.get("min"), table.get("max")
        ok = True
        for key, bound in (("min", low), ("max", high)):
            if key in table and not _number(bound):
                reader.problem(_join(path, key), f"must be a number, got {_got(bound)}")
                ok = False
        if ok and low is not None and high is not None and low > high:
            reader.problem(_join(path, "min"), f"min {low} is greater than max {high}")
            ok = False
        return ok, (low, high)
    value = table[op]
    where = _join(path, op)
    if op in ("equals", "not_equals") and not _scalar(value):
        reader.problem(where, f"must be a single value (text, number or true/false), got {_got(value)}")
    elif op in ("in", "not_in") and (not isinstance(value, list) or not value or not all(map(_scalar, value))):
        reader.problem(where, f"must be a non-empty list of values, got {_got(value)}")
    elif op == "contains" and not isinstance(value, str):
        reader.problem(where, f"must be text, got {_got(value)}")
    elif op == "present" and not isinstance(value, bool):
        reader.problem(where, f"must be true or false, got {_got(value)}")
    elif op in ("pattern", "not_pattern"):
        if not isinstance(value, str):
            reader.problem(where, f"must be a regular expression (text), got {_got(value)}")
            return False, None
        try:
            return True, re.compile(value)
        except re.error as error:
            reader.problem(where, f"bad regex {value!r}: {error}")
            return False, None
    else:
        return True, value
    return False, None


def parse_predicate(reader: Reader, table: Mapping[str, Any], path: str, *,
                    extra_keys: Iterable[str] = ()) -> Predicate | None:
    """A lead-field predicate: ``field`` plus exactly one operator (``min``/``max`` may pair)."""
    before = len(reader.problems)
    reader.keys(table, {"field", *OPERATORS, *extra_keys}, path)
    name = reader.value(table, "field", path, str, required=True)
    if name is not None:
        reader.field(name, _join(path, "field"))
    op = _one_operator(reader, table, path)
    ok, operand = _operand(reader, op, table, path) if op else (False, None)
    if not ok or len(reader.problems) > before:
        return None
    return Predicate(name, op, operand)


def parse_where(reader: Reader, where: Any, path: str, activity: str | None) -> tuple[Predicate, ...] | None:
    """``where = { attr = value }`` (equals; a list means in) or ``attr = { <operator> = value }``."""
    if not isinstance(where, dict):
        reader.problem(path, f"must be a table of activity attributes, got {_got(where)}")
        return None
    before = len(reader.problems)
    known = model.ACTIVITY_TYPES.get(activity) if activity else None
    predicates = []
    for attr, spec in where.items():
        attr_path = _join(path, attr)
        if known is not None and attr not in known:
            listed = ", ".join(sorted(known)) or "none"
            reader.problem(attr_path, f"unknown attribute {attr!r} for {activity} (known: {listed})")
            continue
        if isinstance(spec, dict):
            reader.keys(spec, OPERATORS, attr_path)
            op = _one_operator(reader, spec, attr_path)
            ok, operand = _operand(reader, op, spec, attr_path) if op else (False, None)
        elif isinstance(spec, list):
            op = "in"
            ok, operand = _operand(reader, op, {"in": spec}, attr_path)
        else:
            op = "equals"
            ok, operand = _operand(reader, op, {"equals": spec}, attr_path)
        if ok:
            predicates.append(Predicate(attr, op, operand))
    if len(reader.problems) > before:
        return None
    return tuple(predicates)


__all__ = ["DEFAULT_BANT_FIELDS", "Reader", "parse_duration", "parse_predicate",
           "parse_where", "rule_path"]
