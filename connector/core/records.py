"""The records the engine and the adapters exchange, in the domain's vocabulary.

A person in the marketing platform, a lead or contact record in the CRM, an account, an
opportunity; a write of desired values and its outcome; a follow-up task for a rep. Pure data:
the adapters build and read them, the engine and the core decide with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from connector.core.errors import SkippableRecord
from connector.core.model import CONTACT


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
    aliases: tuple[str, ...] = ()        # ids of contacts merged into this one (their records are its own)


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
    held: Mapping[str, Any] | None = None  # what the record held of these fields when read (None: unknown)
    unconverted: bool = False            # a lead record the CRM said this cycle is not converted


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


@dataclass(frozen=True, slots=True)
class CrmTargets:
    """Where a CRM keeps what leadsync writes, from its mapping: output → field, canonical field →
    (field, sync rule), and the canonical fields a contact record carries."""

    crm_write: Mapping[str, str]
    crm_fields: Mapping[str, tuple[str, str]]
    contact_fields: frozenset[str] = frozenset()
