"""``leadsync setup`` for SugarCRM: is the instance ready for the mapping?

Reads the instance's own ``metadata`` and dropdowns and checks every module and field the
mapping names, the lead statuses it reads and writes, and the two pipeline stages. Sugar's
REST API cannot add fields (custom ``_c`` fields are made in Studio), so ``apply`` creates
nothing and lists what an admin must add, and the platform registration to check.
"""

from __future__ import annotations

from typing import Any, Mapping

from connector.adapters.sugarcrm.adapter import OPPORTUNITIES, SugarAdapter
from connector.core.readiness import Finding

SYSTEM = "sugarcrm"


class SugarSetup:
    system = SYSTEM

    def __init__(self, crm: SugarAdapter, clock: Any) -> None:
        self.crm, self.clock = crm, clock

    def _needs(self) -> list[tuple[str, str, str]]:
        """(module, field, mapping key) for every field the mapping names."""
        m = self.crm.mapping
        needs = [(m.lead_object, m.lead_external_id, "lead.external_id"),
                 (m.contact_object, m.contact_external_id, "contact.external_id"),
                 (OPPORTUNITIES, m.lead_external_id, "lead.external_id")]
        if m.status.reason_field:
            needs.append((m.lead_object, m.status.reason_field, "status.reason_field"))
        needs += [(m.lead_object, f.name, f"lead.fields.{f.canonical}.field") for f in m.lead_fields]
        needs += [(m.lead_object, f.name, f"lead.write.{f.canonical}.field") for f in m.lead_write]
        needs += [(m.contact_object, f.name, f"lead.write.{f.canonical}.field") for f in m.lead_write]
        needs += [(OPPORTUNITIES, f.name, f"opportunity.fields.{f.canonical}.field") for f in m.opportunity_fields]
        return list(dict.fromkeys(needs))

    def facts(self) -> dict[str, Any]:
        m = self.crm.mapping
        modules = sorted({module for module, _, _ in self._needs()})
        fields = {module: self.crm.schema.fields(module) for module in modules}
        return {"fields": fields,
                "lead_statuses": sorted(self.crm.schema.options(m.lead_object, "status")),
                "sales_stages": sorted(self.crm.schema.options(OPPORTUNITIES, "sales_stage"))}

    def findings(self, facts: Mapping[str, Any]) -> list[Finding]:
        m = self.crm.mapping
        found: list[Finding] = []
        for module, name, key in self._needs():
            if name in facts["fields"].get(module, {}):
                found.append(Finding(SYSTEM, "field", module, name, "ok", "present", file=m.path, key=key))
            else:
                found.append(Finding(SYSTEM, "field", module, name, "missing", f"{module} has no field {name}",
                                     fix=f"add {name} to {module} in Admin > Studio", file=m.path, key=key))
        statuses = set(facts["lead_statuses"])
        for value, key in [(m.status.handoff, "status.handoff"), (m.status.converted, "status.converted"),
                           *((s, f"status.feedback.{s}") for s in m.status.feedback)]:
            if value and value not in statuses:
                found.append(Finding(SYSTEM, "picklist", m.lead_object, value, "wrong",
                                     f"{value!r} is not in the Leads status dropdown", fix="add it in Studio "
                                     "(Dropdown Editor: lead_status_dom) or change the mapping", file=m.path, key=key))
        stages = set(facts["sales_stages"])
        o = m.opportunity
        for value, key in [(o.unqualified_stage, "opportunity.unqualified_stage"),
                           (o.qualified_stage, "opportunity.qualified_stage"),
                           *((s, "opportunity.won_stages") for s in o.won_stages),
                           *((s, "opportunity.lost_stages") for s in o.lost_stages)]:
            if value and value not in stages:
                found.append(Finding(SYSTEM, "picklist", OPPORTUNITIES, value, "wrong",
                                     f"{value!r} is not a sales stage", fix="add it to sales_stage_dom in Studio "
                                     "or change the mapping", file=m.path, key=key))
        found.append(Finding(SYSTEM, "platform", "", self.crm.settings.platform, "ok",
                             "signed in on this platform (registered in Admin > Configure API Platforms)"))
        return found

    def apply(self, findings: list[Finding]) -> tuple[list[str], list[str]]:
        """Sugar's REST API adds no fields: nothing is created; the admin's steps are listed."""
        steps = [f"{f.object}.{f.name}: {f.fix}" for f in findings if f.blocking and f.fix]
        return [], steps
