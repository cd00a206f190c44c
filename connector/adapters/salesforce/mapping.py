"""``mappings/salesforce.toml``: Salesforce objects and fields, Lead Status ↔ stage, touches,
opportunity stages and handoff routing. Validated whole at load (file, key, reason)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from connector.core.mapping import (FIELD_TYPES, IDENTIFIER, FieldMap, HandoffRules, MappingReader, check_outputs, handoff_rules,
                                    field_maps)
from connector.core.model import STAGES


@dataclass(frozen=True, slots=True)
class StatusMap:
    handoff: str
    converted: str
    reason_field: str
    feedback: Mapping[str, str]                # Lead Status → canonical stage


@dataclass(frozen=True, slots=True)
class OpportunityRules:
    qualified_stage: str
    won_stages: tuple[str, ...]
    lost_stages: tuple[str, ...]
    stalled_after_days: int
    convert_at: str = "sql"                    # Salesforce converts only sales-qualified leads (SPEC §5)


@dataclass(frozen=True, slots=True)
class SalesforceMapping:
    path: str
    lead_object: str
    lead_external_id: str
    lead_fields: tuple[FieldMap, ...]
    lead_write: tuple[FieldMap, ...]
    contact_object: str
    contact_external_id: str
    status: StatusMap
    touches: Mapping[str, str]                 # Task.TaskSubtype / "Event" → touch kind
    opportunity: OpportunityRules
    handoff: HandoffRules
    contact_carries: tuple[str, ...] = ()      # canonical fields a Contact carries (a subset of lead.fields)


LAYOUT: Mapping[str, frozenset[str] | None] = {
    "lead": frozenset({"object", "external_id", "fields", "write"}),
    "contact": frozenset({"object", "external_id", "fields"}),
    "status": frozenset({"handoff", "converted", "reason_field", "feedback"}),
    "touches": None,
    "opportunity": frozenset({"convert_at", "qualified_stage", "won_stages", "lost_stages", "stalled_after_days"}),
    "handoff": frozenset({"routing", "users", "account_owner_wins", "customer_account_as_contact",
                          "customer_account_types", "follow_up_task", "task_subject"}),
}


def load_salesforce_mapping(path: str | Path) -> SalesforceMapping:
    reader = MappingReader(path)
    reader.check_known(LAYOUT)
    feedback = reader.get("status.feedback", dict, {})
    for status, stage in feedback.items():
        if stage not in STAGES:
            reader.fail(f"status.feedback.{status}", f"unknown stage {stage!r}")
    touches = reader.get("touches", dict, {})
    for subtype, kind in touches.items():
        if kind not in ("call", "email", "meeting"):
            reader.fail(f"touches.{subtype}", f"unknown touch kind {kind!r}; use call, email or meeting")
    for key in ("lead.object", "lead.external_id", "contact.object", "contact.external_id", "status.reason_field"):
        name = reader.get(key, str, "Id", required=False)
        if not IDENTIFIER.match(name):
            reader.fail(key, f"{name!r} is not an API name (letters, digits, underscores)")
    mapping = SalesforceMapping(
        path=reader.file,
        lead_object=reader.get("lead.object", str, "Lead"),
        lead_external_id=reader.get("lead.external_id", str, ""),
        lead_fields=field_maps(reader, "lead.fields", "field", FIELD_TYPES, "hubspot_unless_blank"),
        lead_write=field_maps(reader, "lead.write", "field", FIELD_TYPES, "always_hubspot"),
        contact_object=reader.get("contact.object", str, "Contact"),
        contact_external_id=reader.get("contact.external_id", str, ""),
        contact_carries=tuple(reader.get("contact.fields", list, [], required=False)),
        status=StatusMap(reader.get("status.handoff", str, ""), reader.get("status.converted", str, ""),
                         reader.get("status.reason_field", str, "", required=False), dict(feedback)),
        touches=dict(touches),
        opportunity=_opportunity(reader),
        handoff=handoff_rules(reader),
    )
    check_outputs(reader, "lead.write", mapping.lead_write)
    lead_names = {f.canonical for f in mapping.lead_fields}
    for name in mapping.contact_carries:
        if name not in lead_names:
            reader.fail("contact.fields", f"{name!r} is not one of lead.fields")
    reader.raise_if_any()
    return mapping


def _opportunity(reader: MappingReader) -> OpportunityRules:
    days = reader.get("opportunity.stalled_after_days", int, 90)
    if days < 1:
        reader.fail("opportunity.stalled_after_days", "must be at least 1")
    convert_at = reader.get("opportunity.convert_at", str, "sql", required=False)
    if convert_at != "sql":
        reader.fail("opportunity.convert_at", f"{convert_at!r}: Salesforce leads convert only at sql "
                                              "(convertLead makes the Opportunity at the qualified stage)")
    return OpportunityRules(reader.get("opportunity.qualified_stage", str, ""),
                            tuple(reader.get("opportunity.won_stages", list, [])),
                            tuple(reader.get("opportunity.lost_stages", list, [])), days, "sql")
