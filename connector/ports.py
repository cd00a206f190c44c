"""The small protocol every system adapter speaks. The sync engine knows no vendor.

A marketing platform (HubSpot) is where people and their activities come from; a CRM
(Salesforce; SugarCRM next) is where handed-off leads live and sales' feedback comes from.
Adapters translate vendor records into canonical fields through ``mappings/*.toml`` and back.
All writes are idempotent: they carry the full desired value, never a delta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator, Mapping, Protocol, Sequence

from connector.core.errors import SkippableRecord
from connector.core.model import Activity


@dataclass(frozen=True, slots=True)
class Person:
    """A contact in the marketing platform, in canonical fields."""

    id: str                              # HubSpot contact id
    fields: Mapping[str, Any]            # canonical lead fields (email, title, employees, …)
    modified_at: datetime                # lastmodifieddate
    company_id: str | None = None        # primary associated company
    written: Mapping[str, Any] = field(default_factory=dict)  # current leadsync_* / lifecycle values, by property
    notes: tuple[str, ...] = ()          # values that could not be understood (kept as None), for the log


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """A Lead or Contact in the CRM, in canonical fields plus sales' feedback."""

    id: str
    object: str                          # "Lead" | "Contact"
    email: str | None
    hubspot_id: str | None               # the external id, when leadsync created it
    status: str | None                   # Lead Status as the CRM spells it
    owner_id: str | None
    fields: Mapping[str, Any]            # canonical fields read back (BANT, phone, …)
    modified_at: datetime                # SystemModstamp
    is_converted: bool = False
    opportunity_id: str | None = None
    account_id: str | None = None
    reason: str | None = None            # the rep's recycle/reject reason
    written: Mapping[str, Any] = field(default_factory=dict)  # current Leadsync_* values, by field
    notes: tuple[str, ...] = ()          # values that could not be understood (kept as None), for the log


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    domain: str
    owner_id: str | None
    is_customer: bool


@dataclass(frozen=True, slots=True)
class Opportunity:
    id: str
    stage: str
    amount: float | None
    close_date: str | None
    is_closed: bool
    is_won: bool
    account_id: str | None
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class Write:
    """One record's desired values in one system. ``key`` identifies it in outcomes."""

    key: str                             # HubSpot contact id: the identity every write is keyed on
    record_id: str | None                # the target system's id when known (None = create/upsert)
    values: Mapping[str, Any]            # vendor field/property name → value
    object: str = "contact"              # "contact" (HubSpot) | "Lead" | "Contact" | "Task" …


@dataclass(slots=True)
class WriteOutcome:
    """Per-record result of a batch write: partial failures never fail the batch."""

    written: dict[str, str] = field(default_factory=dict)        # key → record id
    created: set[str] = field(default_factory=set)               # keys whose record was created
    failed: dict[str, SkippableRecord] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)          # key → a partial problem (written, but…)

    def merge(self, other: "WriteOutcome") -> None:
        self.written.update(other.written)
        self.created |= other.created
        self.failed.update(other.failed)
        self.notes.update(other.notes)


class MarketingPlatform(Protocol):
    name: str

    def ensure_schema(self) -> None:
        """Create leadsync's own properties when missing (first run)."""

    def changed_people(self, since: datetime, until: datetime) -> Iterator[list[Person]]:
        """Batches of people modified in [since, until), oldest first."""

    def people(self, ids: Sequence[str]) -> list[Person]:
        """Read people by id (batch read)."""

    def people_of_company(self, key: str) -> list[Person]:
        """Everyone associated with a company (by company id or domain)."""

    def activities(self, people: Sequence[Person], since: datetime, until: datetime) -> dict[str, list[Activity]]:
        """Activities per person id that occurred in [since, until)."""

    def activities_between(self, since: datetime, until: datetime) -> dict[str, list[Activity]]:
        """Everyone's activities in [since, until), per person id (the incremental pull)."""

    def write(self, writes: Sequence[Write]) -> WriteOutcome:
        """Batch-update people; per-record failures come back in the outcome."""


class Crm(Protocol):
    name: str

    def changed_records(self, since: datetime, until: datetime) -> Iterator[list[CrmRecord]]:
        """Leads and Contacts carrying a HubSpot id, modified in [since, until), oldest first."""

    def find_records(self, *, emails: Sequence[str] = (), hubspot_ids: Sequence[str] = (),
                     ids: Sequence[str] = ()) -> list[CrmRecord]:
        """Dedupe lookup before a create: by external id, id, or email (Leads and Contacts)."""

    def accounts_by_domain(self, domains: Sequence[str]) -> dict[str, Account]:
        """Existing Accounts keyed by email domain (farming and customer routing)."""

    def touches(self, records: Sequence[CrmRecord], since: datetime) -> dict[str, list[Activity]]:
        """Tasks/Events on these records as ``sales_touch`` activities, per record id."""

    def opportunities(self, ids: Sequence[str]) -> dict[str, Opportunity]:
        """Opportunities by id."""

    def upsert(self, writes: Sequence[Write]) -> WriteOutcome:
        """Create or update Leads/Contacts on the external id (never duplicates)."""

    def update(self, writes: Sequence[Write]) -> WriteOutcome:
        """Update existing records by id (Tasks included when record_id is None → create)."""

    def convert(self, record_ids: Sequence[str], *, opportunity_stage: str,
                owner_ids: Mapping[str, str] | None = None) -> WriteOutcome:
        """Convert Leads that reached the mapping's ``convert_at`` stage into Opportunities at
        ``opportunity_stage``; the outcome is keyed by Lead id, valued by Opportunity id."""

    def set_opportunity_stage(self, opportunities: Mapping[str, str], stage: str) -> WriteOutcome:
        """Move opportunities (key → opportunity id) to a stage; the outcome is keyed by key."""
