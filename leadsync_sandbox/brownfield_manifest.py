"""Ground truth of the brownfield seed, and the audit a first sync must pass over all of it.

The manifest says who sales owns before leadsync ever runs (sal or later in either system: a
HubSpot stage from salesqualifiedlead on, a Lead being worked or converted, a Contact on a
customer Account, an open or won Opportunity), which ``hs_lead_status`` values sales set, and
which Leads already belong to which contact (by ``HubSpot_Contact_Id__c``, or by email only).

``audit(manifest, hubspot, salesforce)`` counts, across the whole seed, what a careful first
sync leaves at zero: owned people disqualified or moved back, sales' lead statuses
overwritten, second Leads created for a person the org already had, seeded contacts gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNNEL = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
          "customer", "evangelist")
OWNED_STAGES = frozenset({"salesqualifiedlead", "opportunity", "customer", "evangelist"})
WORKED_STATUSES = frozenset({"Working - Contacted"})
OPEN_OR_WON_LOST = ("Closed Lost",)


@dataclass
class Manifest:
    seed: int = 0
    people: int = 0
    stages: dict[str, str] = field(default_factory=dict)                 # contact id → lifecyclestage
    emails: dict[str, str] = field(default_factory=dict)
    sales_lead_status: dict[str, str] = field(default_factory=dict)      # contact id → status sales set
    leads: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)   # → (lead id, status, linked)
    sf_contacts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)   # → (contact id, account id)
    customer_accounts: set[str] = field(default_factory=set)
    opportunities: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # → (opp id, stage)
    merged_ids: dict[str, list[str]] = field(default_factory=dict)      # survivor → merged-away ids
    salesforce_only_leads: list[str] = field(default_factory=list)
    qualified_at: dict[str, str] = field(default_factory=dict)    # contact id → when the portal made it an MQL

    # -- recording (the seed builder) --

    def note_contact(self, contact_id: str, email: str, stage: str, lead_status: str) -> None:
        self.stages[contact_id] = stage
        self.emails[contact_id] = email
        if lead_status:
            self.sales_lead_status[contact_id] = lead_status

    def note_lead(self, contact_id: str, lead_id: str, status: str, linked: bool) -> None:
        self.leads.setdefault(contact_id, []).append((lead_id, status, linked))

    def note_sf_contact(self, contact_id: str, sf_contact_id: str, account_id: str) -> None:
        self.sf_contacts.setdefault(contact_id, []).append((sf_contact_id, account_id))

    def note_opportunity(self, contact_id: str, opp_id: str, stage: str) -> None:
        self.opportunities.setdefault(contact_id, []).append((opp_id, stage))

    # -- what it says --

    def owned(self) -> dict[str, list[str]]:
        """Contact id → why sales owns that person (empty lists left out)."""
        out: dict[str, list[str]] = {}
        for contact_id, stage in self.stages.items():
            reasons = [f"hubspot:{stage}"] if stage in OWNED_STAGES else []
            for _, status, _ in self.leads.get(contact_id, []):
                if status in WORKED_STATUSES:
                    reasons.append("lead:working")
            if any(account in self.customer_accounts for _, account in self.sf_contacts.get(contact_id, [])):
                reasons.append("contact:customer_account")
            for _, opp_stage in self.opportunities.get(contact_id, []):
                if opp_stage not in OPEN_OR_WON_LOST:
                    reasons.append("opportunity:won" if opp_stage == "Closed Won" else "opportunity:open")
            if any(s == "Closed - Converted" for _, s, _ in self.leads.get(contact_id, [])) and \
                    any(r.startswith("opportunity:") for r in reasons):
                reasons.append("lead:converted")
            if reasons:
                out[contact_id] = sorted(set(reasons))
        return out

    def customers(self) -> set[str]:
        return {c for c, reasons in self.owned().items()
                if {"hubspot:customer", "hubspot:evangelist", "contact:customer_account", "opportunity:won"} & set(reasons)}

    def open_or_won_opportunity(self) -> set[str]:
        return {c for c, opps in self.opportunities.items() if any(s not in OPEN_OR_WON_LOST for _, s in opps)}

    def working_leads(self) -> set[str]:
        return {c for c, leads in self.leads.items() if any(s in WORKED_STATUSES for _, s, _ in leads)}

    def linked_leads(self) -> dict[str, list[str]]:
        """Contact id → Leads carrying its id in HubSpot_Contact_Id__c."""
        return {c: ids for c, leads in self.leads.items() if (ids := [lid for lid, _, linked in leads if linked])}

    def email_twins(self) -> dict[str, list[str]]:
        """Contact id → Leads with its email and no external id (typed in by sales)."""
        return {c: ids for c, leads in self.leads.items() if (ids := [lid for lid, _, linked in leads if not linked])}

    def known_to_crm(self) -> set[str]:
        """Contacts the org already has as a Lead or a Contact: a new Lead for them is a second one."""
        return set(self.leads) | set(self.sf_contacts)

    def summary(self) -> dict[str, Any]:
        owned = self.owned()
        statuses: dict[str, int] = {}
        for _, leads in self.leads.items():
            for _, status, _ in leads:
                statuses[status] = statuses.get(status, 0) + 1
        stage_counts: dict[str, int] = {}
        for stage in self.stages.values():
            stage_counts[stage] = stage_counts.get(stage, 0) + 1
        return {"seed": self.seed, "people": self.people, "stages": stage_counts, "owned": len(owned),
                "customers": len(self.customers()), "open_or_won_opportunity": len(self.open_or_won_opportunity()),
                "working_leads": len(self.working_leads()), "sales_lead_status": len(self.sales_lead_status),
                "linked_leads": sum(len(v) for v in self.linked_leads().values()),
                "email_twin_leads": sum(len(v) for v in self.email_twins().values()),
                "lead_statuses": statuses, "salesforce_only_leads": len(self.salesforce_only_leads),
                "merged_contacts": len(self.merged_ids)}

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "owned": self.owned(), "sales_lead_status": self.sales_lead_status,
                "customers": sorted(self.customers(), key=int),
                "open_or_won_opportunity": sorted(self.open_or_won_opportunity(), key=int),
                "working_leads": sorted(self.working_leads(), key=int),
                "linked_leads": self.linked_leads(), "email_twins": self.email_twins(),
                "salesforce_only_leads": self.salesforce_only_leads, "merged_ids": self.merged_ids,
                "stages": self.stages, "emails": self.emails, "qualified_at": self.qualified_at}

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")
        return path


@dataclass(frozen=True)
class Audit:
    owned_disqualified: list[str]
    owned_moved_back: list[str]
    sales_status_overwritten: list[str]
    second_leads: list[str]              # Lead ids created for people the org already had
    contacts_missing: list[str]

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("owned_disqualified", "owned_moved_back", "sales_status_overwritten", "second_leads",
                 "contacts_missing")}


def audit(manifest: Manifest, hubspot: Any, salesforce: Any | None = None) -> Audit:
    """Compare the portal and org now with the seed's ground truth (HubSpotState, SalesforceState)."""
    owned = manifest.owned()
    live = {c["id"]: c for c in hubspot.contacts()}
    missing = sorted((c for c in manifest.stages if c not in live), key=int)
    disqualified, moved_back = [], []
    for contact_id in owned:
        now = live.get(contact_id)
        if now is None:
            continue
        if now.get("leadsync_stage") == "disqualified" or (
                now.get("hs_lead_status") == "UNQUALIFIED" and manifest.sales_lead_status.get(contact_id) != "UNQUALIFIED"):
            disqualified.append(contact_id)
        if _rank(now.get("lifecyclestage")) < _rank(manifest.stages[contact_id]):
            moved_back.append(contact_id)
    overwritten = [c for c, status in manifest.sales_lead_status.items()
                   if c in live and live[c].get("hs_lead_status") != status]
    return Audit(sorted(disqualified, key=int), sorted(moved_back, key=int), sorted(overwritten, key=int),
                 _second_leads(manifest, salesforce) if salesforce is not None else [], missing)


def _second_leads(manifest: Manifest, salesforce: Any) -> list[str]:
    seeded = {lid for leads in manifest.leads.values() for lid, _, _ in leads} | set(manifest.salesforce_only_leads)
    known = manifest.known_to_crm()
    known_ids = known | {m for c in known for m in manifest.merged_ids.get(c, [])}
    by_email = {manifest.emails[c].lower(): c for c in known}
    second = []
    for lead in salesforce.records("Lead"):
        if lead["Id"] in seeded:
            continue
        owner = str(lead.get("HubSpot_Contact_Id__c") or "")
        if owner in known_ids or (lead.get("Email") or "").lower() in by_email:
            second.append(lead["Id"])
    return sorted(second)


def _rank(stage: str | None) -> int:
    return FUNNEL.index(stage) if stage in FUNNEL else -1
