"""Salesforce's value formats on the wire: record ids, timestamps, and JSON ↔ field values.

Stored values are Python-native per field type (str, int, float, bool, date, aware datetime);
they become Salesforce-shaped JSON only on the way out, the way the real API prints them
(``2026-01-05T10:00:00.000+0000``, currency as a float, an int field as an int).
"""

from __future__ import annotations

import itertools
import re
import threading
from datetime import date, datetime, timedelta, timezone

from leadsync_sandbox.salesforce_schema import NUMBER_TYPES, Field

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
ORG_ID = "00D5g000004LeadAAA"


class IdFactory:
    """Mints 18-character ids: key prefix + pod + base-62 sequence + case checksum."""

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new(self, key_prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        digits = ""
        for _ in range(9):
            n, r = divmod(n, 62)
            digits = _BASE62[r] + digits
        # "5g1": the seed mints "5g0…" ids, so records created here never collide with them
        return to_18(f"{key_prefix}5g1{digits}")


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id (15-char ids are case-sensitive)."""
    short = record_id[:15]
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, c in enumerate(short[chunk * 5:chunk * 5 + 5]) if c.isupper())
        suffix += _CHECKSUM[bits]
    return short + suffix


def is_valid_id(value: object) -> bool:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        return False
    return len(value) == 15 or to_18(value).lower() == value.lower()


def normalize_id(value: str) -> str:
    return to_18(value) if len(value) in (15, 18) else value


# --- timestamps -------------------------------------------------------------------------

def format_datetime(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(text: str) -> datetime:
    """Parse the ISO forms Salesforce accepts; raises ValueError otherwise."""
    m = _DATETIME.match(text.strip())
    if not m:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                     micro, tzinfo=tz)
    return local.astimezone(timezone.utc)


def to_json(f: Field, value: object) -> object:
    """A stored value as the REST API prints it."""
    if value is None:
        return None
    if f.type == "datetime":
        return format_datetime(value)  # type: ignore[arg-type]
    if f.type == "date":
        return value.isoformat()  # type: ignore[union-attr]
    if f.type in ("double", "currency", "percent"):
        return float(value)  # type: ignore[arg-type]
    return value


class CoercionError(ValueError):
    """A JSON value the field's deserializer rejects (the API answers JSON_PARSER_ERROR)."""

    def __init__(self, f: Field, value: object) -> None:
        kind = {"int": "int", "double": "double", "currency": "double", "percent": "double",
                "boolean": "boolean", "date": "date", "datetime": "datetime"}.get(f.type, "string")
        source = "VALUE_STRING" if isinstance(value, str) else (
            "START_OBJECT" if isinstance(value, dict) else "START_ARRAY" if isinstance(
                value, list) else "VALUE_" + type(value).__name__.upper())
        super().__init__(f"Cannot deserialize instance of {kind} from {source} value {value} "
                         "or request may be missing a required field")


def from_json(f: Field, value: object) -> object:
    """Coerce a JSON value into the field's stored type, as leniently as Salesforce does:
    numeric strings for numbers and "true"/"false" for checkboxes are accepted."""
    if value is None or (value == "" and f.type != "boolean"):
        return None
    if isinstance(value, (dict, list)):
        raise CoercionError(f, value)
    try:
        return _coerce(f, value)
    except (TypeError, ValueError):
        raise CoercionError(f, value) from None


def _coerce(f: Field, value: object) -> object:
    if f.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(value)
    if f.type in NUMBER_TYPES:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(value)  # type: ignore[arg-type]
        if f.type == "int":
            if number != int(number):
                raise ValueError(value)
            return int(number)
        return number
    if f.type == "datetime":
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_datetime(value)
    if f.type == "date":
        if not isinstance(value, str):
            raise ValueError(value)
        return date.fromisoformat(value[:10])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
