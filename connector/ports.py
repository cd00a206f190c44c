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

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from connector.core.errors import SkippableRecord
from connector.core.model import CONTACT, LEAD, Activity  # noqa: F401  (the port speaks this vocabulary)


@dataclass(frozen=True, slots=True)
class Person:
    """A contact in the marketing platform, in canonical fields."""

    id: str                              # HubSpot contact id
    fields: Mapping[str, Any]            # canonical lead fields (email, title, employees, …)
    modified_at: datetime                # lastmodifieddate
    company_id: str | None = None        # primary associated company
    written: Mapping[str, Any] = field(default_factory=dict)  # current leadsync_* / lifecycle values, by property
    notes: tuple[str, ...] = ()          # values that could not be understood (kept as None), for the log
    echo: bool = False                   # its only change is leadsync's own write: read bare, not re-qualified


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """A lead or contact record in the CRM, in canonical fields plus sales' feedback."""

    id: str
    kind: str                            # LEAD | CONTACT
    email: str | None
    hubspot_id: str | None               # the external id, when leadsync created or linked it
    status: str | None                   # the lead's status as the CRM spells it
    owner_id: str | None
    fields: Mapping[str, Any]            # canonical fields read back (BANT, phone, …)
    modified_at: datetime                # the CRM's last-modified time
    is_converted: bool = False
    opportunity_id: str | None = None
    account_id: str | None = None
    reason: str | None = None            # the rep's recycle/reject reason
    written: Mapping[str, Any] = field(default_factory=dict)  # current leadsync-owned values, by field
    notes: tuple[str, ...] = ()          # values that could not be understood (kept as None), for the log
    # The stage the CRM itself says the person is at, translated by the adapter through its
    # mapping (a lead's status → stage, a contact on a customer account → customer), None when
    # it says nothing. How a first sync learns who sales already owns.
    stage: str | None = None


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
    """One record's desired values in one system. ``key`` identifies it in outcomes.

    For a CRM person record the adapter adds its own bookkeeping: the external id (``key``),
    the opening status when ``opening`` (a handoff), and the owner and account fields."""

    key: str                             # HubSpot contact id: the identity every write is keyed on
    record_id: str | None                # the target system's id when known (None = create/upsert)
    values: Mapping[str, Any]            # vendor field/property name → value (from the mappings)
    kind: str = CONTACT                  # LEAD | CONTACT
    owner_id: str | None = None          # routed owner (a CRM user id), when leadsync chose one
    account_id: str | None = None        # the account a contact is created on
    opening: bool = False                # a handoff: the record opens in the CRM's new-lead status


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A follow-up task for the rep, on the record of a new handoff, due at the SLA deadline."""

    key: str                             # HubSpot contact id
    record_id: str                       # the lead or contact record it is about
    owner_id: str | None
    due: datetime
    subject: str
    description: str


@dataclass(slots=True)
class WriteOutcome:
    """Per-record result of a batch write: partial failures never fail the batch."""

    written: dict[str, str] = field(default_factory=dict)        # key → record id
    created: set[str] = field(default_factory=set)               # keys whose record was created
    failed: dict[str, SkippableRecord] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)          # key → a partial problem (written, but…)
    stamps: dict[str, datetime] = field(default_factory=dict)    # key → the record's modified time after the write

    def merge(self, other: "WriteOutcome") -> None:
        self.written.update(other.written)
        self.stamps.update(other.stamps)
        self.created |= other.created
        self.failed.update(other.failed)
        self.notes.update(other.notes)


class MarketingPlatform(Protocol):
    name: str

    def ensure_schema(self) -> None:
        """Create leadsync's own properties when missing (first run)."""

    def missing_schema(self) -> list[str]:
        """leadsync's own properties ``ensure_schema`` would create (read only: for dry runs)."""

    def changed_people(self, since: datetime, until: datetime, *,
                       echoes: Callable[[Sequence[Person]], set[str]] | None = None) -> Iterator[list[Person]]:
        """Batches of people modified in [since, until), oldest first, every one exactly once
        whatever is written meanwhile. ``echoes`` is shown each page's people before anything
        more is read about them; the ids it returns come back bare with ``echo`` set."""

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

    def activities_between(self, since: datetime, until: datetime) -> dict[str, list[Activity]]:
        """Everyone's activities in [since, until), per person id (the incremental pull)."""

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
        """Convert qualified leads into opportunities at ``opportunity_stage``."""


@dataclass(frozen=True, slots=True)
class CrmTargets:
    """Where a CRM keeps what leadsync writes, from its mapping: output → field, canonical field →
    (field, sync rule), and the canonical fields a contact record carries."""

    crm_write: Mapping[str, str]
    crm_fields: Mapping[str, tuple[str, str]]
    contact_fields: frozenset[str] = frozenset()


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

    def build(self, config: Any, secrets: Any, mapping: Any, policy: Any) -> Crm: ...
