"""The canonical vocabulary every part of leadsync shares.

Adapters translate vendor records into these shapes through ``mappings/*.toml``; the
qualification engine and the sync engine only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Mapping

# Canonical stages in funnel order. recycled and disqualified sit outside the forward order.
STAGES: tuple[str, ...] = (
    "subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified",
)
FORWARD_ORDER: tuple[str, ...] = ("subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer")
SALES_OWNED: frozenset[str] = frozenset({"sal", "sql", "opportunity", "customer"})
HANDED_OFF: frozenset[str] = frozenset({"mql", "sal", "sql", "opportunity", "customer"})

# The kinds of person record a CRM holds: a lead (a handed-off mql, sales' to work) and a
# contact (a person at an account, e.g. an existing customer's). Adapters map them to objects.
LEAD, CONTACT = "lead", "contact"


def stage_rank(stage: str | None) -> int:
    """Position in the forward funnel; recycled/disqualified/None rank as before ``lead``."""
    if stage in FORWARD_ORDER:
        return FORWARD_ORDER.index(stage)
    return 0


# Canonical lead fields the definition may name. Mapping files may add more (e.g. BANT fields).
BASE_LEAD_FIELDS: frozenset[str] = frozenset({
    "email", "email_domain", "first_name", "last_name", "company", "title", "phone",
    "employees", "annual_revenue", "industry", "country", "wants_sales_contact",
})

# Activity types and the attributes each may carry.
ACTIVITY_TYPES: Mapping[str, frozenset[str]] = MappingProxyType({
    "page_view": frozenset({"url"}),
    "form_submission": frozenset({"form_id", "form_name"}),
    "email_open": frozenset({"campaign"}),
    "email_click": frozenset({"url", "campaign"}),
    "email_unsubscribe": frozenset({"campaign"}),
    "webinar_attended": frozenset({"campaign"}),
    "meeting_booked": frozenset(),
    "sales_touch": frozenset({"kind"}),
})


@dataclass(frozen=True, slots=True)
class Activity:
    """Something a person did (or sales did to them), at a moment, with a few attributes."""

    type: str
    occurred_at: datetime  # timezone-aware UTC
    attrs: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # "hubspot" | "salesforce"
    id: str = ""  # the source system's id, to de-duplicate re-pulled activities
