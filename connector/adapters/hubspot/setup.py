"""Is the HubSpot portal ready for the mappings and the definition? (``leadsync setup``)

Reads what the portal has (properties of contacts and companies, property groups, forms, the
event types recorded in the last 90 days, and which scopes the token lacks) into plain
``facts``, then judges them against ``mappings/hubspot.toml`` without I/O (``findings``).
``apply`` creates what leadsync may create: its own ``leadsync_*`` properties and their group.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from connector.adapters.hubspot.adapter import GROUP, PROPERTY_TYPES, HubSpotAdapter
from connector.core.errors import ConfigError, SkippableRecord
from connector.core.mapping import FieldMap, HubSpotMapping
from connector.core.predicate import range_bounds
from connector.transport.classify import required_scopes as scopes_in
from connector.core.readiness import INFO, MISSING, OK, WARN, WRONG, Finding, PortalFacts

WINDOW_DAYS = 90
OBJECTS = {"contact": "contacts", "company": "companies"}


class HubSpotSetup:
    system = "hubspot"

    def __init__(self, adapter: HubSpotAdapter, clock: Callable[[], datetime]) -> None:
        self.adapter, self.mapping, self.clock = adapter, adapter.mapping, clock

    # -- reading the portal --------------------------------------------------------------------

    def facts(self) -> dict[str, Any]:
        """Everything the checks need, as JSON-able data (cached by the caller)."""
        missing: dict[str, str] = {}       # scope → what needed it
        client = self.adapter.client
        props = {kind: self._probe(missing, f"read {kind} properties",
                                   lambda k=kind: self._results(client.crm.properties.core_api.get_all, k))
                 for kind in self._object_kinds()}
        groups = self._probe(missing, "read contact property groups",
                             lambda: self._results(client.crm.properties.groups_api.get_all, "contacts"))
        self._probe(missing, "read contacts", lambda: self.adapter._api(
            client.crm.contacts.search_api.do_search, {"limit": 1, "properties": ["email"]}))
        if self.mapping.company_fields:
            self._probe(missing, "read companies", lambda: self.adapter._api(
                client.crm.companies.basic_api.get_page, limit=1))
        forms = self._probe(missing, "list forms", self._forms) or {}
        seen = sorted(self._seen(missing))
        return {"properties": {k: v or [] for k, v in props.items()},
                "groups": [g.get("name") for g in groups or []], "forms": forms, "seen": seen,
                "missing_scopes": missing, "checked_at": self.clock().isoformat()}

    def _object_kinds(self) -> list[str]:
        return ["contacts"] + (["companies"] if self.mapping.company_fields else [])

    def _results(self, method: Callable[..., Any], *args: Any) -> list[dict[str, Any]]:
        return self.adapter._api(method, *args)[1].get("results", [])

    def _probe(self, missing: dict[str, str], what: str, call: Callable[[], Any]) -> Any:
        """The call's answer, or None when the token lacks a scope (recorded in ``missing``)."""
        try:
            return call()
        except ConfigError as exc:
            scopes = required_scopes(exc.__cause__)
            if not scopes:
                raise
            for scope in scopes:
                missing.setdefault(scope, what)
            return None

    def _forms(self) -> dict[str, str]:
        forms_api = self.adapter.client.marketing.forms.forms_api
        found: dict[str, str] = {}
        after = None
        while True:
            kwargs = {"limit": 50, **({"after": after} if after else {})}
            _, page = self.adapter._api(forms_api.get_page, **kwargs)
            found.update({str(f["id"]): str(f.get("name") or "") for f in page.get("results", []) if f.get("id")})
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return found

    def _seen(self, missing: dict[str, str]) -> set[str]:
        """Canonical activity types with at least one occurrence in the window."""
        now = self.clock()
        since = now - timedelta(days=WINDOW_DAYS)
        seen: set[str] = set()
        events_api = self.adapter.client.events.events_api
        for event_type, rule in self.mapping.events.items():
            page = self._probe(missing, f"read {event_type} events", lambda t=event_type: self.adapter._api(
                events_api.get_page, object_type="contact", event_type=t, occurred_after=_iso(since),
                occurred_before=_iso(now), limit=1)[1])
            if page and page.get("results"):
                seen.add(rule.type)
        emails = self._probe(missing, "read marketing email events", lambda: self.adapter._request(
            "GET", f"{self.adapter.settings.base_url.rstrip('/')}/email/public/v1/events", params={"startTimestamp": int(since.timestamp() * 1000), "endTimestamp": int(now.timestamp() * 1000),
                    "limit": 1000}).json())
        for event in (emails or {}).get("events", []):
            rule = self.mapping.email_events.get(event.get("type", ""))
            if rule and all(str(event.get(k)) == v for k, v in rule.when.items()):
                seen.add(rule.type)
        return seen

    # -- judging -------------------------------------------------------------------------------

    def findings(self, facts: Mapping[str, Any]) -> list[Finding]:
        m = self.mapping
        found = [Finding("hubspot", "scope", "", scope, MISSING, f"the token lacks this scope (needed to {what})",
                         f"add {scope} to the private app's scopes (Settings → Integrations → Private apps)",
                         "config", "hubspot.token_env")
                 for scope, what in sorted(facts["missing_scopes"].items())]
        by_kind = {kind: {p["name"]: p for p in props} for kind, props in facts["properties"].items()}
        for section, kind, maps in (("contact.fields", "contacts", m.contact_fields),
                                    ("company.fields", "companies", m.company_fields)):
            if kind in by_kind and facts["properties"][kind]:
                found += [read_finding(m.path, section, kind, spec, by_kind[kind].get(spec.name)) for spec in maps]
        contacts = by_kind.get("contacts", {})
        if facts["properties"].get("contacts"):
            found.append(group_finding(m.path, GROUP in facts["groups"]))
            found += [write_finding(m.path, spec, contacts.get(spec.name)) for spec in m.contact_write]
            found += option_findings(m.path, "lifecyclestage", m.lifecyclestage, contacts.get("lifecyclestage"))
            found += option_findings(m.path, "hs_lead_status", m.lead_status, contacts.get("hs_lead_status"))
        forms = facts["forms"]
        found.append(Finding("hubspot", "forms", "forms", f"{len(forms)} form(s)", INFO,
                             "forms on this portal (name = GUID): " + "; ".join(
                                 f'"{name}" = {guid}' for guid, name in sorted(forms.items(), key=lambda kv: kv[1]))
                             if forms else "this portal has no forms"))
        return found

    def portal(self, facts: Mapping[str, Any]) -> PortalFacts:
        return PortalFacts(dict(facts["forms"]), frozenset(facts["seen"]), WINDOW_DAYS)

    # -- creating what is missing --------------------------------------------------------------

    def apply(self, findings: list[Finding]) -> list[str]:
        """Create the missing group and ``leadsync_*`` properties; what was created."""
        created: list[str] = []
        todo = [f for f in findings if f.creatable and f.status == MISSING]
        properties = self.adapter.client.crm.properties
        if any(f.kind == "group" for f in todo):
            self._create(properties.groups_api.create, "contacts",
                         {"name": GROUP, "label": "leadsync", "displayOrder": -1})
            created.append(f"HubSpot property group {GROUP} on contacts")
        specs = {spec.name: spec for spec in self.mapping.contact_write}
        for finding in todo:
            if finding.kind == "property" and finding.name in specs:
                self._create(properties.core_api.create, "contacts", property_body(specs[finding.name]))
                created.append(f"HubSpot contact property {finding.name}")
        return created

    def _create(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            self.adapter._api(method, *args, single_record=True)
        except SkippableRecord as exc:
            if exc.code not in ("conflict", "CONFLICT", "OBJECT_ALREADY_EXISTS"):  # created meanwhile
                raise


# -- pure judgements ---------------------------------------------------------------------------

def required_scopes(exc: BaseException | None) -> list[str]:
    """The scopes a failed call's 403 MISSING_SCOPES names (none for any other failure)."""
    body = getattr(exc, "body", None)
    return scopes_in(body) if body is not None and "MISSING_SCOPES" in str(body) else []


def is_range_picklist(prop: Mapping[str, Any]) -> bool:
    options = [o.get("value") for o in prop.get("options") or []]
    return prop.get("type") == "enumeration" and bool(options) and all(range_bounds(v) for v in options)


# mapping type → HubSpot property types it reads without loss
_COMPATIBLE = {"string": None, "int": {"number", "string"}, "float": {"number", "string"},
               "bool": {"bool", "string"}, "datetime": {"datetime", "date", "string"}, "range": set()}


def read_finding(file: str, section: str, kind: str, spec: FieldMap, prop: Mapping[str, Any] | None) -> Finding:
    key = f"{section}.{spec.canonical}.property"
    obj = kind
    if prop is None:
        return Finding("hubspot", "property", obj, spec.name, MISSING,
                       f"the portal has no {kind[:-1]} property {spec.name} (read into {spec.canonical})",
                       f"map {spec.canonical} to a property this portal has, or create {spec.name} in HubSpot",
                       file, key)
    actual = prop.get("type", "string")
    ranged = is_range_picklist(prop)
    if spec.type == "range":
        ok = ranged
        hint = 'it is a plain number: use type = "int"' if actual == "number" else f"it is {actual}, not a range picklist"
    elif spec.type == "bool" and actual == "enumeration":
        values = {str(o.get("value")).lower() for o in prop.get("options") or []}
        ok, hint = values <= {"true", "false"}, "its options are not true/false"
    else:
        allowed = _COMPATIBLE.get(spec.type)
        ok = allowed is None or actual in allowed
        hint = ('it is a range picklist ("100-500", "1000+"): use type = "range"' if ranged
                else f'it is {actual}: use a type that reads it (string reads anything)')
    if not ok:
        return Finding("hubspot", "property", obj, spec.name, WRONG,
                       f"{spec.name} is {actual}{' (range picklist)' if ranged else ''}, mapped as {spec.type}: "
                       "every value would be dropped", hint, file, f"{section}.{spec.canonical}.type")
    return Finding("hubspot", "property", obj, spec.name, OK, f"{spec.name} ({actual}) read as {spec.type}",
                   file=file, key=key)


def write_finding(file: str, spec: FieldMap, prop: Mapping[str, Any] | None) -> Finding:
    key = f"contact.write.{spec.canonical}.property"
    wanted = PROPERTY_TYPES[spec.type][0]
    if prop is None:
        return Finding("hubspot", "property", "contacts", spec.name, MISSING,
                       f"leadsync's property {spec.name} does not exist yet",
                       "leadsync setup --apply creates it", file, key, creatable=True)
    if prop.get("type") != wanted:
        return Finding("hubspot", "property", "contacts", spec.name, WRONG,
                       f"{spec.name} is {prop.get('type')}, leadsync writes {wanted}",
                       f"delete it in HubSpot and run leadsync setup --apply, or map the output to another property",
                       file, key)
    return Finding("hubspot", "property", "contacts", spec.name, OK, f"{spec.name} ({wanted})", file=file, key=key)


def group_finding(file: str, exists: bool) -> Finding:
    if not exists:
        return Finding("hubspot", "group", "contacts", GROUP, MISSING, f"the property group {GROUP} does not exist yet",
                       "leadsync setup --apply creates it", file, "contact.write", creatable=True)
    return Finding("hubspot", "group", "contacts", GROUP, OK, f"property group {GROUP}", file=file, key="contact.write")


def option_findings(file: str, name: str, stage_map: Mapping[str, str], prop: Mapping[str, Any] | None) -> list[Finding]:
    if prop is None:
        return [Finding("hubspot", "property", "contacts", name, MISSING, f"the portal has no contact property {name}",
                        "", file, name)]
    options = {str(o.get("value")) for o in prop.get("options") or []}
    return [Finding("hubspot", "picklist", f"contacts.{name}", value, OK if value in options else WRONG,
                    f"{name} has the option {value}" if value in options else f"{name} has no option {value!r}",
                    "" if value in options else f"use one of {', '.join(sorted(options))}", file, f"{name}.{stage}")
            for value, stage in {v: s for s, v in reversed(list(stage_map.items())) if v}.items()]


def property_body(spec: FieldMap) -> dict[str, Any]:
    type_, field_type = PROPERTY_TYPES[spec.type]
    body = {"name": spec.name, "label": spec.label or spec.name, "type": type_, "fieldType": field_type,
            "groupName": GROUP, "description": "Written by leadsync from the shared lead definition."}
    if type_ == "bool":
        body["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0},
                           {"label": "No", "value": "false", "displayOrder": 1}]
    return body


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
