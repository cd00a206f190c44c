"""The sandbox's Sugar instance: records, sessions, and the admin API tests act through.

Its admin methods play the sales team (a rep moves a lead's status, logs a call, fills BANT
on an opportunity, moves its sales stage) and the failures tests need (expired tokens,
logic hooks refusing saves, edit conflicts).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from leadsync_sandbox.sugarcrm.auth import Sessions
from leadsync_sandbox.sugarcrm.schema import DROPDOWNS, JOIN_LINKS, LINK_COLUMNS, MODULES
from leadsync_sandbox.sugarcrm.store import Record, Store, ValidationHook
from leadsync_sandbox.sugarcrm.values import ApiError, missing, not_found, second

DEFAULT_MAX_FETCH = 1000          # $sugar_config['max_record_fetch_size']
CONVERT_MODULES = ("Contacts", "Accounts", "Opportunities")   # Admin > Lead Conversion Rules
ADMIN_ID = "1"


class SugarState:
    """One instance, thread-safe: every public method takes the lock."""

    def __init__(self, seed: Any = None, *, now: datetime | None = None,
                 clock: Callable[[], datetime] | None = None,
                 credentials: Mapping[str, str] | None = None, platform: str = "leadsync") -> None:
        self.lock = threading.RLock()
        self.clock = clock or _running_clock(now)
        self.store = Store(self.clock)
        self.max_fetch = DEFAULT_MAX_FETCH
        self.joins: set[tuple[str, str]] = set()     # opportunities_contacts: (opportunity, contact)
        c = dict(credentials or {"client_id": "sugar", "client_secret": secrets.token_hex(16),
                                 "username": "leadsync", "password": secrets.token_urlsafe(12)})
        self.credentials = c
        self.integration_user_id = (seed.integration_user_id if seed is not None else ADMIN_ID)
        self._load(seed)
        self.sessions = Sessions(self.clock, {c["username"]: (c["password"], self.integration_user_id)},
                                 {c["client_id"]: c["client_secret"]}, {platform})
        self.dropdowns = {name: list(values) for name, values in DROPDOWNS.items()}

    def _load(self, seed: Any) -> None:
        if seed is None:
            self.store.load("Users", {"id": ADMIN_ID, "user_name": "leadsync", "last_name": "Integration",
                                      "status": "Active"})
            return
        for module, records in (("Users", seed.users), ("Accounts", seed.accounts), ("Contacts", seed.contacts),
                                ("Leads", seed.leads), ("Opportunities", seed.opportunities),
                                ("Calls", seed.calls), ("Meetings", seed.meetings), ("Tasks", seed.tasks)):
            for record in records:
                self.store.load(module, record)

    def now(self) -> datetime:
        return self.clock()

    # -- what the API does (used by the app) ---------------------------------------------------

    def convert_lead(self, lead_id: str, modules: Any, actor: str) -> list[tuple[str, Record]]:
        """``POST Leads/<id>/convert``: each module given by id (existing) or by its fields (new,
        created as they are: nothing is copied from the lead). A failed create answers 424."""
        with self.lock:
            lead = self.store.require("Leads", lead_id)
            if not isinstance(modules, dict):
                raise missing("Missing parameter: modules")
            if "Contacts" not in modules:
                raise missing("Lead conversion needs the Contacts module")
            beans: dict[str, Record] = {}
            for name in CONVERT_MODULES:
                if name in modules:
                    beans[name] = self._convert_bean(name, modules[name], actor)
            self._link_converted(lead, beans, actor)
            return [("Leads", lead)] + list(beans.items())

    def _convert_bean(self, module: str, data: Any, actor: str) -> Record:
        if not isinstance(data, dict):
            raise missing(f"Missing parameter: modules.{module}")
        if "id" in data:
            return self.store.require(module, str(data["id"]))   # an existing record, as it is
        try:
            return self.store.create(module, data, actor)
        except ApiError as exc:
            # LeadConvertApi rethrows the sub-request's failure with its two labels swapped.
            raise ApiError(424, exc.message, exc.error) from exc

    def _link_converted(self, lead: Record, beans: Mapping[str, Record], actor: str) -> None:
        contact, account, opportunity = (beans.get(m) for m in CONVERT_MODULES)
        values: Record = {"status": "Converted", "converted": True, "contact_id": contact["id"]}
        if account:
            values["account_id"] = account["id"]
            self.store.system_update("Contacts", contact["id"], {"account_id": account["id"]}, actor)
        if opportunity:
            values.update(opportunity_id=opportunity["id"], opportunity_name=opportunity.get("name"))
            extra = {"account_id": account["id"]} if account else {}
            self.store.system_update("Opportunities", opportunity["id"], extra, actor)
            self.joins.add((opportunity["id"], contact["id"]))
        self.store.system_update("Leads", lead["id"], values, actor)

    def link(self, module: str, record_id: str, link: str, remote_id: str, actor: str) -> tuple[Record, Record]:
        with self.lock:
            record = self.store.require(module, record_id)
            remote_module = MODULES[module].links.get(link)
            if remote_module is None:
                raise not_found(f"Could not find a relationship named: {link}")
            remote = self.store.require(remote_module, remote_id)
            if (module, link) in JOIN_LINKS:
                pair = (record_id, remote_id) if module == "Opportunities" else (remote_id, record_id)
                self.joins.add(pair)
                self.store.system_update(module, record_id, {}, actor)
                return record, remote
            side, column = LINK_COLUMNS[(module, link)]
            if side == "remote" and column == "parent":
                self.store.system_update(remote_module, remote_id, {"parent_type": module, "parent_id": record_id}, actor)
            elif side == "remote":
                self.store.system_update(remote_module, remote_id, {column: record_id}, actor)
            else:
                self.store.system_update(module, record_id, {column: remote_id}, actor)
            return record, remote

    def linked(self, module: str, record_id: str, link: str) -> tuple[str, list[Record]]:
        with self.lock:
            record = self.store.require(module, record_id)
            remote_module = MODULES[module].links.get(link)
            if remote_module is None:
                raise not_found(f"Could not find a relationship named: {link}")
            if (module, link) in JOIN_LINKS:
                ids = {c if module == "Opportunities" else o for o, c in self.joins
                       if (o if module == "Opportunities" else c) == record_id}
                return remote_module, [r for r in self.store.rows(remote_module) if r["id"] in ids]
            side, column = LINK_COLUMNS[(module, link)]
            if side == "remote" and column == "parent":
                rows = [r for r in self.store.rows(remote_module)
                        if r.get("parent_type") == module and r.get("parent_id") == record_id]
            elif side == "remote":
                rows = [r for r in self.store.rows(remote_module) if r.get(column) == record_id]
            else:
                target = self.store.get(remote_module, record.get(column) or "")
                rows = [target] if target else []
            return remote_module, rows

    # -- acting as sales -----------------------------------------------------------------------

    def _owner(self, record: Record) -> str:
        return record.get("assigned_user_id") or self.integration_user_id

    def set_lead_status(self, lead_id: str, status: str, description: str | None = None) -> None:
        if status not in self.dropdowns["lead_status_dom"]:
            raise ValueError(f"{status!r} is not in lead_status_dom")
        with self.lock:
            lead = self.store.require("Leads", lead_id)
            values: Record = {"status": status}
            if description is not None:
                values["status_description"] = description
            self.store.system_update("Leads", lead_id, values, self._owner(lead))

    def log_touch(self, parent_id: str, kind: str = "call", at: datetime | None = None,
                  parent_type: str = "Leads", status: str = "Held") -> str:
        """A rep's call, meeting or completed task on the lead (``kind`` call | meeting | email)."""
        module = {"call": "Calls", "meeting": "Meetings", "email": "Tasks"}.get(kind)
        if module is None:
            raise ValueError("kind is call, meeting or email")
        with self.lock:
            parent = self.store.require(parent_type, parent_id)
            at = second(at or self.clock())
            values: Record = {"name": {"call": "Call", "meeting": "Meeting", "email": "Email"}[kind],
                              "parent_type": parent_type, "parent_id": parent_id,
                              "assigned_user_id": self._owner(parent), "date_entered": at, "date_modified": at,
                              "created_by": self._owner(parent)}
            if module == "Tasks":
                values.update(status="Completed", date_due=at, priority="Medium")
            else:
                values.update(status=status, date_start=at, duration_hours=0, duration_minutes=15,
                              direction="Outbound")
            return self.store.load(module, values)["id"]

    def set_bant(self, opportunity_id: str, budget: bool | None = None, authority: bool | None = None,
                 need: str | None = None, timeline: str | None = None) -> None:
        changes = {"bant_budget_c": budget, "bant_authority_c": authority, "bant_need_c": need,
                   "bant_timeline_c": timeline}
        with self.lock:
            opp = self.store.require("Opportunities", opportunity_id)
            self.store.system_update("Opportunities", opportunity_id,
                                     {k: v for k, v in changes.items() if v is not None}, self._owner(opp))

    def set_sales_stage(self, opportunity_id: str, stage: str, amount: float | None = None) -> None:
        if stage not in self.dropdowns["sales_stage_dom"]:
            raise ValueError(f"{stage!r} is not in sales_stage_dom")
        with self.lock:
            opp = self.store.require("Opportunities", opportunity_id)
            values: Record = {"sales_stage": stage}
            if amount is not None:
                values["amount"] = amount
            self.store.system_update("Opportunities", opportunity_id, values, self._owner(opp))

    def convert_by_hand(self, lead_id: str, opportunity_name: str = "Deal") -> dict[str, str]:
        """A rep converts the lead in the UI: Contact and Opportunity at Prospecting."""
        with self.lock:
            lead = self.store.require("Leads", lead_id)
            owner = self._owner(lead)
            contact = {k: lead.get(k) for k in ("first_name", "last_name", "title", "email1")}
            result = self.convert_lead(lead_id, {
                "Contacts": {**contact, "assigned_user_id": owner},
                "Opportunities": {"name": opportunity_name, "sales_stage": "Prospecting", "assigned_user_id": owner,
                                  "date_closed": (self.clock() + timedelta(days=90)).date().isoformat()}}, owner)
            return {module: record["id"] for module, record in result}

    def add_record(self, module: str, **values: Any) -> str:
        with self.lock:
            values.setdefault("assigned_user_id", self.integration_user_id)
            return self.store.load(module, values)["id"]

    def delete_record(self, module: str, record_id: str) -> None:
        with self.lock:
            self.store.delete(module, record_id, self.integration_user_id)

    # -- faults --------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every access token is past its hour (the next call answers 401 invalid_grant)."""
        self.sessions.expire_access_tokens()

    def end_sessions(self) -> None:
        self.sessions.expire_all()

    def add_validation_hook(self, module: str, predicate: Callable[[Record], bool], message: str) -> None:
        with self.lock:
            self.store.hooks.append(ValidationHook(module, predicate, message))

    def clear_validation_hooks(self) -> None:
        with self.lock:
            self.store.hooks.clear()

    def conflict_on(self, record_id: str, times: int = 1) -> None:
        """The next ``times`` saves of that record answer 409 edit_conflict."""
        with self.lock:
            self.store.conflicts[record_id] = times

    def set_max_fetch(self, n: int) -> None:
        with self.lock:
            self.max_fetch = max(1, int(n))

    def register_platform(self, platform: str) -> None:
        self.sessions.platforms.add(platform)

    def unregister_platform(self, platform: str) -> None:
        self.sessions.platforms.discard(platform)

    # -- inspection ----------------------------------------------------------------------------

    def records(self, module: str, include_deleted: bool = False) -> list[Record]:
        with self.lock:
            return [dict(r) for r in self.store.rows(module, include_deleted)]

    def record(self, module: str, record_id: str) -> Record | None:
        with self.lock:
            found = self.store.get(module, record_id, include_deleted=True)
            return dict(found) if found else None

    def lead_by_email(self, email: str) -> Record | None:
        with self.lock:
            return next((dict(r) for r in self.store.rows("Leads")
                         if (r.get("email1") or "").lower() == email.lower()), None)

    def lead_by_hubspot_id(self, hubspot_id: str) -> Record | None:
        with self.lock:
            return next((dict(r) for r in self.store.rows("Leads") if r.get("hubspot_contact_id_c") == hubspot_id),
                        None)

    def touches_of(self, parent_id: str) -> list[Record]:
        with self.lock:
            found = [dict(r) for m in ("Calls", "Meetings", "Tasks") for r in self.store.rows(m)
                     if r.get("parent_id") == parent_id]
        return sorted(found, key=lambda r: r["date_entered"])

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {m: len(self.store.rows(m)) for m in MODULES}


def _running_clock(start: datetime | None) -> Callable[[], datetime]:
    if start is None:
        return lambda: datetime.now(timezone.utc)
    origin, t0 = start.astimezone(timezone.utc), time.monotonic()
    return lambda: origin + timedelta(seconds=time.monotonic() - t0)


def close_date(now: datetime, days: int = 90) -> date:
    return (now + timedelta(days=days)).date()
