"""The one predicate form the qualification definition uses everywhere.

A predicate names a field and exactly one operator. Applied to a value it answers
``True`` (passes), ``False`` (fails) or ``None`` (unknown: the value is missing, so the rule can
neither pass nor fail). ``present`` is the one operator that is never unknown.

Comparison rules, chosen for the people who type these values into forms and CRMs:
- missing means ``None``, an empty or whitespace-only string, or an empty list;
- ``equals`` / ``not_equals`` / ``in`` / ``not_in`` / ``contains`` compare text case-insensitively
  and ignore surrounding whitespace ("Software" equals "software ");
- a boolean operand accepts true/"true"/"yes"/"y"/"1"/1 (and the matching false spellings);
- a numeric operand and ``min`` / ``max`` coerce numeric strings ("250", "1,200"); a value that is
  not a number is treated as missing, with the detail "not a number";
- a range picklist value ("100-500", "1000+", "5-25", as HubSpot's ``numemployees`` and
  ``annualrevenue`` ranges spell them) meets ``min`` when its *lower* bound does and ``max``
  when its *upper* bound does: a range passes only when every size in it would, so "50-100"
  fails ``min = 100`` and the open "1000+" never meets a ``max``;
- ``pattern`` / ``not_pattern`` are Python regexes applied with ``re.search``, case-sensitive
  unless the pattern says ``(?i)``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

OPERATORS: tuple[str, ...] = (
    "equals", "not_equals", "in", "not_in", "contains", "pattern", "not_pattern", "min", "max", "present",
)

_PATTERN_MEMO_LIMIT = 4096
_TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0"})


def is_missing(value: Any) -> bool:
    """None, blank text or an empty list: the field tells us nothing."""
    if value is None:
        return True
    if value.__class__ is str:
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return not value
    return False


def as_number(value: Any) -> float | None:
    """A number, or a numeric string with thousands separators; None when it is not a number."""
    if value.__class__ is int or value.__class__ is float:
        return None if value != value or math.isinf(value) else float(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return as_number(float(value))
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        try:
            number = float(text)
        except ValueError:
            return None
        return None if math.isnan(number) or math.isinf(number) else number
    return None


_RANGE = re.compile(r"^\s*([0-9][0-9,_.]*)\s*(?:(?:-|–|to)\s*([0-9][0-9,_.]*)|(\+))\s*$", re.IGNORECASE)


def range_bounds(value: Any) -> tuple[float, float | None] | None:
    """("100-500") → (100, 500); ("1000+") → (1000, None); anything else → None."""
    if not isinstance(value, str):
        return None
    match = _RANGE.match(value)
    if match is None:
        return None
    low = as_number(match.group(1))
    high = None if match.group(3) else as_number(match.group(2))
    if low is None or (high is None and not match.group(3)) or (high is not None and high < low):
        return None
    return low, high


def as_bool(value: Any) -> bool | None:
    """Yes/no as forms and CRMs spell it; None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        word = value.strip().casefold()
        return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else None
    return None


def as_text(value: Any) -> str:
    """Text compared case-insensitively, surrounding whitespace ignored."""
    if value.__class__ is str:
        return value.strip().casefold()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def _equals_matcher(operand: Any) -> Callable[[Any], bool]:
    if isinstance(operand, bool):
        return lambda value: as_bool(value) is operand
    if isinstance(operand, (int, float)):
        number = float(operand)
        return lambda value: as_number(value) == number
    text = as_text(operand)
    return lambda value: as_text(value) == text


def _in_matcher(operands: list[Any]) -> Callable[[Any], bool]:
    if all(isinstance(o, str) for o in operands):
        texts = frozenset(as_text(o) for o in operands)
        return lambda value: as_text(value) in texts
    matchers = tuple(_equals_matcher(o) for o in operands)
    return lambda value: any(match(value) for match in matchers)


def _contains_matcher(operand: str) -> Callable[[Any], bool]:
    needle = as_text(operand)

    def contains(value: Any) -> bool:
        if isinstance(value, (list, tuple, set, frozenset)):  # a multi-select field
            return any(as_text(item) == needle for item in value)
        return needle in as_text(value)
    return contains


def _pattern_matcher(regex: re.Pattern[str]) -> Callable[[Any], bool]:
    """Titles and industries repeat across leads: remember recent answers, bounded."""
    search = regex.search
    memo: dict[str, bool] = {}

    def matches(value: Any) -> bool:
        text = value if value.__class__ is str else str(value)
        found = memo.get(text)
        if found is None:
            found = search(text) is not None
            if len(memo) >= _PATTERN_MEMO_LIMIT:
                memo.clear()
            memo[text] = found
        return found
    return matches


def _range_matcher(low: float | None, high: float | None) -> Callable[[Any], bool | None]:
    def in_range(value: Any) -> bool | None:
        number = as_number(value)
        if number is not None:
            return (low is None or number >= low) and (high is None or number <= high)
        bounds = range_bounds(value)
        if bounds is None:
            return None
        least, most = bounds     # every size in the range must meet the rule
        return (low is None or least >= low) and (high is None or (most is not None and most <= high))
    return in_range


def _describe(field: str, op: str, operand: Any) -> str:
    """The condition in words, for explanations: ``employees ≥ 100``."""
    if op == "range":
        low, high = operand
        if high is None:
            return f"{field} ≥ {_num(low)}"
        if low is None:
            return f"{field} ≤ {_num(high)}"
        return f"{field} between {_num(low)} and {_num(high)}"
    if op in ("in", "not_in"):
        shown = ", ".join(str(o) for o in operand[:4]) + (", …" if len(operand) > 4 else "")
        return f"{field} {'in' if op == 'in' else 'not in'} [{shown}]"
    if op in ("pattern", "not_pattern"):
        return f"{field} {'matches' if op == 'pattern' else 'does not match'} /{operand}/"
    if op == "present":
        return f"{field} present" if operand else f"{field} absent"
    words = {"equals": "=", "not_equals": "≠", "contains": "contains"}
    return f"{field} {words[op]} {operand!r}"


def _with_missing(match: Callable[[Any], bool | None] | None, present: bool | None) -> Callable[[Any], bool | None]:
    """Wrap an operator so a missing value is unknown (``present`` answers it instead)."""
    if match is None:  # the present operator
        def present_verdict(value: Any) -> bool:
            return is_missing(value) is not present
        return present_verdict

    def verdict(value: Any) -> bool | None:
        return None if is_missing(value) else match(value)
    return verdict


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Predicate:
    """A compiled ``field`` + operator. Built once at load; ``verdict`` is the hot path."""

    __slots__ = ("field", "op", "operand", "text", "_present", "verdict")

    def __init__(self, field: str, op: str, operand: Any) -> None:
        """``op`` is one of OPERATORS, or "range" with operand ``(min, max)`` (either may be None).

        Operands must already be validated (``definition`` does that): patterns compiled or
        compilable, numbers numeric, lists non-empty.
        """
        self.field = field
        self.op = op
        self.operand = operand.pattern if isinstance(operand, re.Pattern) else operand
        self.text = _describe(field, op, self.operand)
        self._present = bool(operand) if op == "present" else None
        #: verdict(value) -> True passes, False fails, None unknown (missing, or not a number).
        #: One closure per predicate: it runs for every rule of every lead.
        self.verdict: Callable[[Any], bool | None] = _with_missing(self._compile(op, operand), self._present)

    @staticmethod
    def _compile(op: str, operand: Any) -> Callable[[Any], bool | None] | None:
        if op == "present":
            return None
        if op == "range":
            return _range_matcher(*operand)
        if op in ("pattern", "not_pattern"):
            regex = operand if isinstance(operand, re.Pattern) else re.compile(operand)
            match = _pattern_matcher(regex)
        elif op in ("equals", "not_equals"):
            match = _equals_matcher(operand)
        elif op in ("in", "not_in"):
            match = _in_matcher(list(operand))
        elif op == "contains":
            match = _contains_matcher(operand)
        else:
            raise ValueError(f"unknown operator {op!r}")
        if op.startswith("not_"):
            return lambda value: not match(value)
        return match

    def explain(self, value: Any) -> str:
        """Why ``value`` gets the verdict it gets, in a sentence fragment."""
        if is_missing(value):
            return f"{self.field} missing" if self._present is None else f"{self.field} missing ({self.text})"
        verdict = self.verdict(value)
        if verdict is None:
            return f"{self.field} {value!r} is not a number"
        return f"{self.field} {_short(value)!r} {'meets' if verdict else 'fails'} {self.text}"

    def __repr__(self) -> str:
        return f"Predicate({self.text})"


def _short(value: Any, limit: int = 60) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value
