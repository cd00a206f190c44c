"""Where a person starts when leadsync first meets them in a portal and org used before. Pure.

Both systems already hold an opinion: HubSpot's ``lifecyclestage``, and in the CRM a lead's
status, a conversion and its opportunity, a contact on a customer account. Adapters translate
those into canonical stages (``CrmRecord.stage``, the mapping's lifecycle table); this module
picks the starting stage from them. Whoever sales owns in either system (sal or later, a
customer, an open or won opportunity, a lead being worked) starts there, so the qualification
never disqualifies them or moves them back. A record handed off before (an open lead) starts
at mql, a rejected one at recycled: it is linked, never created a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from connector.core.feedback import FeedbackRules
from connector.core.model import SALES_OWNED, stage_rank
from connector.core.records import CrmRecord, Opportunity

# HubSpot's stages past "customer" (the lifecycle table maps canonical → HubSpot, not back).
BEYOND_CUSTOMER = frozenset({"evangelist"})


@dataclass(frozen=True)
class Start:
    stage: str
    why: str                       # in words, for the log: which system said what

    @property
    def sales_owned(self) -> bool:
        return self.stage in SALES_OWNED


def lifecycle_says(lifecycle: str | None, lifecycle_map: Mapping[str, str]) -> str | None:
    """The sales-owned canonical stage a HubSpot lifecycle value means, if it means one."""
    if not lifecycle:
        return None
    if lifecycle in BEYOND_CUSTOMER:
        return "customer"
    owned = [stage for stage, value in lifecycle_map.items() if value == lifecycle and stage in SALES_OWNED]
    return min(owned, key=stage_rank) if owned else None


def opportunity_says(opportunity: Opportunity, rules: FeedbackRules) -> str:
    if opportunity.is_won or opportunity.stage in rules.won_stages:
        return "customer"
    if opportunity.is_closed or opportunity.stage in rules.lost_stages:
        return "recycled"
    return "sql" if opportunity.stage == rules.qualified_stage else "opportunity"


def starting_stage(lifecycle: str | None, lifecycle_map: Mapping[str, str], records: Sequence[CrmRecord],
                   opportunities: Mapping[str, Opportunity], rules: FeedbackRules) -> Start | None:
    """The stage to start from, or None: nothing either system says keeps the person from
    being qualified afresh."""
    said: list[Start] = []
    hubspot = lifecycle_says(lifecycle, lifecycle_map)
    if hubspot:
        said.append(Start(hubspot, f"HubSpot lifecyclestage is {lifecycle}"))
    for record in records:
        opportunity = opportunities.get(record.opportunity_id or "")
        if opportunity is not None:
            said.append(Start(opportunity_says(opportunity, rules),
                              f"its opportunity {opportunity.id} is at {opportunity.stage}"))
        elif record.stage:
            status = f" (status {record.status})" if record.status else ""
            said.append(Start(record.stage, f"its CRM {record.kind} {record.id} says {record.stage}{status}"))
    owned = [s for s in said if s.sales_owned]
    if owned:
        return max(owned, key=lambda s: stage_rank(s.stage))
    for stage in ("mql", "recycled"):
        for start in said:
            if start.stage == stage:
                return start
    return None


def pick_record(hubspot_id: str, email: str | None, records: Sequence[CrmRecord]) -> CrmRecord | None:
    """The record leadsync links a person to: the one carrying its id, else an unconverted
    lead with its email, else a contact with its email."""
    mine = [r for r in records if r.hubspot_id == hubspot_id]
    if mine:
        return min(mine, key=lambda r: (r.is_converted, r.id))
    if not email:
        return None
    same = [r for r in records if (r.email or "").lower() == email.lower()]
    for record in sorted(same, key=lambda r: (r.is_converted, r.kind != "lead", r.id)):
        return record
    return None


def records_of(hubspot_id: str, email: str | None, records: Sequence[CrmRecord]) -> list[CrmRecord]:
    """Every record that is this person's: by external id, or by email when it carries none."""
    mail = (email or "").lower()
    return [r for r in records if r.hubspot_id == hubspot_id
            or (not r.hubspot_id and mail and (r.email or "").lower() == mail)]
