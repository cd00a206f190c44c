"""The small protocol every system adapter speaks. The sync engine knows no vendor.

A marketing platform (HubSpot) is where people and their activities come from; a CRM
(Salesforce, SugarCRM) is where handed-off leads live and sales' feedback comes from.
Adapters translate vendor records into canonical fields through ``mappings/*.toml`` and back.
All writes are idempotent: they carry the full desired value, never a delta.

The vocabulary here is the domain's: a CRM holds *lead* and *contact* records (``LEAD``,
``CONTACT``), opportunities and accounts; which vendor object each one is, which field holds
leadsync's external id, the status a new lead opens with, and what a follow-up task looks like,
are the adapter's business.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from connector.core.model import CONTACT, LEAD, Activity
from connector.core.records import (Account, CrmRecord, CrmTargets, FollowUp, Opportunity, Person, Write,
                                    WriteOutcome)

__all__ = ["CONTACT", "LEAD", "Account", "Activity", "CompanyBook", "Crm", "CrmPlugin", "CrmRecord", "CrmTargets",
           "FollowUp", "MarketingPlatform", "Opportunity", "Person", "Write", "WriteOutcome"]


class CompanyBook(Protocol):
    """Where the marketing platform's companies are kept between reads (the state store): a
    page of people names its companies' ids, and they are looked up here, not read again."""

    def companies(self, company_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Company id → properties, for the ids kept."""

    def keep_companies(self, rows: Mapping[str, tuple[Mapping[str, Any], datetime | None]], now: datetime) -> None:
        """Company id → (properties, modified time), replacing what was kept."""

    def cursor(self, name: str) -> datetime | None:
        """How far the companies have been read."""

    def set_cursor(self, name: str, value: datetime, now: datetime) -> None: ...


class MarketingPlatform(Protocol):
    name: str

    def ensure_schema(self) -> None:
        """Create leadsync's own properties when missing (first run)."""

    def missing_schema(self) -> list[str]:
        """leadsync's own properties ``ensure_schema`` would create (read only: for dry runs)."""

    def changed_people(self, since: datetime, until: datetime, *,
                       echoes: Callable[[Sequence[Person]], set[str]] | None = None,
                       unmanaged: bool = False) -> Iterator[list[Person]]:
        """Batches of people modified in [since, until), oldest first, every one exactly once
        whatever is written meanwhile. ``echoes`` is shown each page's people before anything
        more is read about them; the ids it returns come back bare with ``echo`` set.
        ``unmanaged``: only people leadsync has written no stage to yet."""

    def everyone(self, *, echoes: Callable[[Sequence[Person]], set[str]] | None = None) -> Iterator[list[Person]]:
        """Every person, in no time order, each once however many are written meanwhile (a
        first run and the nightly reconciliation read this way)."""

    def locate(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Proof of where people are: id → its own id (alive), the survivor's (merged), or None
        (deleted). Ids the system says nothing definite about are left out."""

    def people(self, ids: Sequence[str]) -> list[Person]:
        """Read people by id (batch read)."""

    def people_of_company(self, key: str) -> list[Person]:
        """Everyone associated with a company (by company id or domain)."""

    def activities(self, people: Sequence[Person], since: datetime, until: datetime) -> dict[str, list[Activity]]:
        """Activities per person id that occurred in [since, until)."""

    def activities_between(self, since: datetime, until: datetime) -> Iterator[dict[str, list[Activity]]]:
        """Everyone's activities in [since, until), per person id (the incremental pull), in
        chunks (a person may appear in more than one)."""

    def write(self, writes: Sequence[Write]) -> WriteOutcome:
        """Batch-update people; per-record failures come back in the outcome."""


class Crm(Protocol):
    name: str

    def changed_records(self, since: datetime, until: datetime) -> Iterator[list[CrmRecord]]:
        """Lead and contact records carrying a HubSpot id, modified in [since, until), oldest first."""

    def find_records(self, *, emails: Sequence[str] = (), hubspot_ids: Sequence[str] = (),
                     ids: Sequence[str] = ()) -> list[CrmRecord]:
        """Dedupe lookup before a create: by external id, id, or email (leads and contacts)."""

    def accounts_by_domain(self, domains: Sequence[str]) -> dict[str, Account]:
        """Existing accounts keyed by email domain (farming and customer routing)."""

    def touches(self, records: Sequence[CrmRecord], since: datetime) -> dict[str, list[Activity]]:
        """Calls, emails and meetings on these records as ``sales_touch`` activities, per record id."""

    def opportunities(self, ids: Sequence[str]) -> dict[str, Opportunity]:
        """Opportunities by id."""

    def planned_values(self, write: Write) -> dict[str, Any]:
        """The vendor values a write would send, bookkeeping included (for dry runs)."""

    def upsert(self, writes: Sequence[Write]) -> WriteOutcome:
        """Create or update lead/contact records on the external id (never duplicates)."""

    def update(self, writes: Sequence[Write]) -> WriteOutcome:
        """Update existing lead/contact records by id."""

    def follow_up(self, tasks: Sequence[FollowUp]) -> WriteOutcome:
        """Create follow-up tasks for reps (once per key: a rerun adds no second task)."""

    def convert(self, record_ids: Sequence[str], *, opportunity_stage: str,
                owner_ids: Mapping[str, str] | None = None) -> WriteOutcome:
        """Convert leads that reached the CRM's ``convert_at`` stage into opportunities at
        ``opportunity_stage``; the outcome is keyed by lead record id, valued by opportunity id."""

    def set_opportunity_stage(self, opportunities: Mapping[str, str], stage: str) -> WriteOutcome:
        """Move opportunities (key → opportunity id) to ``stage``: where leads convert at sal,
        BANT verified moves the opportunity from the unqualified to the qualified pipeline."""


class CrmPlugin(Protocol):
    """What the composition root needs of a CRM: its mapping, the rules it implies, an adapter."""

    name: str
    mapping_file: str                    # in the mappings folder, e.g. "salesforce.toml"

    def load_mapping(self, path: Any) -> Any:
        """Load and validate the mapping file (ConfigError with every problem)."""

    def canonical_fields(self, mapping: Any) -> set[str]:
        """Canonical fields the mapping adds (BANT and others): the definition may name them."""

    def targets(self, mapping: Any) -> CrmTargets: ...

    def feedback_rules(self, mapping: Any) -> Any: ...

    def handoff_rules(self, mapping: Any) -> Any: ...

    def check_secrets(self, secrets: Any) -> None:
        """Raise ConfigError when a credential the CRM needs is not in the environment."""

    def setup(self, crm: Crm, clock: Any) -> Any:
        """The CRM's readiness checks: ``facts()`` (read the org), ``findings(facts)`` (judge them
        against the mapping, as ``core.readiness.Finding``), ``apply(findings)`` (create what is
        missing; returns what was created and what an admin must still do)."""

    def build(self, config: Any, secrets: Any, mapping: Any, policy: Any) -> Crm: ...
