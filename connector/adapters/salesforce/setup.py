"""Is the Salesforce org ready for ``mappings/salesforce.toml``? (``leadsync setup``)

Reads the org (describe of every object the mapping names, the running user's permissions,
the API allocation left) into plain ``facts``; judges them without I/O (``findings``): every
field exists (API names compared case-insensitively), has a type and length that hold what
leadsync reads or writes, is createable and updateable where leadsync writes it (field-level
security shows in describe), the external id is an External ID and unique on Lead and Contact,
and the picklist values the mapping names exist. ``apply`` creates missing custom fields
through the Tooling API (``tooling/sobjects/CustomField``) and says what an admin must still
grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from connector.adapters.salesforce.adapter import SalesforceAdapter
from connector.adapters.salesforce.mapping import SalesforceMapping
from connector.core.errors import ConfigError, FatalError, SkippableRecord
from connector.core.readiness import INFO, MISSING, OK, WARN, WRONG, Finding, find_named

TEXT = frozenset({"string", "email", "phone", "url", "textarea", "picklist", "multipicklist", "combobox",
                  "id", "reference"})
NUMBER = frozenset({"int", "double", "currency", "percent"})
COMPATIBLE = {"string": TEXT, "int": NUMBER, "float": NUMBER, "bool": frozenset({"boolean"}),
              "datetime": frozenset({"datetime", "date"}), "range": NUMBER | TEXT}
# What each leadsync output needs of its field: (types, shortest text length), and how
# ``--apply`` creates it.
OUTPUT_FIELDS: Mapping[str, tuple[frozenset[str], int, dict[str, Any]]] = {
    "stage": (TEXT, 12, {"type": "Text", "length": 40}),
    "reason": (TEXT, 255, {"type": "Text", "length": 255}),
    "missing": (TEXT, 40, {"type": "Text", "length": 80}),
    "score": (NUMBER | TEXT, 6, {"type": "Number", "precision": 18, "scale": 0}),
    "fit_score": (NUMBER | TEXT, 6, {"type": "Number", "precision": 18, "scale": 0}),
    "engagement_score": (NUMBER | TEXT, 6, {"type": "Number", "precision": 18, "scale": 0}),
    "definition_version": (NUMBER | TEXT, 6, {"type": "Number", "precision": 18, "scale": 0}),
    "handoff_at": (frozenset({"datetime"}) | TEXT, 25, {"type": "DateTime"}),
}
READ_TYPES = {"string": {"type": "Text", "length": 255}, "int": {"type": "Number", "precision": 18, "scale": 0},
              "float": {"type": "Number", "precision": 18, "scale": 2}, "bool": {"type": "Checkbox", "defaultValue": "false"},
              "datetime": {"type": "DateTime"}, "range": {"type": "Text", "length": 40}}
EXTERNAL_ID = {"type": "Text", "length": 64, "externalId": True, "unique": True}
LOW_ALLOCATION = 0.10


@dataclass(frozen=True, slots=True)
class Need:
    """One field the mapping needs on one object."""

    object: str
    name: str
    key: str                              # the mapping key that names it
    types: frozenset[str]
    writes: bool                          # leadsync writes it: createable and updateable needed
    min_length: int = 0
    create: Mapping[str, Any] | None = None   # Tooling metadata when --apply may create it
    external_id: bool = False


class SalesforceSetup:
    system = "salesforce"

    def __init__(self, adapter: SalesforceAdapter, clock: Callable[[], datetime]) -> None:
        self.adapter, self.mapping, self.clock = adapter, adapter.mapping, clock

    # -- reading the org -----------------------------------------------------------------------

    def facts(self) -> dict[str, Any]:
        described = {name: self._describe(name) for name in objects_needed(self.mapping)}
        return {"objects": described, "permissions": self._permissions(), "limits": self._limits(),
                "checked_at": self.clock().isoformat()}

    def _describe(self, sobject: str) -> dict[str, Any] | None:
        try:
            raw = self.adapter._call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"), single_record=True)
        except SkippableRecord:            # 404: the org has no such object (or no access to it)
            return None
        return {"name": raw.get("name", sobject), "createable": raw.get("createable"),
                "updateable": raw.get("updateable"),
                "fields": [{k: f.get(k) for k in ("name", "type", "length", "externalId", "unique", "createable",
                                                  "updateable", "custom")}
                           | {"picklist": [p.get("value") for p in f.get("picklistValues") or [] if p.get("active", True)]}
                           for f in raw.get("fields", [])]}

    def _permissions(self) -> dict[str, Any] | None:
        soql = "SELECT PermissionsApiEnabled, PermissionsConvertLeads, PermissionsCustomizeApplication FROM UserPermissionAccess"
        try:
            rows = list(self.adapter._query(soql))
        except (FatalError, SkippableRecord, ConfigError):
            return None
        return {k: v for k, v in rows[0].items() if k.startswith("Permissions")} if rows else None

    def _limits(self) -> dict[str, Any] | None:
        try:
            raw = self.adapter._call(lambda sf: sf.restful("limits/"))
        except (FatalError, SkippableRecord):
            return None
        return raw.get("DailyApiRequests")

    def prime(self, facts: Mapping[str, Any]) -> None:
        """Hand the adapter the describes just read (or cached): no second describe per process."""
        for name, described in facts["objects"].items():
            if described is not None:
                self.adapter._fields[name] = frozenset(f["name"] for f in described["fields"])

    # -- judging -------------------------------------------------------------------------------

    def findings(self, facts: Mapping[str, Any]) -> list[Finding]:
        m = self.mapping
        found: list[Finding] = []
        objects = facts["objects"]
        for name, described in objects.items():
            if described is None:
                found.append(Finding("salesforce", "object", name, name, MISSING,
                                     f"the integration user cannot see the {name} object",
                                     f"grant Read on {name} in the integration user's permission set", m.path, ""))
        for need in needs(m):
            described = objects.get(need.object)
            if described is not None:
                found.append(field_finding(m.path, need, described))
        found += picklist_findings(m, objects)
        found.append(permission_finding(facts.get("permissions")))
        found.append(allocation_finding(facts.get("limits")))
        return found

    # -- creating what is missing --------------------------------------------------------------

    def apply(self, findings: list[Finding]) -> tuple[list[str], list[str]]:
        """Create missing custom fields; (what was created, what an admin must still do)."""
        created, refused = [], []
        by_key = {(n.object, n.name): n for n in needs(self.mapping)}
        for finding in findings:
            need = by_key.get((finding.object, finding.name))
            if not (finding.creatable and finding.status == MISSING and need and need.create):
                continue
            body = {"FullName": f"{need.object}.{need.name}",
                    "Metadata": {"label": label(need.name), **need.create}}
            try:
                self.adapter._call(lambda sf, b=body: sf.toolingexecute("sobjects/CustomField/", method="POST", data=b),
                                   single_record=True)
                created.append(f"Salesforce field {need.object}.{need.name}")
            except SkippableRecord as exc:
                if "DUPLICATE" not in (exc.code or ""):
                    refused.append(f"{need.object}.{need.name} ({exc.code}: {exc.detail or exc.message})")
            except ConfigError:
                refused.append(f"{need.object}.{need.name}")
        steps = []
        if created:
            steps.append("Grant the integration user Read and Edit field-level security on "
                         + ", ".join(c.removeprefix("Salesforce field ") for c in created)
                         + " (Setup → Permission Sets → the integration user's set → Object Settings); "
                           "fields created through the API are visible to no profile until then.")
        if refused:
            steps.append("Create these fields as an admin (the integration user may not: it needs Customize "
                         "Application), then grant the integration user Read and Edit on them: " + ", ".join(refused))
        if facts_say_no_convert(findings):
            steps.append("Grant Convert Leads to the integration user's permission set.")
        return created, steps


# -- what the mapping needs --------------------------------------------------------------------

def objects_needed(m: SalesforceMapping) -> list[str]:
    names = [m.lead_object, m.contact_object, "Opportunity"]
    if m.handoff.follow_up_task or set(m.touches) - {"Event"}:
        names.append("Task")
    if "Event" in m.touches:
        names.append("Event")
    if m.handoff.account_owner_wins or m.handoff.customer_account_as_contact:
        names.append("Account")
    return list(dict.fromkeys(names))


def needs(m: SalesforceMapping) -> list[Need]:
    result = [Need(m.lead_object, m.lead_external_id, "lead.external_id", TEXT, True, 18, EXTERNAL_ID, True),
              Need(m.contact_object, m.contact_external_id, "contact.external_id", TEXT, True, 18, EXTERNAL_ID, True)]
    carried = set(m.contact_carries)
    for f in m.lead_fields:
        writes = f.sync in ("hubspot_unless_blank", "always_hubspot", "two_way")
        create = READ_TYPES[f.type] if f.name.endswith("__c") else None
        result.append(Need(m.lead_object, f.name, f"lead.fields.{f.canonical}.field", COMPATIBLE[f.type], writes,
                           create=create))
        if f.canonical in carried:
            result.append(Need(m.contact_object, f.name, f"contact.fields", COMPATIBLE[f.type], writes,
                               create=create))
    for f in m.lead_write:
        types, length, create = OUTPUT_FIELDS.get(f.canonical, (TEXT, 0, {"type": "Text", "length": 255}))
        for obj in (m.lead_object, m.contact_object):
            result.append(Need(obj, f.name, f"lead.write.{f.canonical}.field", types, True, length,
                               create if f.name.endswith("__c") else None))
    if m.status.reason_field:
        result.append(Need(m.lead_object, m.status.reason_field, "status.reason_field", TEXT, False,
                           create={"type": "Text", "length": 255} if m.status.reason_field.endswith("__c") else None))
    return result


def label(api_name: str) -> str:
    return api_name.removesuffix("__c").replace("_", " ")


# -- pure judgements ---------------------------------------------------------------------------

def field_finding(file: str, need: Need, described: Mapping[str, Any]) -> Finding:
    fields = {f["name"]: f for f in described["fields"]}
    actual = find_named(fields, need.name)
    if actual is None:
        fix = ("leadsync setup --apply creates it (if it exists, grant the integration user field-level "
               "security on it)" if need.create else "map it to a field this org has")
        return Finding("salesforce", "external_id" if need.external_id else "field", need.object, need.name, MISSING,
                       f"{need.object} has no field {need.name} (or the integration user cannot see it)",
                       fix, file, need.key, creatable=need.create is not None)
    f = fields[actual]
    kind = "external_id" if need.external_id else "field"
    if f["type"] not in need.types:
        return Finding("salesforce", kind, need.object, actual, WRONG,
                       f"{need.object}.{actual} is {f['type']}, which cannot hold what leadsync puts there",
                       f"use a field of type {' or '.join(sorted(need.types)[:4])}", file, need.key)
    if need.min_length and f["type"] in TEXT and (f.get("length") or 0) < need.min_length:
        return Finding("salesforce", kind, need.object, actual, WRONG,
                       f"{need.object}.{actual} holds {f.get('length')} characters; leadsync needs {need.min_length}",
                       f"make it at least {need.min_length} long", file, need.key)
    if need.external_id and not (f.get("externalId") and f.get("unique")):
        return Finding("salesforce", kind, need.object, actual, WRONG,
                       f"{need.object}.{actual} is not marked External ID and Unique: upserts on it would fail "
                       "or duplicate", "edit the field: tick External ID and Unique", file, need.key)
    if need.writes and not (f.get("createable") and f.get("updateable")):
        return Finding("salesforce", "permission", need.object, actual, WRONG,
                       f"the integration user cannot edit {need.object}.{actual} (field-level security)",
                       f"grant Edit on {need.object}.{actual} in the integration user's permission set", file, need.key)
    return Finding("salesforce", kind, need.object, actual, OK, f"{need.object}.{actual} ({f['type']})",
                   file=file, key=need.key)


def picklist_findings(m: SalesforceMapping, objects: Mapping[str, Any]) -> list[Finding]:
    wanted = [(m.lead_object, "Status", "status.handoff", m.status.handoff),
              (m.lead_object, "Status", "status.converted", m.status.converted)]
    wanted += [(m.lead_object, "Status", f'status.feedback."{v}"', v) for v in m.status.feedback]
    o = m.opportunity
    wanted += [("Opportunity", "StageName", "opportunity.qualified_stage", o.qualified_stage)]
    wanted += [("Opportunity", "StageName", "opportunity.won_stages", s) for s in o.won_stages]
    wanted += [("Opportunity", "StageName", "opportunity.lost_stages", s) for s in o.lost_stages]
    found = []
    first_key = {}
    for obj, field, key, value in wanted:
        first_key.setdefault((obj, field, value), key)
    for (obj, field, value), key in first_key.items():
        described = objects.get(obj)
        if not value or described is None:
            continue
        values = next((f["picklist"] for f in described["fields"] if f["name"].casefold() == field.casefold()), [])
        ok = any(v == value for v in values)
        found.append(Finding("salesforce", "picklist", f"{obj}.{field}", value, OK if ok else WRONG,
                             f"{obj}.{field} has the value {value!r}" if ok else f"{obj}.{field} has no value {value!r}",
                             "" if ok else f"use one of {', '.join(values)} or add it in Setup", m.path, key))
    return found


def permission_finding(permissions: Mapping[str, Any] | None) -> Finding:
    if permissions is None:
        return Finding("salesforce", "permission", "User", "Convert Leads", WARN,
                       "could not read the integration user's permissions", "check Convert Leads by hand")
    if not permissions.get("PermissionsConvertLeads"):
        return Finding("salesforce", "permission", "User", "Convert Leads", MISSING,
                       "the integration user may not convert leads (convertLead)",
                       "grant Convert Leads in the integration user's permission set", "config", "salesforce")
    return Finding("salesforce", "permission", "User", "Convert Leads", OK, "the integration user may convert leads")


def allocation_finding(limits: Mapping[str, Any] | None) -> Finding:
    if not limits:
        return Finding("salesforce", "limits", "", "DailyApiRequests", WARN, "could not read the API allocation")
    remaining, maximum = int(limits.get("Remaining") or 0), int(limits.get("Max") or 0)
    status = WARN if maximum and remaining < LOW_ALLOCATION * maximum else INFO
    return Finding("salesforce", "limits", "", "DailyApiRequests", status,
                   f"{remaining:,} of {maximum:,} API calls left today",
                   "wait for the allocation to renew, or lower salesforce.max_daily_share" if status == WARN else "")


def facts_say_no_convert(findings: Iterable[Finding]) -> bool:
    return any(f.name == "Convert Leads" and f.status == MISSING for f in findings)
