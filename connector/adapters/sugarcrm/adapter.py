"""SugarCRM as the CRM, the seeds' model: an mql is a Lead in the Leads module; sales
accepting it converts it into an Opportunity at the first sales stage ("unqualified
pipeline"); BANT verified on that Opportunity moves it to the second ("qualified pipeline").

Records come back as the port's record kinds (lead, contact) whatever the modules are
called; a converted Lead carries its Opportunity's fields (BANT) and is reported again when
only the Opportunity changed. Every write is validated first (``metadata.py``), then sent
through ``bulk``, where each record's save answers with its own status.
"""

from __future__ import annotations

import heapq
import json
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from typing import Any, Iterable, Iterator, Mapping, Sequence

from connector.adapters.sugarcrm.auth import SYSTEM, SugarAuth, SugarSettings
from connector.adapters.sugarcrm.client import SugarClient, parse_time
from connector.adapters.sugarcrm.metadata import SugarSchema
from connector.adapters.sugarcrm.mapping import SugarMapping
from connector.core.errors import SkippableRecord
from connector.core.mapping import read_fields
from connector.ports import CONTACT, LEAD, Account, Activity, CrmRecord, FollowUp, Opportunity, Write, WriteOutcome
from connector.transport import HttpPolicy

OPPORTUNITIES = "Opportunities"
TASKS = "Tasks"
ACCOUNTS = "Accounts"
TOUCH_MODULES = ("Calls", "Meetings", "Tasks")
DONE = {"Calls": "Held", "Meetings": "Held", "Tasks": "Completed"}
BULK_SIZE = 50                         # sub-requests per bulk call
CONFLICT_ROUNDS = 3                    # sends of a save that keeps meeting edit conflicts
CLOSE_IN = timedelta(days=90)          # expected close date of a new opportunity
OPPORTUNITY_NAME_LIMIT = 50


class SugarAdapter:
    name = SYSTEM

    def __init__(self, settings: SugarSettings, mapping: SugarMapping, policy: HttpPolicy,
                 auth: SugarAuth | None = None, *, batch_size: int = 500,
                 client: SugarClient | None = None) -> None:
        self.settings, self.mapping, self.policy = settings, mapping, policy
        self.client = client or SugarClient(settings, policy, auth or SugarAuth(settings, policy))
        self.schema = SugarSchema(self.client)
        self.batch_size = batch_size

    # -- names -----------------------------------------------------------------------------------

    def _module(self, kind: str) -> str:
        m = self.mapping
        return {LEAD: m.lead_object, CONTACT: m.contact_object}.get(kind, kind)

    def _lead_columns(self) -> list[str]:
        m = self.mapping
        return _unique(["id", "email1", m.lead_external_id, "status", "assigned_user_id", "date_modified",
                        "converted", "opportunity_id", "account_id", "contact_id", m.status.reason_field,
                        *(f.name for f in m.lead_fields), *(f.name for f in m.lead_write)])

    def _contact_columns(self) -> list[str]:
        m = self.mapping
        known = self.schema.fields(m.contact_object)
        return [c for c in _unique(["id", "email1", m.contact_external_id, "assigned_user_id", "account_id",
                                    "date_modified", *(f.name for f in m.lead_fields),
                                    *(f.name for f in m.lead_write)]) if c in known]

    def _opportunity_columns(self) -> list[str]:
        return _unique(["id", "date_modified", "sales_stage", "amount", "date_closed", "account_id",
                        self.mapping.lead_external_id, *(f.name for f in self.mapping.opportunity_fields)])

    # -- reading ---------------------------------------------------------------------------------

    def changed_records(self, since: datetime, until: datetime, *,
                        unlinked: bool = False) -> Iterator[list[CrmRecord]]:
        """Leads and Contacts modified in [since, until), oldest first, each once: those carrying
        a HubSpot id, or with ``unlinked`` every one (adoption of an existing CRM)."""
        m = self.mapping
        linked = [{m.lead_external_id: {"$not_null": True}}]
        lead_filter = [] if unlinked else linked
        contact_filter = [] if unlinked else [{m.contact_external_id: {"$not_null": True}}]
        leads = (("lead", r) for r in self.client.changed(m.lead_object, lead_filter, self._lead_columns(), since, until))
        contacts = (("contact", r) for r in self.client.changed(
            m.contact_object, contact_filter, self._contact_columns(), since, until))
        opportunities = (("opportunity", r) for r in self.client.changed(
            OPPORTUNITIES, linked, self._opportunity_columns(), since, until)) if m.opportunity_fields else iter(())
        merged = heapq.merge(leads, contacts, opportunities,
                             key=lambda item: (parse_time(item[1].get("date_modified")), item[1]["id"]))
        while chunk := list(islice(merged, self.batch_size)):
            yield self._records(chunk)

    def _records(self, chunk: list[tuple[str, dict[str, Any]]]) -> list[CrmRecord]:
        """One batch: Leads with their Opportunity's fields; an Opportunity that changed alone
        stands for its Lead, at the Opportunity's change time."""
        m = self.mapping
        leads = {raw["id"]: raw for kind, raw in chunk if kind == "lead"}
        opps = {raw["id"]: raw for kind, raw in chunk if kind == "opportunity"}
        stamp = {raw["id"]: raw["date_modified"] for raw in leads.values()}
        wanted_opps = sorted({r.get("opportunity_id") for r in leads.values() if r.get("opportunity_id")} - set(opps))
        for raw in self.client.by_values(OPPORTUNITIES, "id", wanted_opps, self._opportunity_columns()):
            opps[raw["id"]] = raw
        orphan = sorted(set(opps) - {r.get("opportunity_id") for r in leads.values()})
        for raw in self.client.by_values(m.lead_object, "opportunity_id", orphan, self._lead_columns()):
            leads.setdefault(raw["id"], raw)
            opp_stamp = opps[raw["opportunity_id"]]["date_modified"]
            stamp[raw["id"]] = max(stamp.get(raw["id"], opp_stamp), opp_stamp)
        records = [self._lead(raw, opps.get(raw.get("opportunity_id") or ""), stamp[raw["id"]])
                   for raw in leads.values()]
        records += [self._contact(raw) for kind, raw in chunk if kind == "contact"]
        return sorted(records, key=lambda r: (r.modified_at, r.id))

    def _lead(self, raw: Mapping[str, Any], opp: Mapping[str, Any] | None, modified: Any = None) -> CrmRecord:
        m = self.mapping
        fields, notes = read_fields(raw, [f for f in m.lead_fields if f.name in raw])
        for f in m.lead_fields:
            fields.setdefault(f.canonical, None)
        if opp is not None:
            opp_fields, opp_notes = read_fields(opp, [f for f in m.opportunity_fields if f.name in opp])
            fields.update(opp_fields)
            notes += opp_notes
        for f in m.opportunity_fields:
            fields.setdefault(f.canonical, None)
        return CrmRecord(
            id=raw["id"], kind=LEAD, email=raw.get("email1") or None, hubspot_id=raw.get(m.lead_external_id) or None,
            status=raw.get("status") or None, owner_id=raw.get("assigned_user_id") or None, fields=fields,
            modified_at=parse_time(modified or raw.get("date_modified")), is_converted=bool(raw.get("converted")),
            opportunity_id=raw.get("opportunity_id") or None, account_id=raw.get("account_id") or None,
            reason=(raw.get(m.status.reason_field) or None) if m.status.reason_field else None,
            written={f.name: raw.get(f.name) for f in m.lead_write if f.name in raw}, notes=tuple(notes),
            stage=self._stage_said(raw))

    def _stage_said(self, raw: Mapping[str, Any]) -> str | None:
        """What a Lead's own status says, through the mapping's status → stage table (how a first
        sync learns who sales already owns); a converted Lead is at least sal, where Sugar converts."""
        if raw.get("converted"):
            return "sal"
        return self.mapping.status.feedback.get(raw.get("status") or "")

    def _contact(self, raw: Mapping[str, Any]) -> CrmRecord:
        m = self.mapping
        fields, notes = read_fields(raw, [f for f in m.lead_fields if f.name in raw])
        for f in (*m.lead_fields, *m.opportunity_fields):
            fields.setdefault(f.canonical, None)
        return CrmRecord(id=raw["id"], kind=CONTACT, email=raw.get("email1") or None,
                         hubspot_id=raw.get(m.contact_external_id) or None, status=None,
                         owner_id=raw.get("assigned_user_id") or None, fields=fields,
                         modified_at=parse_time(raw.get("date_modified")), account_id=raw.get("account_id") or None,
                         written={f.name: raw.get(f.name) for f in m.lead_write if f.name in raw}, notes=tuple(notes))

    def find_records(self, *, emails: Sequence[str] = (), hubspot_ids: Sequence[str] = (),
                     ids: Sequence[str] = ()) -> list[CrmRecord]:
        m = self.mapping
        found: dict[str, CrmRecord] = {}
        for field, values in (("email1", emails), (m.lead_external_id, hubspot_ids), ("id", ids)):
            if not any(values):
                continue
            leads = self.client.by_values(m.lead_object, field, list(values), self._lead_columns())
            opp_ids = [r["opportunity_id"] for r in leads if r.get("opportunity_id")]
            opps = {o["id"]: o for o in self.client.by_values(OPPORTUNITIES, "id", opp_ids, self._opportunity_columns())}
            found.update((r["id"], self._lead(r, opps.get(r.get("opportunity_id") or ""))) for r in leads)
            contact_field = m.contact_external_id if field == m.lead_external_id else field
            for raw in self.client.by_values(m.contact_object, contact_field, list(values), self._contact_columns()):
                found[raw["id"]] = self._contact(raw)
        return list(found.values())

    def accounts_by_domain(self, domains: Sequence[str]) -> dict[str, Account]:
        wanted = sorted({d.strip().lower() for d in domains if d and d.strip()})
        customer_types = set(self.mapping.handoff.customer_account_types)
        accounts: dict[str, Account] = {}
        for start in range(0, len(wanted), 50):
            chunk = wanted[start:start + 50]
            # $contains narrows on the server; the exact domain match happens here.
            condition = [{"$or": [{"website": {"$contains": d}} for d in chunk]}]
            found = self.client.matching(ACCOUNTS, condition, ["id", "name", "website", "assigned_user_id",
                                                               "account_type", "date_entered"])
            for raw in sorted(found, key=lambda r: (r.get("date_entered") or "", r["id"])):
                domain = website_domain(raw.get("website"))
                if domain in chunk:
                    account = Account(raw["id"], raw.get("name") or "", domain, raw.get("assigned_user_id") or None,
                                      raw.get("account_type") in customer_types)
                    if domain not in accounts or (account.is_customer and not accounts[domain].is_customer):
                        accounts[domain] = account
        return accounts

    def touches(self, records: Sequence[CrmRecord], since: datetime) -> dict[str, list[Activity]]:
        """Held calls and meetings, completed tasks, on these Leads/Contacts, as sales touches.
        leadsync's own follow-up task is a reminder, not a touch, until sales completes it."""
        kinds = self.mapping.touches
        found: dict[str, list[Activity]] = {}
        for parent_kind in (LEAD, CONTACT):
            ids = sorted({r.id for r in records if r.kind == parent_kind})
            for module in TOUCH_MODULES:
                kind = kinds.get(module)
                if not kind or not ids:
                    continue
                extra = [{"parent_type": self._module(parent_kind)}, {"status": DONE[module]},
                         {"date_entered": {"$gte": _time(since)}}]
                fields = ["id", "parent_id", "name", "status", "date_entered", "date_start"]
                for raw in self.client.by_values(module, "parent_id", ids, fields, extra):
                    when = raw.get("date_start") or raw.get("date_entered")
                    found.setdefault(raw["parent_id"], []).append(
                        Activity("sales_touch", parse_time(when), {"kind": kind}, source=SYSTEM, id=raw["id"]))
        return found

    def opportunities(self, ids: Sequence[str]) -> dict[str, Opportunity]:
        won, lost = set(self.mapping.opportunity.won_stages), set(self.mapping.opportunity.lost_stages)
        result = {}
        for raw in self.client.by_values(OPPORTUNITIES, "id", list(ids), self._opportunity_columns()):
            stage = raw.get("sales_stage") or ""
            amount = raw.get("amount")
            result[raw["id"]] = Opportunity(raw["id"], stage, float(amount) if amount not in (None, "") else None,
                                            raw.get("date_closed") or None, stage in won or stage in lost,
                                            stage in won, raw.get("account_id") or None,
                                            parse_time(raw.get("date_modified")))
        return result

    # -- writing ---------------------------------------------------------------------------------

    def planned_values(self, write: Write) -> dict[str, Any]:
        """The fields a write of a Lead or Contact sends: the mapped values plus the HubSpot id
        (linking a record found by email), the routed owner and account, and on a handoff the
        opening status (a Contact has none)."""
        values = dict(write.values)
        values[self._external_id(write.kind)] = write.key
        if write.owner_id:
            values["assigned_user_id"] = write.owner_id
        if write.account_id and write.kind == CONTACT:
            values["account_id"] = write.account_id
        if write.opening and write.kind == LEAD and self.mapping.status.handoff:
            values["status"] = self.mapping.status.handoff
        return values

    def upsert(self, writes: Sequence[Write]) -> WriteOutcome:
        """Create, or update the record already carrying this HubSpot id (never a duplicate).
        Without a routed owner Sugar leaves the record with the integration user."""
        outcome = WriteOutcome()
        existing = {r.hubspot_id: r for r in self.find_records(hubspot_ids=[w.key for w in writes]) if r.hubspot_id}
        saves = []
        for w in writes:
            record = existing.get(w.key)
            target = record.id if record is not None and record.kind == w.kind else None
            saves.append(_Save(w.key, self._module(w.kind), target, self.planned_values(w)))
        self._save_all(saves, outcome)
        return outcome

    def update(self, writes: Sequence[Write]) -> WriteOutcome:
        outcome = WriteOutcome()
        self._save_all([_Save(w.key, self._module(w.kind), w.record_id, self.planned_values(w))
                        for w in writes if w.record_id], outcome)
        return outcome

    def follow_up(self, tasks: Sequence[FollowUp]) -> WriteOutcome:
        """A Task on the Lead (``parent_type``/``parent_id``) due at the SLA deadline, created
        once: an open Task with the same name already on the record (a retry after a lost
        answer) is reported as written instead of adding a second reminder."""
        outcome = WriteOutcome()
        found: dict[tuple[str, str], str] = {}
        for subject in sorted({t.subject for t in tasks}):
            parents = sorted({t.record_id for t in tasks if t.subject == subject})
            extra = [{"name": subject}, {"status": {"$not_equals": "Completed"}}]
            for raw in self.client.by_values(TASKS, "parent_id", parents, ["id", "parent_id"], extra):
                found.setdefault((raw["parent_id"], subject), raw["id"])
        saves = []
        for task in tasks:
            existing = found.get((task.record_id, task.subject))
            if existing:
                outcome.written[task.key] = existing
                continue
            values = {"name": task.subject, "status": "Not Started", "priority": "High",
                      "date_due": _json_value(task.due), "description": task.description,
                      "parent_type": self.mapping.lead_object, "parent_id": task.record_id}
            if task.owner_id:
                values["assigned_user_id"] = task.owner_id
            saves.append(_Save(task.key, TASKS, None, values))
        self._save_all(saves, outcome)
        return outcome

    def set_opportunity_stage(self, opportunities: Mapping[str, str], stage: str) -> WriteOutcome:
        """Move opportunities (key → opportunity id) to a sales stage."""
        outcome = WriteOutcome()
        self._save_all([_Save(key, OPPORTUNITIES, opp_id, {"sales_stage": stage})
                        for key, opp_id in opportunities.items()], outcome)
        return outcome

    def _external_id(self, kind: str) -> str:
        return self.mapping.contact_external_id if kind == CONTACT else self.mapping.lead_external_id

    def _save_all(self, saves: Sequence["_Save"], outcome: WriteOutcome) -> None:
        """Validate, then send the saves through ``bulk``, up to BULK_SIZE a call; each
        sub-request answers with its own status. A create carries its own id, so a retried
        bulk (a lost answer) meets the records its first attempt made instead of doubling
        them; an edit conflict is sent again in the next round."""
        pending: list[_Save] = []
        for save in saves:
            save = save.json_ready()
            problem = self.schema.problem(save.module, save.values, creating=not save.record_id)
            if problem:
                outcome.failed[save.key] = SkippableRecord(f"not written to SugarCRM: {problem}",
                                                           code="invalid_value", detail=problem)
            else:
                pending.append(save if save.record_id else save.with_new_id())
        for round_ in range(CONFLICT_ROUNDS):
            conflicts: list[_Save] = []
            for start in range(0, len(pending), BULK_SIZE):
                chunk = pending[start:start + BULK_SIZE]
                answers = self.client.bulk([s.request(self.settings.api_version) for s in chunk])
                conflicts += self._read_answers(chunk, answers, outcome, last=round_ == CONFLICT_ROUNDS - 1)
            if not conflicts:
                return
            pending = conflicts

    def _read_answers(self, chunk: Sequence["_Save"], answers: Sequence[Mapping[str, Any]], outcome: WriteOutcome,
                      *, last: bool) -> list["_Save"]:
        conflicts, maybe_made = [], []
        for save, answer in zip(chunk, answers):
            status, contents = int(answer.get("status") or 0), answer.get("contents") or {}
            if 200 <= status < 300 and isinstance(contents, dict) and contents.get("id"):
                outcome.written[save.key] = contents["id"]
                if save.creating:
                    outcome.created.add(save.key)
            elif status == 409 and not last:
                conflicts.append(save)
            elif save.creating:
                # Refused (422: that id exists) or failed after saving (5xx): perhaps an
                # earlier attempt made it. The record's own id says.
                maybe_made.append((save, answer_error(status, contents)))
            else:
                outcome.failed[save.key] = answer_error(status, contents)
        made = {r["id"] for m in {s.module for s, _ in maybe_made}
                for r in self.client.by_values(m, "id", [s.record_id or "" for s, _ in maybe_made if s.module == m],
                                               ["id"])}
        for save, error in maybe_made:
            if save.record_id in made:
                outcome.written[save.key] = save.record_id or ""
                outcome.created.add(save.key)
            else:
                outcome.failed[save.key] = error
        return conflicts

    def convert(self, record_ids: Sequence[str], *, opportunity_stage: str,
                owner_ids: Mapping[str, str] | None = None) -> WriteOutcome:
        """``POST Leads/<id>/convert`` for each Lead: a Contact and an Opportunity at
        ``opportunity_stage``, under the Lead's Account or a new one. Sugar copies nothing from
        the Lead, so leadsync fills the new records from it. Keys of the outcome are Lead ids."""
        outcome = WriteOutcome()
        leads = {r["id"]: r for r in self.client.by_values(self.mapping.lead_object, "id", list(record_ids),
                                                         self._lead_columns() + ["first_name", "last_name", "title",
                                                                                 "account_name", "phone_work"])}
        # A lead without an Account joins the one its email domain already has, not a new twin.
        domains = {i: _domain(r.get("email1")) for i, r in leads.items() if not r.get("account_id")}
        known = self.accounts_by_domain([d for d in domains.values() if d]) if domains else {}
        for lead_id in record_ids:
            lead = leads.get(lead_id)
            if lead is None:
                outcome.failed[lead_id] = SkippableRecord("SugarCRM no longer has this lead", code="not_found")
                continue
            if lead_id in domains and domains[lead_id] in known:
                lead = {**lead, "account_id": known[domains[lead_id]].id}
            owner = (owner_ids or {}).get(lead_id) or lead.get("assigned_user_id") or None
            try:
                outcome.written[lead_id] = self._convert_one(lead, opportunity_stage, owner)
            except SkippableRecord as error:
                outcome.failed[lead_id] = sugar_error(error)
        return outcome

    def _convert_one(self, lead: Mapping[str, Any], stage: str, owner: str | None) -> str:
        modules = self._convert_modules(lead, stage, owner)
        for module, values in modules.items():
            problem = self.schema.problem(module, values, creating="id" not in values)
            if problem:
                raise SkippableRecord(f"not converted in SugarCRM: {problem}", code="invalid_value", detail=problem)
        path = f"{self.mapping.lead_object}/{lead['id']}/convert"

        look = {"filter": [{"id": lead["id"]}], "fields": "id,converted,opportunity_id", "max_num": 1}

        def attempt() -> str:
            # Converting twice makes a second Contact and Opportunity: every attempt (retries
            # after a lost answer included) first looks whether the lead is converted already.
            now = (self.client.once("POST", f"{self.mapping.lead_object}/filter", json=look) or {}).get("records", [])
            if now and now[0].get("converted") and now[0].get("opportunity_id"):
                return str(now[0]["opportunity_id"])
            answer = self.client.once("POST", path, json={"modules": modules})
            by_module = {m.get("_module"): m for m in (answer or {}).get("modules", [])}
            return str(by_module.get(OPPORTUNITIES, {}).get("id", ""))
        return self.client.guarded(attempt, single_record=True)

    def _convert_modules(self, lead: Mapping[str, Any], stage: str, owner: str | None) -> dict[str, dict[str, Any]]:
        m = self.mapping
        person = {k: lead.get(k) for k in ("first_name", "last_name", "title", "email1", "phone_work") if lead.get(k)}
        hubspot_id = lead.get(m.lead_external_id)
        common = {"assigned_user_id": owner} if owner else {}
        company = (lead.get("account_name") or "").strip()
        account = {"id": lead["account_id"]} if lead.get("account_id") else {"name": company or "[not provided]", **common}
        who = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
        name = f"{company} - {who}" if company else who or "Opportunity"
        close = (datetime.now(timezone.utc) + CLOSE_IN).date().isoformat()
        # The Contact carries no HubSpot id: leadsync keeps following the person on the Lead
        # (and its Opportunity), the one record that holds the handoff and sales' feedback.
        return {"Contacts": {**person, **common, "lead_source": lead.get("lead_source") or "Web Site"},
                ACCOUNTS: account,
                OPPORTUNITIES: {"name": name[:OPPORTUNITY_NAME_LIMIT], "sales_stage": stage, "date_closed": close,
                                m.lead_external_id: hubspot_id, **common}}


@dataclass(frozen=True)
class _Save:
    """One record save: an update when ``record_id`` is known, else a create."""

    key: str
    module: str
    record_id: str | None
    values: Mapping[str, Any]
    creating: bool = False

    def json_ready(self) -> "_Save":
        return replace(self, values={k: _json_value(v) for k, v in self.values.items()})

    def with_new_id(self) -> "_Save":
        return replace(self, record_id=str(uuid.uuid4()), creating=True)

    def request(self, version: str) -> dict[str, Any]:
        if self.creating:
            return {"url": f"/{version}/{self.module}", "method": "POST",
                    "data": json.dumps({**self.values, "id": self.record_id})}
        return {"url": f"/{version}/{self.module}/{self.record_id}", "method": "PUT", "data": json.dumps(self.values)}


def answer_error(status: int, contents: Any) -> SkippableRecord:
    """A refused sub-request, in Sugar's words; 5xx and conflicts clear up on a later cycle."""
    said = " / ".join(str(contents[k]) for k in ("error", "error_message")
                      if isinstance(contents, dict) and contents.get(k))
    code = str(contents.get("error") or status) if isinstance(contents, dict) else str(status)
    return SkippableRecord(f"SugarCRM refused the record (HTTP {status})" + (f": {said}" if said else ""),
                           code=code, transient=status >= 500 or status in (409, 429),
                           detail=json.dumps(contents, default=str)[:500])


def sugar_error(error: SkippableRecord) -> SkippableRecord:
    """The transport's verdict with Sugar's own words: ``error_message`` names the problem
    (a 424 from a conversion carries the two labels swapped; both are kept)."""
    detail = error.detail or ""
    body = detail.split(" ", 3)[-1] if detail else ""
    try:
        start = body.index("{")
        parsed = json.loads(body[start:])
    except ValueError:
        parsed = {}
    said = " / ".join(str(parsed[k]) for k in ("error", "error_message") if parsed.get(k))
    message = f"SugarCRM refused the record: {said}" if said else str(error)
    return SkippableRecord(message, code=error.code, transient=error.transient, detail=detail)


def _domain(email: Any) -> str:
    text = str(email or "").strip().lower()
    return text.rsplit("@", 1)[1] if "@" in text else ""


def website_domain(website: str | None) -> str:
    text = (website or "").strip().lower().split("://", 1)[-1]
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].split(":", 1)[0]
    return text[4:] if text.startswith("www.") else text


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))
