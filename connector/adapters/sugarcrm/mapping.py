"""``mappings/sugarcrm.toml``: Sugar modules and fields, lead status ↔ stage, touches, where a
Lead converts (``convert_at``), the two pipeline stages, BANT on the Opportunity, routing.
Validated whole at load (file, key, reason)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from connector.core.mapping import (FIELD_TYPES, IDENTIFIER, FieldMap, HandoffRules, MappingReader, check_outputs, handoff_rules,
                                    field_maps)
from connector.core.model import STAGES

CONVERT_AT = ("sal", "sql")
TOUCH_MODULES = ("Calls", "Meetings", "Tasks")


@dataclass(frozen=True, slots=True)
class StatusMap:
    handoff: str
    converted: str
    reason_field: str
    feedback: Mapping[str, str]                # lead status → canonical stage


@dataclass(frozen=True, slots=True)
class OpportunityRules:
    convert_at: str                            # the stage whose arrival converts a Lead
    unqualified_stage: str                     # "unqualified pipeline": a just-accepted lead
    qualified_stage: str                       # "qualified pipeline": BANT verified
    won_stages: tuple[str, ...]
    lost_stages: tuple[str, ...]
    stalled_after_days: int


@dataclass(frozen=True, slots=True)
class SugarMapping:
    path: str
    lead_object: str
    lead_external_id: str
    lead_fields: tuple[FieldMap, ...]
    lead_write: tuple[FieldMap, ...]
    contact_object: str
    contact_external_id: str
    status: StatusMap
    touches: Mapping[str, str]                 # module (Calls, Meetings, Tasks) → touch kind
    opportunity: OpportunityRules
    handoff: HandoffRules
    contact_carries: tuple[str, ...] = ()
    opportunity_fields: tuple[FieldMap, ...] = ()   # read from the Lead's Opportunity (BANT)


LAYOUT: Mapping[str, frozenset[str] | None] = {
    "lead": frozenset({"object", "external_id", "fields", "write"}),
    "contact": frozenset({"object", "external_id", "fields"}),
    "status": frozenset({"handoff", "converted", "reason_field", "feedback"}),
    "touches": None,
    "opportunity": frozenset({"convert_at", "unqualified_stage", "qualified_stage", "won_stages", "lost_stages",
                              "stalled_after_days", "fields"}),
    "handoff": frozenset({"routing", "users", "account_owner_wins", "customer_account_as_contact",
                          "customer_account_types", "follow_up_task", "task_subject"}),
}


def load_sugar_mapping(path: str | Path) -> SugarMapping:
    reader = MappingReader(path)
    reader.check_known(LAYOUT)
    feedback = reader.get("status.feedback", dict, {})
    for status, stage in feedback.items():
        if stage not in STAGES:
            reader.fail(f"status.feedback.{status}", f"unknown stage {stage!r}")
    touches = reader.get("touches", dict, {})
    for module, kind in touches.items():
        if module not in TOUCH_MODULES:
            reader.fail(f"touches.{module}", f"unknown module; touches come from {', '.join(TOUCH_MODULES)}")
        elif kind not in ("call", "email", "meeting"):
            reader.fail(f"touches.{module}", f"unknown touch kind {kind!r}; use call, email or meeting")
    for key in ("lead.object", "lead.external_id", "contact.object", "contact.external_id", "status.reason_field"):
        name = reader.get(key, str, "id", required=False)
        if not IDENTIFIER.match(name):
            reader.fail(key, f"{name!r} is not a Sugar field or module name (letters, digits, underscores)")
    mapping = SugarMapping(
        path=reader.file,
        lead_object=reader.get("lead.object", str, "Leads"),
        lead_external_id=reader.get("lead.external_id", str, ""),
        lead_fields=field_maps(reader, "lead.fields", "field", FIELD_TYPES, "hubspot_unless_blank"),
        lead_write=field_maps(reader, "lead.write", "field", FIELD_TYPES, "always_hubspot"),
        contact_object=reader.get("contact.object", str, "Contacts"),
        contact_external_id=reader.get("contact.external_id", str, ""),
        contact_carries=tuple(reader.get("contact.fields", list, [], required=False)),
        status=StatusMap(reader.get("status.handoff", str, ""), reader.get("status.converted", str, ""),
                         reader.get("status.reason_field", str, "", required=False), dict(feedback)),
        touches=dict(touches),
        opportunity=_opportunity(reader),
        handoff=handoff_rules(reader, "Sugar"),
        opportunity_fields=field_maps(reader, "opportunity.fields", "field", FIELD_TYPES, "always_crm",
                                      required=False),
    )
    check_outputs(reader, "lead.write", mapping.lead_write)
    lead_names = {f.canonical for f in mapping.lead_fields}
    for name in mapping.contact_carries:
        if name not in lead_names:
            reader.fail("contact.fields", f"{name!r} is not one of lead.fields")
    for f in mapping.opportunity_fields:
        if f.canonical in lead_names:
            reader.fail(f"opportunity.fields.{f.canonical}", "already read from the Lead (lead.fields)")
    reader.raise_if_any()
    return mapping


def _opportunity(reader: MappingReader) -> OpportunityRules:
    days = reader.get("opportunity.stalled_after_days", int, 90)
    if days < 1:
        reader.fail("opportunity.stalled_after_days", "must be at least 1")
    convert_at = reader.get("opportunity.convert_at", str, "sal", required=False)
    unqualified = reader.get("opportunity.unqualified_stage", str, "", required=False)
    if convert_at not in CONVERT_AT:
        reader.fail("opportunity.convert_at", f"unknown stage {convert_at!r}; a Lead converts at one of "
                                              f"{', '.join(CONVERT_AT)}")
    elif convert_at == "sal" and not unqualified:
        reader.fail("opportunity.unqualified_stage",
                    'required when convert_at = "sal": the stage a just-accepted lead\'s opportunity starts at')
    return OpportunityRules(convert_at, unqualified, reader.get("opportunity.qualified_stage", str, ""),
                            tuple(reader.get("opportunity.won_stages", list, [])),
                            tuple(reader.get("opportunity.lost_stages", list, [])), days)
