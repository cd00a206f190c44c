"""What each system should hold for a person, and what differs from what it holds. Pure.

The sync engine asks: given the person's stage and qualification, which HubSpot properties and
which CRM fields should carry which values? Then only values that differ from what leadsync
last wrote are written (an unchanged write bumps the remote modstamp and comes back as a change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from connector.core.durations import parse_instant
from connector.core.model import CONTACT, HANDED_OFF
from connector.core.predicate import is_missing

# HubSpot's lifecycle stages in their only allowed direction.
LIFECYCLE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                   "opportunity", "customer", "evangelist", "other")

# HubSpot's lead status property: sales' own, written by leadsync only where it manages the person.
LEAD_STATUS = "hs_lead_status"

# Which system's value wins for a field both systems hold (HubSpot's sync-rule vocabulary).
HUBSPOT_WINS = {"hubspot_unless_blank", "always_hubspot"}


@dataclass(frozen=True)
class WriteMaps:
    """The slice of mappings/*.toml the write plan needs."""

    hubspot_write: Mapping[str, str]                 # output (stage, score, …) → HubSpot property
    lifecycle: Mapping[str, str]                     # canonical stage → lifecyclestage ("" = leave)
    lead_status: Mapping[str, str]                   # canonical stage → hs_lead_status ("" = leave)
    crm_write: Mapping[str, str]                     # output → CRM field
    crm_fields: Mapping[str, tuple[str, str]]        # canonical field → (CRM field, sync rule)
    contact_fields: frozenset[str] = frozenset()     # canonical fields a CRM contact record carries


@dataclass(frozen=True)
class Outputs:
    """The values leadsync derives for one person, system-neutral."""

    stage: str
    score: float | None
    fit_score: float | None
    engagement_score: float | None
    handoff_at: datetime | None
    reason: str
    missing: str
    definition_version: int | None


def hubspot_values(out: Outputs, maps: WriteMaps, current_lifecycle: str | None, *, recycling: bool) -> dict[str, Any]:
    """HubSpot contact properties for these outputs.

    lifecyclestage only ever moves forward, except on a recycle (the adapter clears it first).
    A contact HubSpot already holds further along (set by hand, say) is left where it is.
    """
    values: dict[str, Any] = {}
    for output, prop in maps.hubspot_write.items():
        values[prop] = _hubspot_value(getattr(out, output))
    lifecycle = maps.lifecycle.get(out.stage, "")
    if lifecycle and (recycling or lifecycle_rank(lifecycle) >= lifecycle_rank(current_lifecycle)):
        values["lifecyclestage"] = lifecycle
    lead_status = maps.lead_status.get(out.stage, "")
    if lead_status:
        values[LEAD_STATUS] = lead_status
    return values


def leave_sales_status(values: Mapping[str, Any], managed: bool, current: Mapping[str, Any],
                       ours: Mapping[str, Any]) -> dict[str, Any]:
    """``hs_lead_status`` is sales' field in HubSpot: leadsync sets it only for people it manages
    in marketing stages, and never over a value someone else set (one that is not blank and
    not the last value leadsync wrote there)."""
    if LEAD_STATUS not in values:
        return dict(values)
    now_held = current.get(LEAD_STATUS)
    foreign = not is_missing(now_held) and _comparable(now_held) != _comparable(ours.get(LEAD_STATUS))
    if managed and not foreign:
        return dict(values)
    return {k: v for k, v in values.items() if k != LEAD_STATUS}


def stamp(moment: datetime) -> str:
    """A modified time as leadsync keeps it (UTC, milliseconds)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def sales_owned_fields(maps: WriteMaps) -> Callable[[str], bool]:
    """Whether a canonical field read from the CRM is sales' word (BANT, fields the CRM wins),
    as opposed to a profile field leadsync copies there from HubSpot."""
    copied = {name for name, (_, rule) in maps.crm_fields.items() if rule in HUBSPOT_WINS or rule == "two_way"}
    return lambda name: name not in copied


def crm_values(out: Outputs, lead: Mapping[str, Any], maps: WriteMaps) -> dict[str, Any]:
    """CRM lead/contact fields: profile fields HubSpot owns and leadsync's own fields. The
    adapter adds its bookkeeping (external id, owner, the opening status on a handoff); sales
    owns the status afterwards, and BANT is never written."""
    values: dict[str, Any] = {}
    for name, (crm_field, rule) in maps.crm_fields.items():
        if rule in HUBSPOT_WINS or rule == "two_way":
            value = lead.get(name)
            if not is_missing(value) or rule == "always_hubspot":
                values[crm_field] = value
    for output, crm_field in maps.crm_write.items():
        values[crm_field] = _crm_value(getattr(out, output))
    return values


def for_kind(values: Mapping[str, Any], kind: str, maps: WriteMaps) -> dict[str, Any]:
    """A contact record (an existing customer's person) carries fewer fields than a lead: no
    status, no company firmographics (those live on its account)."""
    if kind != CONTACT:
        return dict(values)
    allowed = {maps.crm_fields[name][0] for name in maps.contact_fields if name in maps.crm_fields}
    allowed |= set(maps.crm_write.values())
    return {k: v for k, v in values.items() if k in allowed}


def reaches_crm(stage: str, has_crm_record: bool) -> bool:
    """Only handed-off leads exist in the CRM; once there, the record is kept current."""
    return stage in HANDED_OFF or has_crm_record


def converts(from_stage: str, to_stage: str, convert_at: str, person: Mapping[str, Any]) -> bool:
    """Whether this cycle converts the person's Lead into an Opportunity: it has just reached
    the CRM's ``convert_at`` stage (sql by default; sal where accepting a lead converts it),
    it is a Lead in the CRM and not converted yet."""
    if not person.get("crm_id") or person.get("opportunity_id") or person.get("crm_object") == CONTACT:
        return False
    if convert_at == "sal":
        return from_stage in ("sal", "sql") and to_stage in ("sal", "sql")
    return from_stage == "sal" and to_stage == "sql"


def advances(from_stage: str, to_stage: str, person: Mapping[str, Any]) -> bool:
    """An opportunity made at sal moves to the qualified pipeline when its lead becomes an sql."""
    return from_stage == "sal" and to_stage == "sql" and bool(person.get("opportunity_id"))


def changed(desired: Mapping[str, Any], last_written: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from what leadsync last wrote (compared in their JSON form)."""
    return {k: v for k, v in desired.items() if _comparable(last_written.get(k, _MISSING)) != _comparable(v)}


_MISSING = object()


def remote_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """What a system holds, in the form leadsync writes it, so equal values compare equal
    (HubSpot answers "72.0" or "2026-11-24T12:00:00Z" for what was written as "72" / ".000Z")."""
    return {k: _canonical_text(v) for k, v in values.items()}


def _canonical_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and text.strip().lower() not in ("nan", "inf", "-inf", "infinity"):
        return _hubspot_value(number) if isinstance(value, str) else value
    try:
        return _hubspot_value(parse_instant(text, assume_utc=False))
    except ValueError:
        return value   # not an instant, or one without a zone: not something leadsync wrote


def _comparable(value: Any) -> Any:
    if value is _MISSING:
        return _MISSING
    if value == "" or value is None:
        return None          # a blank is a blank, whichever way a system spells it
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def lifecycle_rank(value: str | None) -> int:
    """Where a lifecyclestage value stands in its only allowed direction (-1: unknown or blank)."""
    return LIFECYCLE_ORDER.index(value) if value in LIFECYCLE_ORDER else -1


def _hubspot_value(value: Any) -> Any:
    """HubSpot takes strings for every property type; datetimes as ISO-8601 UTC."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, float):
        return str(int(round(value))) if abs(value - round(value)) < 1e-9 else f"{value:.2f}"
    return str(value)


def _crm_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if value == "":
        return None
    return value


@dataclass
class PersonPlan:
    """One person's outcome in a cycle: the stage move and the writes it needs."""

    hubspot_id: str
    email: str | None
    from_stage: str
    to_stage: str
    cause: str = "definition"
    rule: str = ""
    hubspot: dict[str, Any] = field(default_factory=dict)       # changed HubSpot properties
    crm: dict[str, Any] = field(default_factory=dict)           # changed CRM fields
    new_handoff: bool = False
    convert: bool = False
    advance: bool = False                                        # move its opportunity to the qualified stage
    recycling: bool = False
    old: dict[tuple[str, str], Any] = field(default_factory=dict)  # (side, field) → value before
