"""The sandbox's Salesforce org: in-memory state, the admin API tests act through, and the app.

``SalesforceState`` holds the records and everything the org decides on its own (sessions,
the daily API allocation, the lead assignment rule, locks, validation rules). Its admin
methods play the sales team (a rep changes a status, logs a call, converts by hand, merges
duplicates) and the failures tests need (expired sessions, exhausted allocation, locked rows).
``create_app`` serves the OAuth token endpoint, REST API and SOAP convertLead from one host,
so the sandbox URL is both ``login_url`` and ``instance_url``.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping

import flask

from leadsync_sandbox import faults as fault_injection
from leadsync_sandbox.salesforce_admin import register_admin
from leadsync_sandbox.salesforce_collections import register_collections
from leadsync_sandbox.salesforce_convert import ConvertResult, LeadConvert, convert_lead
from leadsync_sandbox.salesforce_query import Cursors
from leadsync_sandbox.salesforce_rest import error_body, register_rest
from leadsync_sandbox.salesforce_tooling import register_tooling
from leadsync_sandbox.salesforce_schema import (
    ORG_FIELDS, Field, OrgFields, custom_field_keys, BY_PREFIX, LEAD_STATUSES, OPPORTUNITY_STAGES, sobject,
)
from leadsync_sandbox.salesforce_store import (
    AssignmentRule, Record, RecordError, Store, ValidationRule, coerce_values,
)
from leadsync_sandbox.salesforce_soap import register_soap
from leadsync_sandbox.salesforce_values import ORG_ID, IdFactory, normalize_id

DEFAULT_PAGE_SIZE = 2000
INTEGRATION_USER = {"Id": "0055g0000000099AAA", "Username": "integration@example-vendor.com",
                    "FirstName": "Leadsync", "LastName": "Integration", "Name": "Leadsync Integration",
                    "Email": "integration@example-vendor.com", "IsActive": True,
                    "UserRoleName": "Integration"}
TOUCH_SUBTYPES = {"call": "Call", "email": "Email"}


def _seed_part(seed: Any, name: str, default: Any) -> Any:
    if seed is None:
        return default
    if isinstance(seed, Mapping):
        return seed.get(name, default)
    return getattr(seed, name, default)


class SalesforceState:
    """One org, thread-safe. Every public method takes the lock."""

    def __init__(self, seed_salesforce: Any = None, *, now: datetime | None = None,
                 daily_limit: int = 15000, clock: Callable[[], datetime] | None = None,
                 credentials: Mapping[str, str] | None = None, custom_fields: bool = True,
                 permissions: Mapping[str, bool] | None = None) -> None:
        self.lock = threading.RLock()
        # custom_fields=False: an org leadsync was never set up in (no HubSpot id, Leadsync_*
        # or BANT fields on Lead and Contact) until someone creates them (Tooling API).
        self.org = OrgFields(frozenset() if custom_fields else custom_field_keys(("Lead", "Contact")))
        self.clock = clock or _running_clock(now)
        self.store = Store(self.clock, IdFactory())
        self.cursors = Cursors()
        self.daily_limit = daily_limit
        self.api_used = 0
        self.page_size = DEFAULT_PAGE_SIZE
        self.started_at = self.clock()
        self.credentials = dict(credentials or {
            "client_id": "3MVG9" + secrets.token_urlsafe(24), "client_secret": secrets.token_hex(16),
            "username": "integration@example-vendor.com", "password": secrets.token_urlsafe(12)})
        self._sessions: dict[str, str] = {}   # access token → user id
        self._load(seed_salesforce)
        self.store.load("UserPermissionAccess", {f"Permissions{k}": v for k, v in {
            "ApiEnabled": True, "ConvertLeads": True, "CustomizeApplication": True, **(permissions or {})}.items()})

    def _load(self, seed: Any) -> None:
        users = list(_seed_part(seed, "users", []))
        self.integration_user_id = _seed_part(seed, "integration_user_id", None)
        if not self.integration_user_id:
            users.append(INTEGRATION_USER)
            self.integration_user_id = INTEGRATION_USER["Id"]
        for obj, records in (("User", users), ("Account", _seed_part(seed, "accounts", [])),
                             ("Lead", _seed_part(seed, "leads", [])),
                             ("Contact", _seed_part(seed, "contacts", [])),
                             ("Opportunity", _seed_part(seed, "opportunities", []))):
            for record in records:
                self.store.load(obj, record)
        rule = _seed_part(seed, "assignment_rule", None)
        if rule and rule.get("Active", True):
            self.store.assignment = AssignmentRule(rule.get("Id", ""), rule.get("Name", ""),
                                                   list(rule.get("RoundRobinUserIds", [])))

    # --- sessions and the API allocation (used by the app) ----------------------------------

    def now(self) -> datetime:
        return self.clock()

    def login(self, grant: Mapping[str, str], *, my_domain: bool = True) -> tuple[str, str] | tuple[str, str, str]:
        """(token, user id) for valid credentials, else ("error", code, description) as the
        token endpoint answers (RFC 6749 §5.2 codes with Salesforce's descriptions)."""
        c = self.credentials
        if grant.get("client_id") != c["client_id"]:
            return ("error", "invalid_client_id", "client identifier invalid")
        if grant.get("client_secret") != c["client_secret"]:
            return ("error", "invalid_client", "invalid client credentials")
        if grant.get("grant_type") == "client_credentials" and not my_domain:
            # The client-credentials flow is only served on the org's My Domain host.
            return ("error", "invalid_grant", "request not supported on this domain")
        if grant.get("grant_type") == "password" and (
                grant.get("username") != c["username"] or grant.get("password") != c["password"]):
            return ("error", "invalid_grant", "authentication failure")
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(40)}"
        with self.lock:
            self._sessions[token] = self.integration_user_id
        return token, self.integration_user_id

    def session_user(self, token: str | None) -> str | None:
        with self.lock:
            return self._sessions.get(token or "")

    def spend_call(self) -> bool:
        """Count one API call; False when the day's allocation is already used up."""
        with self.lock:
            if self.api_used >= self.daily_limit:
                return False
            self.api_used += 1
            return True

    # --- metadata (Tooling API) ------------------------------------------------------------

    def may_customize(self) -> bool:
        with self.lock:
            row = next(iter(self.store.live("UserPermissionAccess")), {})
            return bool(row.get("PermissionsCustomizeApplication"))

    def add_custom_field(self, sobject_name: str, created: Field) -> None:
        with self.lock:
            key = f"{sobject_name}.{created.name}".lower()
            self.org = OrgFields(self.org.absent, {**self.org.created, key: created})

    # --- faults -----------------------------------------------------------------------------

    def expire_sessions(self) -> None:
        """Every issued token stops working (the next call answers INVALID_SESSION_ID)."""
        with self.lock:
            self._sessions.clear()

    def set_api_usage(self, used: int) -> None:
        with self.lock:
            self.api_used = used

    def api_usage(self) -> int:
        """API calls counted today (out of ``daily_limit``)."""
        with self.lock:
            return self.api_used

    def lock_record(self, id_or_external_id: str, times: int = 1) -> None:
        """The next ``times`` writes to that record fail with UNABLE_TO_LOCK_ROW."""
        key = id_or_external_id
        with self.lock:
            if len(key) in (15, 18) and BY_PREFIX.get(key[:3]):
                key = normalize_id(key)
            self.store.locks[key.lower()] = times

    def add_validation_rule(self, object: str, name: str, predicate: Callable[[Record], bool],
                            message: str, field: str | None = None) -> None:
        """Like a Salesforce validation rule: ``predicate(record)`` is the *error condition*;
        a save where it returns True fails with FIELD_CUSTOM_VALIDATION_EXCEPTION."""
        with self.lock:
            self.store.rules.append(ValidationRule(object, name, predicate, message, field))

    def clear_validation_rules(self) -> None:
        with self.lock:
            self.store.rules.clear()

    def set_page_size(self, n: int) -> None:
        with self.lock:
            self.page_size = max(1, int(n))

    def set_assignment_rule(self, user_ids: list[str], active: bool = True) -> None:
        with self.lock:
            self.store.assignment = AssignmentRule("01Q5g0000000002AAA", "Admin rule",
                                                   list(user_ids), active)

    # --- acting as sales --------------------------------------------------------------------

    def _owner_of(self, record: Record) -> str:
        return record.get("OwnerId") or self.integration_user_id

    def _live(self, obj: str, record_id: str) -> Record:
        record = self.store.get(obj, record_id)
        if record is None:
            raise KeyError(f"no live {obj} {record_id}")
        return record

    def set_lead_status(self, lead_id: str, status: str, reason: str | None = None) -> None:
        if status not in LEAD_STATUSES:
            raise ValueError(f"{status!r} is not a Lead Status ({', '.join(LEAD_STATUSES)})")
        with self.lock:
            lead = self._live("Lead", lead_id)
            values: Record = {"Status": status}
            if reason is not None:
                values["Rejection_Reason__c"] = reason
            self.store.system_update("Lead", lead["Id"], values, actor=self._owner_of(lead))

    def log_touch(self, lead_or_contact_id: str, kind: str = "call",
                  at: datetime | None = None) -> str:
        """A rep's call or email (a Task) or meeting (an Event) on the person, at ``at``."""
        if kind not in ("call", "email", "meeting"):
            raise ValueError("kind is call, email or meeting")
        with self.lock:
            found = self.store.find(lead_or_contact_id)
            if found is None:
                raise KeyError(f"no live Lead/Contact {lead_or_contact_id}")
            at = (at or self.clock()).astimezone(timezone.utc)
            owner = self._owner_of(found[1])
            if kind == "meeting":
                values = {"WhoId": found[1]["Id"], "OwnerId": owner, "Subject": "Meeting",
                          "StartDateTime": at, "EndDateTime": at + timedelta(minutes=30)}
                return self._add_activity("Event", values, at)
            values = {"WhoId": found[1]["Id"], "OwnerId": owner, "Subject": kind.capitalize(),
                      "TaskSubtype": TOUCH_SUBTYPES[kind], "Status": "Completed",
                      "ActivityDate": at.date()}
            return self._add_activity("Task", values, at)

    def _add_activity(self, obj: str, values: Record, at: datetime) -> str:
        stamps = {"CreatedDate": at, "LastModifiedDate": at, "SystemModstamp": at,
                  "CreatedById": values["OwnerId"], "LastModifiedById": values["OwnerId"]}
        return self.store.load(obj, {**values, **stamps})["Id"]

    def set_bant(self, lead_id: str, budget: bool | None = None, authority: bool | None = None,
                 need: str | None = None, timeline: str | None = None) -> None:
        changes = {"Budget_Confirmed__c": budget, "Decision_Maker__c": authority,
                   "Need__c": need, "Timeline__c": timeline}
        with self.lock:
            lead = self._live("Lead", lead_id)
            values = {k: v for k, v in changes.items() if v is not None}
            self.store.system_update("Lead", lead["Id"], values, actor=self._owner_of(lead))

    def convert_by_hand(self, lead_id: str, converted_status: str = "Closed - Converted",
                        create_opportunity: bool = True) -> ConvertResult:
        """A rep converts the lead in the UI, outside leadsync; raises on failure."""
        with self.lock:
            lead = self._live("Lead", lead_id)
            result = convert_lead(self.store, LeadConvert(
                lead["Id"], converted_status, do_not_create_opportunity=not create_opportunity),
                actor=self._owner_of(lead))
        if result.errors:
            raise RecordError(result.errors[0].status_code, result.errors[0].message)
        return result

    def set_opportunity(self, opp_id: str, stage: str | None = None, amount: float | None = None,
                        close_date: date | str | None = None) -> None:
        if stage is not None and stage not in OPPORTUNITY_STAGES:
            raise ValueError(f"{stage!r} is not an Opportunity stage")
        with self.lock:
            opp = self._live("Opportunity", opp_id)
            values: Record = {}
            if stage is not None:
                values["StageName"] = stage
            if amount is not None:
                values["Amount"] = float(amount)
            if close_date is not None:
                values["CloseDate"] = date.fromisoformat(close_date) if isinstance(
                    close_date, str) else close_date
            self.store.system_update("Opportunity", opp["Id"], values, actor=self._owner_of(opp))

    def hard_delete(self, obj: str, record_id: str) -> None:
        with self.lock:
            self.store.hard_delete(sobject(obj).name, record_id)  # type: ignore[union-attr]

    def merge_leads(self, master_id: str, dup_id: str) -> None:
        """Merge ``dup`` into ``master``: the duplicate is deleted with MasterRecordId set and
        its activities move to the master, as Salesforce's merge does."""
        with self.lock:
            master, dup = self._live("Lead", master_id), self._live("Lead", dup_id)
            for obj in ("Task", "Event"):
                for activity in self.store.live(obj):
                    if activity.get("WhoId") == dup["Id"]:
                        self.store.system_update(obj, activity["Id"], {"WhoId": master["Id"]})
            self.store.system_update("Lead", dup["Id"], {"MasterRecordId": master["Id"]})
            self.store.delete("Lead", dup["Id"])
            self.store.system_update("Lead", master["Id"], {}, actor=self._owner_of(master))

    def touch_without_modstamp(self, lead_id: str, field: str, value: Any) -> None:
        """Change a field without bumping SystemModstamp (only a full comparison sees it)."""
        with self.lock:
            lead = self._live("Lead", lead_id)
            values = coerce_values(sobject("Lead"), {field: value})  # type: ignore[arg-type]
            self.store.system_update("Lead", lead["Id"], values, bump=False)

    def add_record(self, obj: str, **values: Any) -> str:
        """Create a record as an admin would in the UI (no API call, no validation)."""
        with self.lock:
            schema = sobject(obj)
            if schema is None:
                raise KeyError(f"no sObject {obj}")
            record = coerce_values(schema, values)
            if schema.field("OwnerId"):
                record.setdefault("OwnerId", self.integration_user_id)
            return self.store.load(schema.name, record)["Id"]

    # --- inspection -------------------------------------------------------------------------

    def records(self, obj: str, include_deleted: bool = False) -> list[Record]:
        with self.lock:
            name = sobject(obj).name  # type: ignore[union-attr]
            return [dict(r) for r in self.store.live(name, include_deleted=include_deleted)]

    def record(self, obj: str, record_id: str) -> Record | None:
        with self.lock:
            found = self.store.get(sobject(obj).name, record_id,  # type: ignore[union-attr]
                                   include_deleted=True)
            return dict(found) if found else None

    def lead_by_email(self, email: str) -> Record | None:
        with self.lock:
            return next((dict(r) for r in self.store.live("Lead")
                         if (r.get("Email") or "").lower() == email.lower()), None)

    def lead_by_external_id(self, hubspot_id: str) -> Record | None:
        with self.lock:
            found = self.store.by_external_id("Lead", "HubSpot_Contact_Id__c", hubspot_id)
            return dict(found) if found else None

    def opportunities(self) -> list[Record]:
        return self.records("Opportunity")

    def tasks_for(self, who_id: str) -> list[Record]:
        """Tasks and Events on a Lead or Contact, oldest first."""
        who = normalize_id(who_id)
        with self.lock:
            found = [dict(r) for obj in ("Task", "Event") for r in self.store.live(obj)
                     if r.get("WhoId") == who]
        return sorted(found, key=lambda r: r["CreatedDate"])


def _running_clock(start: datetime | None) -> Callable[[], datetime]:
    """Real time, or time that starts at ``start`` and runs at wall-clock speed."""
    if start is None:
        return lambda: datetime.now(timezone.utc)
    origin, t0 = start.astimezone(timezone.utc), time.monotonic()
    return lambda: origin + timedelta(seconds=time.monotonic() - t0)


def create_app(state: SalesforceState, faults: fault_injection.Faults,
               calls: fault_injection.CallLog) -> flask.Flask:
    app = flask.Flask("leadsync-sandbox-salesforce")
    fault_injection.install(app, "salesforce", faults, calls, error_body=error_body,
                            read_only_endpoints=("sf_collection_retrieve", "oauth_token"))
    @app.before_request
    def _org_fields() -> None:
        ORG_FIELDS.set(state.org)     # this org's fields, for every schema lookup in the request

    register_rest(app, state)
    register_tooling(app, state)
    register_collections(app, state)
    register_soap(app, state)
    register_admin(app, state, faults, calls)
    return app
