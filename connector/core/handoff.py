"""Handoff routing: which CRM record a new mql becomes, and whose it is. Pure.

Dedupe beyond email first (identity map, external id, an existing Lead or Contact with the same
email), then route: an existing Account with the lead's domain belongs to its owner (farming;
a person at a customer Account becomes a Contact there when configured), otherwise the CRM's
assignment rule or a round robin over named users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from connector.core.model import CONTACT, LEAD
from connector.core.records import Account, CrmRecord, FollowUp
from connector.core.mapping import email_domain


@dataclass(frozen=True)
class HandoffRules:
    routing: str = "assignment_rule"              # "assignment_rule" | "round_robin"
    users: tuple[str, ...] = ()
    account_owner_wins: bool = True
    customer_account_as_contact: bool = True
    follow_up_task: bool = True
    task_subject: str = "Follow up leadsync handoff"

    def follow_up(self, key: str, record_id: str, decision: "Route", now: datetime, definition: Any) -> FollowUp:
        """A follow-up task due at the SLA first-touch deadline (a day, when the SLA sets none)."""
        sla = definition.sla
        due = now + (sla.first_touch_deadline or timedelta(days=1))
        target = f"within {_words(sla.first_touch_target)}, " if sla.first_touch_target else ""
        return FollowUp(key, record_id, decision.owner_id, due, self.task_subject,
                        f"New qualified lead from marketing: first touch {target}"
                        f"never later than {due:%Y-%m-%d %H:%M} UTC.")


@dataclass(frozen=True)
class Route:
    kind: str                                     # LEAD | CONTACT
    record_id: str | None                         # an existing record to reuse (no duplicate)
    owner_id: str | None                          # its owner (None: the CRM's assignment rule picks)
    existing_customer: bool = False
    auto_assign: bool = False                     # let the CRM's assignment rule pick the owner
    account_id: str | None = None                 # the customer account a new contact goes on
    why: str = ""

    @property
    def assigned_owner(self) -> str | None:
        """The owner leadsync sets: only on a new record; an existing one keeps sales' owner."""
        return None if self.record_id else self.owner_id


def route(hubspot_id: str, email: str | None, person: Mapping[str, Any], existing: Sequence[CrmRecord],
          accounts: Mapping[str, Account], rules: HandoffRules, next_owner: Callable[[], str | None]) -> Route:
    match = _existing_record(hubspot_id, email, person, existing)
    account = accounts.get(email_domain(email) or "")
    if match is not None:
        # Re-handoff or a record sales already holds: reuse it, keep its owner.
        # Re-handoff or a record sales already holds: reuse it, keep its owner (never rewritten).
        return Route(match.kind, match.id, match.owner_id, bool(account and account.is_customer),
                     why=f"existing {match.kind} {match.id}")
    if account and rules.account_owner_wins and account.owner_id:
        if account.is_customer and rules.customer_account_as_contact:
            return Route(CONTACT, None, account.owner_id, True, account_id=account.id,
                         why=f"customer account {account.name}: a contact for its owner")
        return Route(LEAD, None, account.owner_id, account.is_customer, why=f"account {account.name}: its owner")
    if rules.routing == "round_robin":
        owner = next_owner()
        if owner:
            return Route(LEAD, None, owner, why="round robin")
    return Route(LEAD, None, None, auto_assign=True, why="assignment rule")


def _existing_record(hubspot_id: str, email: str | None, person: Mapping[str, Any],
                     existing: Sequence[CrmRecord]) -> CrmRecord | None:
    """Identity map first, then the external id, then the same email on an unconverted record."""
    if person.get("crm_id"):
        for record in existing:
            if record.id == person["crm_id"]:
                return record
    for record in existing:
        if record.hubspot_id == hubspot_id:
            return record
    if email:
        for record in existing:
            if (record.email or "").lower() == email.lower() and not record.is_converted:
                return record
    return None


def _words(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} day{'s' if minutes != 1440 else ''}"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    return f"{minutes} minutes"
