"""One CRM-neutral driver for the end-to-end suites, so every test of the CRM loop runs on both
CRMs: how "sales" acts in each (accept a lead, verify BANT, reject it, work and win the
opportunity, log a touch, convert by hand), how to read a lead or an opportunity back, and
where each CRM's endpoints are for fault injection.

What differs between the CRMs is data here, not branches in the tests: Salesforce converts a
lead into an Opportunity when it becomes an sql, Sugar when sales accepts it (sal), at its
"unqualified pipeline" stage.

Fixtures: ``crm_name`` (parametrised over both CRMs: each test id shows the CRM) and ``crm``,
the driver bound to the test's ``sandbox``.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

import pytest

from leadsync_sandbox.server import Sandbox

CRMS = ("salesforce", "sugarcrm")
TASK_SUBJECT = "Follow up leadsync handoff"
HUBSPOT_KEYS = ("leadsync_stage", "leadsync_score", "leadsync_fit_score", "leadsync_engagement_score",
                "leadsync_reason", "leadsync_missing", "leadsync_definition_version", "lifecyclestage",
                "hs_lead_status")


@dataclass(frozen=True)
class LeadView:
    """A Lead as the tests look at it, whatever the CRM calls its fields."""

    id: str
    hubspot_id: str | None
    email: str | None
    status: str | None
    stage: str | None           # what leadsync wrote (leadsync's stage field)
    reason: str | None
    owner_id: str | None
    converted: bool
    handoff_at: bool
    written: tuple[Any, ...]    # leadsync's fields, for "same as fault-free"


@dataclass(frozen=True)
class OpportunityView:
    id: str
    stage: str
    amount: float | None
    account_id: str | None


@dataclass(frozen=True)
class AccountView:
    id: str
    name: str
    domain: str
    owner_id: str | None
    is_customer: bool


def _domain(website: str | None) -> str:
    return (website or "").split("//")[-1].removeprefix("www.").split("/")[0].lower()


class Driver:
    """Sales' side of one CRM in the sandbox. Subclasses fill in the vendor's words."""

    name: str
    convert_at: str                     # the stage at which leadsync converts a Lead
    stage_on_conversion: str            # the Opportunity's sales stage right after conversion
    qualified_stage = "Qualification"   # "qualified pipeline": sql
    worked_stage = "Proposal/Price Quote"
    won_stage = "Closed Won"
    handoff_status: str                 # a Lead leadsync creates opens with it
    accepted_status: str
    rejected_status: str
    # Another user saving the same record meanwhile: Sugar answers 409 edit_conflict and the
    # save is sent again within the cycle; Salesforce answers UNABLE_TO_LOCK_ROW, the record
    # is quarantined as transient and retried after its backoff.
    conflict_heals_in_cycle: bool
    # Fault injection: the endpoints each CRM's adapter calls.
    token_path: str
    read_path: str
    write_paths: tuple[str, ...]        # every endpoint a first sync writes through
    create_path: str                    # the call that creates the handed-off Leads
    convert_path: str

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    # -- reading back ------------------------------------------------------------------------
    def leads(self) -> list[LeadView]: raise NotImplementedError
    def lead(self, lead_id: str) -> LeadView: raise NotImplementedError
    def opportunities(self) -> list[OpportunityView]: raise NotImplementedError
    def linked_records(self) -> list[tuple[str, str, str]]:
        """(kind, id, HubSpot id) of every live record carrying a HubSpot id."""
        raise NotImplementedError
    def contact(self, contact_id: str) -> dict[str, Any]: raise NotImplementedError
    def accounts(self) -> list[AccountView]: raise NotImplementedError
    def follow_up_tasks(self) -> collections.Counter: raise NotImplementedError
    def seeded_twins(self) -> dict[str, str]: raise NotImplementedError
    def seeded_ids(self) -> set[str]: raise NotImplementedError
    def lead_ids_converted_to(self, opportunity_id: str) -> list[str]: raise NotImplementedError
    def lead_opportunity(self, lead_id: str) -> str | None: raise NotImplementedError

    # -- acting as sales ---------------------------------------------------------------------
    def accept(self, lead_id: str) -> None: raise NotImplementedError
    def reject(self, lead_id: str, reason: str) -> None: raise NotImplementedError
    def set_bant(self, person: dict[str, Any], *, verified: bool) -> None: raise NotImplementedError
    def move_opportunity(self, opportunity_id: str, stage: str, amount: float | None = None) -> None:
        raise NotImplementedError
    def log_touch(self, record_id: str, kind: str, at: datetime | None = None) -> None: raise NotImplementedError
    def convert_by_hand(self, lead_id: str) -> str: raise NotImplementedError

    # -- faults ------------------------------------------------------------------------------
    def expire_sessions(self) -> None: raise NotImplementedError
    def conflict_on(self, lead_id: str, times: int) -> None: raise NotImplementedError
    def conflicts_left(self, lead_id: str) -> int: raise NotImplementedError
    def lose_conversion_answer(self, monkeypatch: pytest.MonkeyPatch) -> list[str]: raise NotImplementedError

    # -- derived -----------------------------------------------------------------------------
    def leads_for(self, hubspot_id: str) -> list[LeadView]:
        return [lead for lead in self.leads() if lead.hubspot_id == hubspot_id]

    def opportunity(self, opportunity_id: str) -> OpportunityView:
        [found] = [o for o in self.opportunities() if o.id == opportunity_id]
        return found

    def converts_on_acceptance(self) -> bool:
        return self.convert_at == "sal"

    def customer_account(self) -> AccountView:
        return next(a for a in self.accounts() if a.is_customer and a.owner_id)

    def prospect_account(self) -> AccountView:
        return next(a for a in self.accounts() if not a.is_customer)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Both systems' synced state keyed by HubSpot id. Times leadsync picks (the handoff
        time) are reduced to whether they are set; owners depend on round-robin turns, not on
        correctness, so they are left out."""
        hubspot = {c["id"]: _dateless({**{k: c.get(k) for k in HUBSPOT_KEYS},
                                       "handoff_at": bool(c.get("leadsync_handoff_at"))})
                   for c in self.sandbox.hubspot.contacts()}
        tasks = self.follow_up_tasks()
        crm = {hubspot_id: _dateless({"kind": kind, **self._written(kind, record_id),
                                      "follow_up_tasks": tasks.get(record_id, 0)})
               for kind, record_id, hubspot_id in self.linked_records()}
        return {"hubspot": hubspot, "crm": crm}

    def _written(self, kind: str, record_id: str) -> dict[str, Any]: raise NotImplementedError

    def assert_no_duplicates(self) -> None:
        ids = collections.Counter(h for _, _, h in self.linked_records())
        doubled = {k: n for k, n in ids.items() if n != 1}
        assert not doubled, f"HubSpot ids on more than one {self.name} record: {doubled}"
        emails = collections.Counter((lead.email or "").lower() for lead in self.leads() if lead.hubspot_id)
        assert all(n == 1 for e, n in emails.items() if e), f"duplicate Leads by email: {emails.most_common(3)}"
        assert all(n == 1 for n in self.follow_up_tasks().values()), "one follow-up task per handoff"


_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _dateless(values: dict[str, Any]) -> dict[str, Any]:
    """Reasons name the day of a buying signal ("demo request 2026-11-20"). Every seeded time is
    relative to the sandbox's start, so two sandboxes started minutes apart can put the same
    signal on either side of midnight: snapshots compare reasons without their dates."""
    return {k: _DATE.sub("<date>", v) if "reason" in k.lower() and isinstance(v, str) else v
            for k, v in values.items()}


class SalesforceDriver(Driver):
    name = "salesforce"
    convert_at = "sql"
    stage_on_conversion = "Qualification"
    handoff_status = "Open - Not Contacted"
    accepted_status = "Working - Contacted"
    rejected_status = "Closed - Not Converted"
    conflict_heals_in_cycle = False
    token_path = "/services/oauth2/token"
    read_path = "/query"
    write_paths = ("/composite/sobjects/Lead/HubSpot_Contact_Id__c", "/composite/sobjects$")
    create_path = "/composite/sobjects/Lead/HubSpot_Contact_Id__c"
    convert_path = "/services/Soap/u/"
    WRITTEN = ("Leadsync_Stage__c", "Leadsync_Score__c", "Leadsync_Reason__c", "Leadsync_Definition_Version__c",
               "Status", "Email")

    @property
    def org(self) -> Any:
        return self.sandbox.salesforce

    def _view(self, r: dict[str, Any]) -> LeadView:
        return LeadView(r["Id"], r.get("HubSpot_Contact_Id__c"), r.get("Email"), r.get("Status"),
                        r.get("Leadsync_Stage__c"), r.get("Leadsync_Reason__c"), r.get("OwnerId"),
                        bool(r.get("IsConverted")), bool(r.get("Leadsync_Handoff_At__c")),
                        tuple(r.get(k) for k in self.WRITTEN))

    def leads(self) -> list[LeadView]:
        return [self._view(r) for r in self.org.records("Lead")]

    def lead(self, lead_id: str) -> LeadView:
        return self._view(self.org.record("Lead", lead_id))

    def opportunities(self) -> list[OpportunityView]:
        return [OpportunityView(o["Id"], o["StageName"], o.get("Amount"), o.get("AccountId"))
                for o in self.org.opportunities()]

    def linked_records(self) -> list[tuple[str, str, str]]:
        # A converted Lead is history: its Contact (which took the HubSpot id) is the person now.
        return [(obj, r["Id"], r["HubSpot_Contact_Id__c"]) for obj in ("Lead", "Contact")
                for r in self.org.records(obj) if r.get("HubSpot_Contact_Id__c") and not r.get("IsConverted")]

    def _written(self, kind: str, record_id: str) -> dict[str, Any]:
        r = self.org.record(kind, record_id)
        return {**{k: r.get(k) for k in self.WRITTEN}, "handoff_at": bool(r.get("Leadsync_Handoff_At__c"))}

    def contact(self, contact_id: str) -> dict[str, Any]:
        r = self.org.record("Contact", contact_id)
        return {"account_id": r.get("AccountId"), "owner_id": r.get("OwnerId"), "email": r.get("Email")}

    def accounts(self) -> list[AccountView]:
        return [AccountView(a["Id"], a["Name"], _domain(a.get("Website")), a.get("OwnerId"),
                            a.get("Type") == "Customer") for a in self.org.records("Account")]

    def follow_up_tasks(self) -> collections.Counter:
        return collections.Counter(t.get("WhoId") for t in self.org.records("Task") if t.get("Subject") == TASK_SUBJECT)

    def seeded_twins(self) -> dict[str, str]:
        return {r["Email"].lower(): r["Id"] for r in self.sandbox.seed.salesforce.leads
                if r.get("Email") and not r.get("HubSpot_Contact_Id__c")}

    def seeded_ids(self) -> set[str]:
        seed = self.sandbox.seed.salesforce
        return {r["Id"] for r in (*seed.leads, *seed.contacts)}

    def lead_ids_converted_to(self, opportunity_id: str) -> list[str]:
        return [r["Id"] for r in self.org.records("Lead") if r.get("ConvertedOpportunityId") == opportunity_id]

    def lead_opportunity(self, lead_id: str) -> str | None:
        return self.org.record("Lead", lead_id).get("ConvertedOpportunityId")

    def accept(self, lead_id: str) -> None:
        self.org.set_lead_status(lead_id, self.accepted_status)

    def reject(self, lead_id: str, reason: str) -> None:
        self.org.set_lead_status(lead_id, self.rejected_status, reason=reason)

    def set_bant(self, person: dict[str, Any], *, verified: bool) -> None:
        # On the Lead, before conversion. Verified: budget, need, timeline (authority follows
        # the title) pass; otherwise at most 2 of 4 do.
        if verified:
            self.org.set_bant(person["crm_id"], budget=True, need="Pipeline reviews take days", timeline="0-3 months")
        else:
            self.org.set_bant(person["crm_id"], budget=False, need="Curious", timeline="12+ months")

    def move_opportunity(self, opportunity_id: str, stage: str, amount: float | None = None) -> None:
        self.org.set_opportunity(opportunity_id, stage=stage, amount=amount)

    def log_touch(self, record_id: str, kind: str, at: datetime | None = None) -> None:
        self.org.log_touch(record_id, kind, at=at)

    def convert_by_hand(self, lead_id: str) -> str:
        return self.org.convert_by_hand(lead_id).opportunity_id

    def expire_sessions(self) -> None:
        self.org.expire_sessions()

    def conflict_on(self, lead_id: str, times: int) -> None:
        self.org.lock_record(lead_id, times=times)

    def conflicts_left(self, lead_id: str) -> int:
        from leadsync_sandbox.salesforce_values import normalize_id
        return self.org.store.locks.get(normalize_id(lead_id).lower(), 0)

    def lose_conversion_answer(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        """The next convertLead converts in the org, then its answer is lost (HTTP 500)."""
        import leadsync_sandbox.salesforce_soap as soap
        return _lose_once(monkeypatch, soap, "convert_lead")


class SugarDriver(Driver):
    name = "sugarcrm"
    convert_at = "sal"
    stage_on_conversion = "Prospecting"
    handoff_status = "New"
    accepted_status = "In Process"
    rejected_status = "Recycled"
    conflict_heals_in_cycle = True
    token_path = "/oauth2/token"
    read_path = "/filter$"
    write_paths = (r"/rest/v11_4/bulk$",)
    create_path = r"/rest/v11_4/bulk$"
    convert_path = "/convert$"
    WRITTEN = ("leadsync_stage_c", "leadsync_score_c", "leadsync_reason_c", "leadsync_definition_version_c",
               "status", "email1")

    @property
    def state(self) -> Any:
        return self.sandbox.sugarcrm

    def _view(self, r: dict[str, Any]) -> LeadView:
        return LeadView(r["id"], r.get("hubspot_contact_id_c"), r.get("email1"), r.get("status"),
                        r.get("leadsync_stage_c"), r.get("leadsync_reason_c"), r.get("assigned_user_id"),
                        bool(r.get("converted")), bool(r.get("leadsync_handoff_at_c")),
                        tuple(r.get(k) for k in self.WRITTEN))

    def leads(self) -> list[LeadView]:
        return [self._view(r) for r in self.state.records("Leads")]

    def lead(self, lead_id: str) -> LeadView:
        return self._view(self.state.record("Leads", lead_id))

    def opportunities(self) -> list[OpportunityView]:
        return [OpportunityView(o["id"], o["sales_stage"], o.get("amount"), o.get("account_id"))
                for o in self.state.records("Opportunities")]

    def linked_records(self) -> list[tuple[str, str, str]]:
        return [(module, r["id"], r["hubspot_contact_id_c"]) for module in ("Leads", "Contacts")
                for r in self.state.records(module) if r.get("hubspot_contact_id_c")]

    def _written(self, kind: str, record_id: str) -> dict[str, Any]:
        r = self.state.record(kind, record_id)
        return {**{k: r.get(k) for k in self.WRITTEN}, "handoff_at": bool(r.get("leadsync_handoff_at_c"))}

    def contact(self, contact_id: str) -> dict[str, Any]:
        r = self.state.record("Contacts", contact_id)
        return {"account_id": r.get("account_id"), "owner_id": r.get("assigned_user_id"), "email": r.get("email1")}

    def accounts(self) -> list[AccountView]:
        return [AccountView(a["id"], a["name"], _domain(a.get("website")), a.get("assigned_user_id"),
                            a.get("account_type") == "Customer") for a in self.state.records("Accounts")]

    def follow_up_tasks(self) -> collections.Counter:
        return collections.Counter(t.get("parent_id") for t in self.state.records("Tasks")
                                   if t.get("name") == TASK_SUBJECT)

    def seeded_twins(self) -> dict[str, str]:
        return {r["email1"].lower(): r["id"] for r in self.sandbox.sugar_seed.leads
                if r.get("email1") and not r.get("hubspot_contact_id_c")}

    def seeded_ids(self) -> set[str]:
        seed = self.sandbox.sugar_seed
        return {r["id"] for r in (*seed.leads, *seed.contacts)}

    def lead_ids_converted_to(self, opportunity_id: str) -> list[str]:
        return [r["id"] for r in self.state.records("Leads") if r.get("opportunity_id") == opportunity_id]

    def lead_opportunity(self, lead_id: str) -> str | None:
        return self.state.record("Leads", lead_id).get("opportunity_id")

    def accept(self, lead_id: str) -> None:
        self.state.set_lead_status(lead_id, self.accepted_status)

    def reject(self, lead_id: str, reason: str) -> None:
        self.state.set_lead_status(lead_id, self.rejected_status, description=reason)

    def set_bant(self, person: dict[str, Any], *, verified: bool) -> None:
        # On the Opportunity made when the Lead was accepted (custom _c fields).
        if verified:
            self.state.set_bant(person["opportunity_id"], budget=True, authority=True,
                                need="Pipeline reviews take days", timeline="0-3 months")
        else:
            self.state.set_bant(person["opportunity_id"], budget=False, authority=False, need="Curious",
                                timeline="12+ months")

    def move_opportunity(self, opportunity_id: str, stage: str, amount: float | None = None) -> None:
        self.state.set_sales_stage(opportunity_id, stage, amount=amount)

    def log_touch(self, record_id: str, kind: str, at: datetime | None = None) -> None:
        self.state.log_touch(record_id, kind, at=at)

    def convert_by_hand(self, lead_id: str) -> str:
        return self.state.convert_by_hand(lead_id)["Opportunities"]

    def expire_sessions(self) -> None:
        self.state.expire_tokens()

    def conflict_on(self, lead_id: str, times: int) -> None:
        self.state.conflict_on(lead_id, times=times)

    def conflicts_left(self, lead_id: str) -> int:
        return self.state.store.conflicts.get(lead_id, 0)

    def lose_conversion_answer(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        return _lose_once(monkeypatch, self.state, "convert_lead")


def _lose_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[str]:
    """``owner.name`` does its work once, then fails as if the answer never made it back (the
    emulator answers 500). Returns a list that holds one entry once that happened."""
    original: Callable[..., Any] = getattr(owner, name)
    lost: list[str] = []

    def work_then_fail(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not lost:
            lost.append("lost")
            raise RuntimeError("the conversion happened, and its answer never made it back")
        return result
    monkeypatch.setattr(owner, name, work_then_fail)
    return lost


DRIVERS: dict[str, type[Driver]] = {"salesforce": SalesforceDriver, "sugarcrm": SugarDriver}


def driver_for(sandbox: Sandbox) -> Driver:
    return DRIVERS[sandbox.crm](sandbox)


# -- fixtures (import the ones a module uses) ---------------------------------------------------

@pytest.fixture(scope="module", params=CRMS)
def crm_name(request: pytest.FixtureRequest) -> str:
    """Both CRMs, one after the other (module scope: a module's sandboxes are per CRM)."""
    return request.param


@pytest.fixture
def crm(sandbox: Sandbox) -> Driver:
    return driver_for(sandbox)


def handed_off_by_leadsync(people: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Leads leadsync handed off itself, at mql, highest score first (a Lead sales already had
    is adopted at its stage: it has no handoff of leadsync's)."""
    found = [p for p in people.values() if p["stage"] == "mql" and p.get("crm_object") == "lead" and p.get("handoffs")]
    return iter(sorted(found, key=lambda p: (-(p["score"] or 0), p["hubspot_id"])))
