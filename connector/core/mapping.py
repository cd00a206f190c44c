"""Field maps from ``mappings/*.toml``, validated once: the shared machinery (a reader that
collects problems, field maps, stage maps, value normalising) and HubSpot's mapping. Each CRM
adapter loads its own mapping file with these parts (``adapters/<crm>/mapping.py``).

Loading collects every problem (file, key, reason) into one ``ConfigError`` before the first API
call. Reading a vendor value goes through ``normalise`` by the declared type: values people type
into forms ("1,200", "Yes", a date in either of HubSpot's spellings) become canonical values, and
what cannot be understood becomes None plus a note; a bad value never stops a sync.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from connector.core.durations import parse_instant
from connector.core.errors import ConfigError, Problem
from connector.core.model import ACTIVITY_TYPES, STAGES
from connector.core.predicate import is_missing, range_bounds

FIELD_TYPES = ("string", "int", "float", "bool", "datetime", "range")
WRITE_TYPES = ("string", "number", "datetime", "bool")
SYNC_RULES = ("hubspot_unless_blank", "always_hubspot", "salesforce_unless_blank", "always_salesforce",
              "two_way", "none", "crm_unless_blank", "always_crm")
# The CRM-wins rules spelt for any CRM; they mean the same as the Salesforce-named ones.
SYNC_SYNONYMS = {"crm_unless_blank": "salesforce_unless_blank", "always_crm": "always_salesforce"}
ROUTINGS = ("assignment_rule", "round_robin")
# What leadsync derives per person and can write (core/plan.py ``Outputs``).
OUTPUTS = ("stage", "score", "fit_score", "engagement_score", "handoff_at", "reason", "missing",
           "definition_version")
DEFAULT_MAX_LENGTH = 1000
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class FieldMap:
    canonical: str
    name: str                                  # the vendor's property / field name
    type: str = "string"
    sync: str = "hubspot_unless_blank"
    label: str = ""
    max_length: int = DEFAULT_MAX_LENGTH


@dataclass(frozen=True, slots=True)
class ActivityMap:
    source: str                                # the vendor's event type
    type: str                                  # canonical activity type
    attrs: Mapping[str, str]                   # canonical attribute → vendor property
    when: Mapping[str, str]                    # vendor property → required value


@dataclass(frozen=True, slots=True)
class HubSpotMapping:
    path: str
    contact_fields: tuple[FieldMap, ...]
    company_fields: tuple[FieldMap, ...]
    contact_write: tuple[FieldMap, ...]
    lifecyclestage: Mapping[str, str]          # canonical stage → lifecyclestage ("" = leave it)
    lead_status: Mapping[str, str]             # canonical stage → hs_lead_status ("" = leave it)
    events: Mapping[str, ActivityMap]
    email_events: Mapping[str, ActivityMap]


# -- loading -----------------------------------------------------------------------------------

class MappingReader:
    """Walks one mapping file, recording every problem instead of stopping at the first."""

    def __init__(self, path: str | Path) -> None:
        self.file = str(path)
        self.problems: list[Problem] = []
        try:
            self.data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.fail("", "file not found")
            self.data = {}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            self.fail("", f"not valid TOML: {exc}")
            self.data = {}

    def fail(self, key: str, reason: str) -> None:
        self.problems.append(Problem(self.file, key, reason))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = True) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    self.fail(key, "missing")
                return default
            node = node[part]
        if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
            self.fail(key, f"must be {kind_name(kind)}, not {type(node).__name__}")
            return default
        return node

    def check_known(self, layout: Mapping[str, frozenset[str] | None]) -> None:
        """Flag typos in table and key names (``[contact.fieldz]``), which would otherwise be
        silently ignored."""
        for top, node in self.data.items():
            if top not in layout:
                self.fail(top, f"unknown section; expected one of {', '.join(layout)}")
            elif layout[top] is not None and isinstance(node, dict):
                for key in set(node) - layout[top]:
                    self.fail(f"{top}.{key}", f"unknown key; expected one of {', '.join(sorted(layout[top]))}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def kind_name(kind: type | tuple[type, ...]) -> str:
    names = {dict: "a table", str: "text", int: "a whole number", bool: "true or false", list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def field_maps(reader: MappingReader, key: str, name_key: str, types: Sequence[str], default_sync: str,
            required: bool = True) -> tuple[FieldMap, ...]:
    table = reader.get(key, dict, {}, required)
    result = []
    for canonical, entry in table.items():
        where = f"{key}.{canonical}"
        if not IDENTIFIER.match(canonical):
            reader.fail(where, "a canonical field name is letters, digits and underscores")
        if not isinstance(entry, dict):
            reader.fail(where, f"must be a table like {{ {name_key} = \"...\" }}")
            continue
        unknown = set(entry) - {name_key, "type", "sync", "label", "max_length"}
        if unknown:
            reader.fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
        name, type_ = entry.get(name_key), entry.get("type", "string")
        sync, length = entry.get("sync", default_sync), entry.get("max_length", DEFAULT_MAX_LENGTH)
        if not isinstance(name, str) or not name.strip():
            reader.fail(where, f"needs {name_key} = the {'property' if name_key == 'property' else 'field'} name")
            continue
        if not IDENTIFIER.match(name.strip()):
            # Names go into SOQL select lists and URLs as they are: only API names pass.
            reader.fail(f"{where}.{name_key}", f"{name!r} is not an API name (letters, digits, underscores)")
            continue
        if type_ not in types:
            reader.fail(f"{where}.type", f"unknown type {type_!r}; use one of {', '.join(types)}")
        if sync not in SYNC_RULES:
            reader.fail(f"{where}.sync", f"unknown sync rule {sync!r}; use one of {', '.join(SYNC_RULES)}")
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            reader.fail(f"{where}.max_length", "must be a positive whole number")
            length = DEFAULT_MAX_LENGTH
        sync = SYNC_SYNONYMS.get(sync, sync)
        result.append(FieldMap(canonical, name.strip(), type_, sync, str(entry.get("label", "")), length))
    return tuple(result)


def stage_map(reader: MappingReader, key: str, required_value: bool = False) -> dict[str, str]:
    table = reader.get(key, dict, {})
    result = {}
    for stage, value in table.items():
        if stage not in STAGES:
            reader.fail(f"{key}.{stage}", f"unknown stage; stages are {', '.join(STAGES)}")
        elif not isinstance(value, str):
            reader.fail(f"{key}.{stage}", "must be text (empty = leave untouched)")
        else:
            result[stage] = value
    missing = [s for s in STAGES if s not in table] if table else []
    if missing:
        reader.fail(key, f"missing stage(s) {', '.join(missing)}")
    return result


def _activities(reader: MappingReader, key: str) -> dict[str, ActivityMap]:
    table = reader.get(key, dict, {})
    result = {}
    for source, entry in table.items():
        where = f"{key}.{source}"
        if not isinstance(entry, dict):
            reader.fail(where, "must be a table like { type = \"page_view\", attrs = { ... } }")
            continue
        type_, attrs, when = entry.get("type"), entry.get("attrs", {}), entry.get("when", {})
        if type_ not in ACTIVITY_TYPES:
            reader.fail(f"{where}.type", f"unknown activity type {type_!r}; use one of {', '.join(ACTIVITY_TYPES)}")
            continue
        if not isinstance(attrs, dict) or not isinstance(when, dict):
            reader.fail(where, "attrs and when must be tables")
            continue
        for attr in set(attrs) - ACTIVITY_TYPES[type_]:
            reader.fail(f"{where}.attrs.{attr}", f"{type_} has no attribute {attr!r}")
        result[source] = ActivityMap(source, type_, {k: str(v) for k, v in attrs.items()},
                                     {k: str(v) for k, v in when.items()})
    return result


_HUBSPOT_LAYOUT: Mapping[str, frozenset[str] | None] = {
    "contact": frozenset({"fields", "write"}), "company": frozenset({"fields"}),
    "lifecyclestage": None, "hs_lead_status": None, "activities": frozenset({"events", "email_events"}),
}


def load_hubspot_mapping(path: str | Path) -> HubSpotMapping:
    reader = MappingReader(path)
    reader.check_known(_HUBSPOT_LAYOUT)
    mapping = HubSpotMapping(
        path=reader.file,
        contact_fields=field_maps(reader, "contact.fields", "property", FIELD_TYPES, "hubspot_unless_blank"),
        company_fields=field_maps(reader, "company.fields", "property", FIELD_TYPES, "hubspot_unless_blank", False),
        contact_write=field_maps(reader, "contact.write", "property", WRITE_TYPES, "always_hubspot"),
        lifecyclestage=stage_map(reader, "lifecyclestage"),
        lead_status=stage_map(reader, "hs_lead_status"),
        events=_activities(reader, "activities.events"),
        email_events=_activities(reader, "activities.email_events"),
    )
    check_outputs(reader, "contact.write", mapping.contact_write)
    for write in mapping.contact_write:
        if not write.name.startswith("leadsync_"):
            reader.fail(f"contact.write.{write.canonical}.property",
                        "leadsync only creates and writes its own properties (leadsync_…)")
    reader.raise_if_any()
    return mapping


def check_outputs(reader: MappingReader, key: str, writes: Sequence[FieldMap]) -> None:
    """Each written value names one of leadsync's outputs: a typo fails here, at load, not
    half-way through a cycle."""
    for write in writes:
        if write.canonical not in OUTPUTS:
            reader.fail(f"{key}.{write.canonical}", f"unknown output; leadsync writes {', '.join(OUTPUTS)}")


@dataclass(frozen=True, slots=True)
class HandoffRules:
    """``[handoff]`` of a CRM mapping (what ``core.handoff.HandoffRules`` is built from)."""
    routing: str
    users: tuple[str, ...]
    account_owner_wins: bool
    customer_account_as_contact: bool
    customer_account_types: tuple[str, ...]
    follow_up_task: bool
    task_subject: str


def handoff_rules(reader: MappingReader, crm: str = "") -> HandoffRules:
    """``[handoff]``: owner routing, farming and the follow-up task, as every CRM's mapping spells it."""
    routing = reader.get("handoff.routing", str, "assignment_rule")
    users = tuple(reader.get("handoff.users", list, [], required=False))
    if routing not in ROUTINGS:
        reader.fail("handoff.routing", f"unknown routing {routing!r}; use one of {', '.join(ROUTINGS)}")
    elif routing == "round_robin" and not users:
        reader.fail("handoff.users", f"round_robin routing needs at least one {crm + ' ' if crm else ''}user id")
    return HandoffRules(
        routing, users,
        reader.get("handoff.account_owner_wins", bool, True, required=False),
        reader.get("handoff.customer_account_as_contact", bool, False, required=False),
        tuple(reader.get("handoff.customer_account_types", list, [], required=False)),
        reader.get("handoff.follow_up_task", bool, False, required=False),
        reader.get("handoff.task_subject", str, "Follow up leadsync handoff", required=False))


# -- values ------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\t\r\n]+")


def normalise(value: Any, type_: str, *, max_length: int = DEFAULT_MAX_LENGTH) -> tuple[Any, str | None]:
    """(canonical value, note). Blank → (None, None); garbage → (None, why)."""
    if is_missing(value):
        return None, None
    try:
        return _NORMALISERS[type_](value, max_length)
    except (ValueError, TypeError, OverflowError):
        return None, f"not a {type_}: {str(value)[:40]!r}"


def _string(value: Any, max_length: int) -> tuple[Any, str | None]:
    text = _CONTROL.sub("", _LINE_BREAKS.sub(" ", str(value))).strip()
    if len(text) > max_length:
        return text[:max_length], f"cut to {max_length} characters"
    return (text or None), None


def _number_text(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    number = float(value.replace(",", "").replace("_", "").strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _int(value: Any, max_length: int) -> tuple[Any, str | None]:
    number = _number_text(value)
    if number != int(number):
        return None, f"not a whole number: {value!r}"
    return int(number), None


def _float(value: Any, max_length: int) -> tuple[Any, str | None]:
    return _number_text(value), None


def _bool(value: Any, max_length: int) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE, None
    raise ValueError(word)


def _range(value: Any, max_length: int) -> tuple[Any, str | None]:
    """A range picklist value ("100-500", "1000+") kept as HubSpot spells it: the definition's
    ``min`` / ``max`` read its bounds (``predicate.range_bounds``). Garbage is refused here."""
    text = str(value).strip()
    if range_bounds(text) is None:
        raise ValueError(text)
    return text, None


def _datetime(value: Any, max_length: int) -> tuple[Any, str | None]:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) or str(value).strip().isdigit():
        moment = datetime.fromtimestamp(int(value) / 1000.0, tz=timezone.utc)   # HubSpot: ms since epoch
    else:
        return parse_instant(str(value)), None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc), None


_NORMALISERS = {"string": _string, "int": _int, "float": _float, "bool": _bool, "datetime": _datetime,
                "number": _float, "range": _range}


def read_fields(raw: Mapping[str, Any], fields: Sequence[FieldMap]) -> tuple[dict[str, Any], list[str]]:
    """Vendor values → canonical values, plus a note per value that could not be understood."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    for field in fields:
        value, note = normalise(raw.get(field.name), field.type, max_length=field.max_length)
        values[field.canonical] = value
        if note:
            notes.append(f"{field.name}: {note}")
    return values, notes


def fill_blanks(values: dict[str, Any], fallback: Mapping[str, Any]) -> None:
    """Company-level values fill only what the person left blank."""
    for key, value in fallback.items():
        if values.get(key) is None and value is not None:
            values[key] = value


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None
