"""Is each system ready for the mappings and the definition? The findings, as plain data.

``leadsync setup`` prints one ``Finding`` per item (a property, a field, a scope, a picklist
value, a form); ``sync`` and ``daemon`` run the same checks before their first write and stop
on the blocking ones, naming file, key, object and field. Each adapter finds its own system's
facts (``adapters/<system>/setup.py``); what the definition asks of a portal is judged here,
without I/O (``definition_findings``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from connector.core.errors import Problem

OK, MISSING, WRONG, WARN, INFO = "ok", "missing", "wrong", "warn", "info"
BLOCKING = frozenset({MISSING, WRONG})
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Finding:
    """One checked item. ``status``: ok | missing | wrong (both block a sync) | warn | info."""

    system: str                      # hubspot | salesforce | definition
    kind: str                        # property | group | field | object | external_id | picklist | scope | …
    object: str                      # contacts, Lead, Opportunity, … ("" when none)
    name: str                        # the property, field, scope or value checked
    status: str
    message: str                     # what was found, in a sentence
    fix: str = ""                    # what to do about it (empty when ok)
    file: str = ""                   # the mapping or definition file that asks for it
    key: str = ""                    # the key in that file
    creatable: bool = False          # ``setup --apply`` can create it

    @property
    def blocking(self) -> bool:
        return self.status in BLOCKING

    def problem(self) -> Problem:
        where = f"{self.object}.{self.name}" if self.object else self.name
        reason = f"{where}: {self.message}" + (f"; {self.fix}" if self.fix else "")
        return Problem(self.file or "(setup)", self.key, reason)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)      # what --apply created
    admin_steps: list[str] = field(default_factory=list)  # what an admin must still grant

    @property
    def ready(self) -> bool:
        return not any(f.blocking for f in self.findings)

    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "findings": [f.as_dict() for f in self.findings],
                "applied": list(self.applied), "admin_steps": list(self.admin_steps)}


@dataclass(frozen=True, slots=True)
class PortalFacts:
    """What the marketing platform holds that the definition's activity rules can name."""

    forms: Mapping[str, str]                    # form GUID → name
    event_types_seen: frozenset[str]            # canonical activity types seen in the window
    window_days: int = 90


def same_name(a: str, b: str) -> bool:
    """CRM API names are compared case-insensitively, as Salesforce compares them."""
    return a.casefold() == b.casefold()


def find_named(names: Iterable[str], wanted: str) -> str | None:
    folded = wanted.casefold()
    return next((n for n in names if n.casefold() == folded), None)


DERIVED_FIELDS = frozenset({"email_domain"})


def definition_findings(definition: Any, facts: PortalFacts, mapped: Iterable[str] = ()) -> list[Finding]:
    """Rules that can never match on this portal: a form named by something that is not one of
    its forms (the shipped placeholders included), an activity type it has not recorded in the
    window, a field no mapping reads. Warnings: the definition still works, those rules score
    nothing (or, for a field, stay unknown)."""
    file = definition.file or "qualification.toml"
    found = _unmapped_fields(definition, set(mapped) | DERIVED_FIELDS, file) if mapped else []
    for index, rule in enumerate(definition.behavior):
        key = f'behavior["{rule.name}"]'
        form = _form_id(rule)
        if form is not None:
            found.append(_form_finding(rule, form, facts, file, key))
        elif rule.activity not in facts.event_types_seen and rule.activity != "sales_touch":
            found.append(Finding("definition", "activity", "", rule.activity, WARN,
                                 f'rule "{rule.name}" scores {rule.activity}, which this portal has not '
                                 f"recorded in the last {facts.window_days} days",
                                 "check the event mapping in hubspot.toml, or drop the rule", file, key))
    return found


def _unmapped_fields(definition: Any, mapped: set[str], file: str) -> list[Finding]:
    uses = [("required.fields", name) for name in definition.required]
    uses += [(f'{section}["{rule.name}"].field', rule.predicate.field)
             for section, rules in (("fit", definition.fit), ("profile", definition.profile)) for rule in rules]
    if definition.readiness_field:
        uses.append(("readiness.field", definition.readiness_field))
    uses += [(f"bant.{c.name}.field", c.predicate.field) for c in definition.bant]
    return [Finding("definition", "field", "", name, WARN, f"no mapping reads {name}, so it is always missing",
                    f"map {name} in hubspot.toml or the CRM's mapping, or drop the rule", file, key)
            for key, name in uses if name not in mapped]


def _form_finding(rule: Any, form: str, facts: PortalFacts, file: str, key: str) -> Finding:
    if form in facts.forms:
        return Finding("definition", "form", "", form, OK, f'rule "{rule.name}" names form "{facts.forms[form]}"',
                       file=file, key=f"{key}.where.form_id")
    listed = "; ".join(f'"{name}" = {guid}' for guid, name in sorted(facts.forms.items(), key=lambda kv: kv[1]))
    what = "a placeholder" if not GUID.match(form) else "no form on this portal"
    return Finding("definition", "form", "", form, WARN,
                   f'rule "{rule.name}" names {what} ({form!r}), so it never matches',
                   f"put the GUID of the right form in form_id (this portal's forms: {listed or 'none'})",
                   file, f"{key}.where.form_id")


def _form_id(rule: Any) -> str | None:
    """The form GUID a form_submission rule matches with ``form_id = "…"`` (equals), if any."""
    if rule.activity != "form_submission":
        return None
    for predicate in getattr(rule, "where", ()) or ():
        if predicate.field == "form_id" and predicate.op == "equals" and isinstance(predicate.operand, str):
            return predicate.operand
    return None


def problems(findings: Sequence[Finding]) -> list[Problem]:
    return [f.problem() for f in findings if f.blocking]
