"""Salesforce as the CRM: Leads and Contacts in canonical fields, sales' feedback, writes.

simple-salesforce does the REST calls over the policy's requests session (so timeouts, limit
headers and pacing apply); the policy does every retry. SOQL is always built with
``format_soql``: values are quoted and escaped by it, never pasted into the text. Field and
object names come from the mapping file, which only admits API names.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from connector.ports import CONTACT, LEAD, Account, CrmRecord, FollowUp, Opportunity, Write, WriteOutcome
from connector.adapters.salesforce.soap import (HEADERS as SOAP_HEADERS, MAX_CONVERTS, ConvertResult, convert_envelope,
                                                parse_convert_response, soap_url)
from connector.adapters.salesforce.remedies import refused_fields, remedy
from connector.adapters.salesforce.auth import SalesforceAuth, SalesforceSettings, Token
from connector.core.durations import parse_instant
from connector.core.batches import chunks, unique
from connector.core.errors import ConfigError, Problem, SkippableRecord
from connector.state.idsets import SpillingIdSet
from connector.adapters.salesforce.mapping import SalesforceMapping
from connector.core.mapping import read_fields
from connector.core.model import Activity
from connector.core.predicate import range_bounds
from connector.transport import HttpPolicy, HttpStatusError

T = TypeVar("T")
COLLECTION_SIZE = 200        # sObject Collections take at most 200 records per call
IN_CHUNK = 200               # values per IN (...) list: keeps the query URL well under 16 KB
QUERY_PAGE = 2000
# Per-record failures that clear up by themselves: retried on a later cycle.
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE",
                             "QUERY_TIMEOUT", "UNKNOWN_EXCEPTION"})


class SalesforceAdapter:
    name = "salesforce"

    def __init__(self, settings: SalesforceSettings, mapping: SalesforceMapping, policy: HttpPolicy,
                 auth: SalesforceAuth | None = None, *, batch_size: int = 500) -> None:
        self.settings, self.mapping, self.policy = settings, mapping, policy
        self.auth = auth or SalesforceAuth(settings, policy)
        self.batch_size = batch_size
        self._session = policy.session("salesforce")
        self._client: Salesforce | None = None
        self._client_token: Token | None = None
        self._fields: dict[str, frozenset[str]] = {}

    # -- plumbing --------------------------------------------------------------------------------

    def _sf(self) -> Salesforce:
        token = self.auth.token()
        if self._client is None or token is not self._client_token:
            # Answers parsed into plain dicts by json's C scanner, not into OrderedDicts through
            # a Python hook called per record: a page of 2,000 records is then half the memory
            # and read several times faster (dicts keep the order anyway).
            self._client = Salesforce(instance_url=token.instance_url, session_id=token.access_token,
                                      version=self.settings.api_version, session=self._session,
                                      object_pairs_hook=None)
            self._client_token = token
        return self._client

    def _call(self, work: Callable[[Salesforce], T], *, single_record: bool = False) -> T:
        return self.policy.call("salesforce", lambda: work(self._sf()), single_record=single_record,
                                reauth=self.auth.refresh)

    def _query(self, soql: str) -> Iterator[dict[str, Any]]:
        headers = {"Sforce-Query-Options": f"batchSize={QUERY_PAGE}"}
        page = self._call(lambda sf: sf.query(soql, headers=headers))
        while True:
            for record in page.get("records", []):
                yield record
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._call(lambda sf: sf.query_more(next_url, identifier_is_url=True, headers=headers))

    def _describe(self, sobject: str) -> frozenset[str]:
        if sobject not in self._fields:
            described = self._call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
            self._fields[sobject] = frozenset(f["name"] for f in described.get("fields", []))
        return self._fields[sobject]

    # -- reading ---------------------------------------------------------------------------------

    def _lead_columns(self) -> list[str]:
        m = self.mapping
        wanted = ["Id", "Email", m.lead_external_id, "Status", "OwnerId", "SystemModstamp", "IsConverted",
                  "ConvertedOpportunityId", "ConvertedAccountId", m.status.reason_field,
                  *(f.name for f in m.lead_fields), *(f.name for f in m.lead_write)]
        columns = unique(wanted)
        mapped = [m.status.reason_field, *(f.name for f in m.lead_fields), *(f.name for f in m.lead_write)]
        have = {name.casefold() for name in self._describe(m.lead_object)}   # API names ignore case
        missing = [c for c in unique(mapped) if c.casefold() not in have]
        if missing:
            raise ConfigError([Problem(m.path, _mapping_key(m, name), f"{m.lead_object} has no field {name}")
                               for name in missing])
        return columns

    def _contact_columns(self) -> list[str]:
        m = self.mapping
        base = ["Id", "Email", m.contact_external_id, "OwnerId", "AccountId", "SystemModstamp"]
        existing = {name.casefold() for name in self._describe(m.contact_object)}
        # Lead-only fields (Company, Status, BANT…) have no Contact counterpart: read what exists.
        extra = [f.name for f in (*m.lead_fields, *m.lead_write) if f.name.casefold() in existing]
        return unique(base + extra)

    @staticmethod
    def _select(sobject: str, columns: Sequence[str], where: str, order: str = "") -> str:
        """``where`` comes from ``format_soql``; names are mapping API names (validated on load)."""
        return f"SELECT {', '.join(columns)} FROM {sobject} WHERE {where}" + (f" ORDER BY {order}" if order else "")

    def changed_records(self, since: datetime, until: datetime, *,
                        unlinked: bool = False) -> Iterator[list[CrmRecord]]:
        """Leads and Contacts modified in [since, until), oldest first, each once: those carrying
        a HubSpot id, or with ``unlinked`` every one (adoption of an existing org)."""
        m = self.mapping
        leads = self._keyset(m.lead_object, self._lead_columns(), None if unlinked else m.lead_external_id,
                             since, until)
        contacts = self._keyset(m.contact_object, self._contact_columns(),
                                None if unlinked else m.contact_external_id, since, until)
        # Both streams are ordered; merged, every batch is older than the next, so the caller's
        # cursor can advance after each one.
        merged = heapq.merge(leads, contacts, key=lambda r: (r.modified_at, r.id))
        while batch := list(islice(merged, self.batch_size)):
            yield self._with_account_stage(batch)

    def _keyset(self, sobject: str, columns: Sequence[str], linked: str | None, since: datetime,
                until: datetime) -> Iterator[CrmRecord]:
        """Records by (SystemModstamp, Id) keyset, never one long query locator or an OFFSET:
        each page is a fresh query from the newest second not yet read whole (SOQL datetime
        literals have whole seconds, so that second is read again and its ids dropped); a page
        of a single second is read by Id within it. A record written meanwhile only moves
        forward, so none is skipped, and one read already is not yielded again."""
        seen = SpillingIdSet()      # (an org of ids in bounded memory)
        lower = since
        while True:
            rows = self._page(sobject, columns, linked, "SystemModstamp >= {} AND SystemModstamp < {}",
                              [lower, until], "SystemModstamp, Id")
            seconds = [_second(parse_datetime(r.get("SystemModstamp"))) for r in rows]
            last_page = len(rows) < QUERY_PAGE
            top = seconds[-1] if seconds else None
            if not last_page and seconds[0] == top:
                del rows            # (not kept while the second is read)
                yield from self._one_second(sobject, columns, linked, top, until, seen)
                lower = top + timedelta(seconds=1)
                continue
            # Records made, the page as read is let go before they are handed out: the merge
            # with the other object's stream holds each stream's page until it is used up, and
            # a page of raw rows is several times its records.
            fresh = self._fresh(rows if last_page else [r for r, sec in zip(rows, seconds) if sec < top],
                                sobject, seen)
            del rows
            yield from fresh
            if last_page:
                return
            lower = top

    def _one_second(self, sobject: str, columns: Sequence[str], linked: str | None, second: datetime,
                    until: datetime, seen: SpillingIdSet) -> Iterator[CrmRecord]:
        last_id = ""
        end = min(second + timedelta(seconds=1), until)
        while True:
            window, values = "SystemModstamp >= {} AND SystemModstamp < {}", [second, end]
            if last_id:
                window, values = window + " AND Id > {}", values + [last_id]
            rows = self._page(sobject, columns, linked, window, values, "Id")
            last_page, last_id = len(rows) < QUERY_PAGE, rows[-1]["Id"] if rows else last_id
            fresh = self._fresh(rows, sobject, seen)
            del rows                # (let go before the records are handed out, as above)
            yield from fresh
            if last_page:
                return

    def _page(self, sobject: str, columns: Sequence[str], linked: str | None, window: str, values: list[Any],
              order: str) -> list[dict[str, Any]]:
        where = format_soql(window, *values)
        if linked:
            where = format_soql("{:literal} != null AND ", linked) + where
        return list(self._query(self._select(sobject, columns, where, order) + f" LIMIT {QUERY_PAGE}"))

    def _fresh(self, rows: Sequence[Mapping[str, Any]], sobject: str, seen: SpillingIdSet) -> list[CrmRecord]:
        fresh = [r for r in rows if r["Id"] not in seen]
        seen.update(r["Id"] for r in fresh)
        return [self._record(raw, sobject) for raw in fresh]

    def _with_account_stage(self, records: list[CrmRecord]) -> list[CrmRecord]:
        """A contact on a customer account is a customer, whatever HubSpot says."""
        account_ids = sorted({r.account_id for r in records if r.kind == CONTACT and r.account_id})
        if not account_ids:
            return records
        customer_types = set(self.mapping.handoff.customer_account_types)
        customers = set()
        for chunk in chunks(account_ids, IN_CHUNK):
            for raw in self._query(self._select("Account", ["Id", "Type"], format_soql("Id IN {}", chunk))):
                if raw.get("Type") in customer_types:
                    customers.add(raw["Id"])
        return [replace(r, stage="customer") if r.kind == CONTACT and r.account_id in customers else r
                for r in records]

    def _records(self, soql: str, sobject: str) -> Iterator[CrmRecord]:
        return (self._record(raw, sobject) for raw in self._query(soql))

    def _record(self, raw: Mapping[str, Any], sobject: str) -> CrmRecord:
        m = self.mapping
        is_lead = sobject == m.lead_object
        fields, notes = read_fields(raw, [f for f in m.lead_fields if f.name in raw])
        for f in m.lead_fields:
            fields.setdefault(f.canonical, None)
        external_id = m.lead_external_id if is_lead else m.contact_external_id
        return CrmRecord(
            id=raw["Id"], kind=LEAD if is_lead else CONTACT, email=raw.get("Email"), hubspot_id=raw.get(external_id),
            status=raw.get("Status") if is_lead else None, owner_id=raw.get("OwnerId"), fields=fields,
            modified_at=parse_datetime(raw.get("SystemModstamp")), is_converted=bool(raw.get("IsConverted")),
            opportunity_id=raw.get("ConvertedOpportunityId"),
            account_id=raw.get("ConvertedAccountId") if is_lead else raw.get("AccountId"),
            reason=raw.get(m.status.reason_field) if m.status.reason_field else None,
            written={f.name: raw.get(f.name) for f in m.lead_write if f.name in raw}, notes=tuple(notes),
            stage=self._stage_said(raw) if is_lead else None)

    def _stage_said(self, raw: Mapping[str, Any]) -> str | None:
        """What a Lead's own status says, through the mapping's status → stage table; a
        converted Lead is at least sql (its Opportunity says how far it went)."""
        if raw.get("IsConverted"):
            return "sql"
        return self.mapping.status.feedback.get(raw.get("Status") or "")

    def find_records(self, *, emails: Sequence[str] = (), hubspot_ids: Sequence[str] = (),
                     ids: Sequence[str] = ()) -> list[CrmRecord]:
        m = self.mapping
        found: dict[str, CrmRecord] = {}
        for sobject, columns, external_id in ((m.lead_object, self._lead_columns(), m.lead_external_id),
                                              (m.contact_object, self._contact_columns(), m.contact_external_id)):
            for column, values in (("Email", emails), (external_id, hubspot_ids), ("Id", ids)):
                for chunk in chunks(sorted({v for v in values if v}), IN_CHUNK):
                    soql = self._select(sobject, columns, format_soql("{:literal} IN {}", column, chunk), "Id")
                    found.update((r.id, r) for r in self._records(soql, sobject))
        return self._with_account_stage(list(found.values()))

    def accounts_by_domain(self, domains: Sequence[str]) -> dict[str, Account]:
        wanted = sorted({d.strip().lower() for d in domains if d and d.strip()})
        customer_types = set(self.mapping.handoff.customer_account_types)
        accounts: dict[str, Account] = {}
        for chunk in chunks(wanted, 50):
            # LIKE narrows on the server; the exact domain match happens here after normalising.
            where = " OR ".join(format_soql("Website LIKE '%{:like}%'", d) for d in chunk)
            soql = self._select("Account", ["Id", "Name", "Website", "OwnerId", "Type"], f"({where})",
                                "CreatedDate, Id")
            for raw in self._query(soql):
                domain = website_domain(raw.get("Website"))
                if domain in chunk:
                    account = Account(raw["Id"], raw.get("Name") or "", domain, raw.get("OwnerId"),
                                      raw.get("Type") in customer_types)
                    # A customer Account wins over a prospect one; otherwise the oldest.
                    if domain not in accounts or (account.is_customer and not accounts[domain].is_customer):
                        accounts[domain] = account
        return accounts

    def touches(self, records: Sequence[CrmRecord], since: datetime) -> dict[str, list[Activity]]:
        ids = sorted({r.id for r in records})
        kinds, own_subject = self.mapping.touches, self.mapping.handoff.task_subject
        found: dict[str, list[Activity]] = {}
        wanted = set(ids)
        # A few records: by their ids. Many (a busy org): everything since ``since``, kept for
        # these records only, so a quiet cycle costs one query per object, not one per 200.
        windows = ([format_soql("WhoId IN {} AND ", chunk) for chunk in chunks(ids, IN_CHUNK)]
                   if len(ids) <= IN_CHUNK else ["WhoId != null AND "])
        for who in windows:
            tasks = self._select("Task", ["Id", "WhoId", "TaskSubtype", "Subject", "Status", "CreatedDate"],
                                 who + format_soql("CreatedDate >= {}", since), "CreatedDate, Id")
            for raw in self._query(tasks):
                # leadsync's own follow-up Task is a reminder, not a touch, until sales completes it.
                if raw.get("WhoId") not in wanted or (raw.get("Subject") == own_subject
                                                      and raw.get("Status") != "Completed"):
                    continue
                kind = kinds.get(raw.get("TaskSubtype") or "Task")
                if kind:
                    found.setdefault(raw["WhoId"], []).append(_touch(raw, kind, raw.get("CreatedDate")))
            events = self._select("Event", ["Id", "WhoId", "StartDateTime"],
                                  who + format_soql("StartDateTime >= {}", since), "StartDateTime, Id")
            for raw in self._query(events):
                if kinds.get("Event") and raw.get("WhoId") in wanted:
                    found.setdefault(raw["WhoId"], []).append(_touch(raw, kinds["Event"], raw.get("StartDateTime")))
        return found

    def opportunities(self, ids: Sequence[str]) -> dict[str, Opportunity]:
        columns = ["Id", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "AccountId", "SystemModstamp"]
        result = {}
        for chunk in chunks(sorted({i for i in ids if i}), IN_CHUNK):
            for raw in self._query(self._select("Opportunity", columns, format_soql("Id IN {}", chunk))):
                result[raw["Id"]] = Opportunity(
                    raw["Id"], raw.get("StageName") or "", raw.get("Amount"), raw.get("CloseDate"),
                    bool(raw.get("IsClosed")), bool(raw.get("IsWon")), raw.get("AccountId"),
                    parse_datetime(raw.get("SystemModstamp")))
        return result

    # -- writing ---------------------------------------------------------------------------------

    def _sobject(self, kind: str) -> str:
        return self.mapping.contact_object if kind == CONTACT else self.mapping.lead_object

    def _external_id(self, kind: str) -> str:
        m = self.mapping
        return m.contact_external_id if kind == CONTACT else m.lead_external_id

    def planned_values(self, write: Write) -> dict[str, Any]:
        """The fields a write of a Lead or Contact sends: the mapped values plus the external id
        (linking a record found by email), the routed owner and account, and on a handoff the
        opening Status (a Contact has none)."""
        values = {name: self._numeric(name, value) for name, value in write.values.items()}
        values[self._external_id(write.kind)] = write.key
        if write.owner_id:
            values["OwnerId"] = write.owner_id
        if write.account_id and write.kind == CONTACT:
            values["AccountId"] = write.account_id
        if write.opening and write.kind == LEAD and self.mapping.status.handoff:
            values["Status"] = self.mapping.status.handoff
        return values

    def _numeric(self, name: str, value: Any) -> Any:
        """A range picklist value from HubSpot ("100-500") written to a number field holds its
        lower bound: the size the company is known to have at least."""
        if name in self._number_fields and isinstance(value, str):
            bounds = range_bounds(value)
            if bounds is not None:
                return int(bounds[0]) if self._number_fields[name] == "int" else bounds[0]
        return value

    @property
    def _number_fields(self) -> dict[str, str]:
        return {f.name: f.type for f in self.mapping.lead_fields if f.type in ("int", "float")}

    def upsert(self, writes: Sequence[Write]) -> WriteOutcome:
        outcome = WriteOutcome()
        groups: dict[tuple[str, bool], list[Write]] = {}
        for w in writes:
            # The assignment rule runs only for records leadsync does not route itself.
            groups.setdefault((w.kind, not w.owner_id), []).append(w)
        for (kind, auto_assign), group in groups.items():
            sobject, external_id = self._sobject(kind), self._external_id(kind)
            for chunk in chunks(group, COLLECTION_SIZE):
                records = [{"attributes": {"type": sobject}, **_json_values(self.planned_values(w))} for w in chunk]
                outcome.merge(self._collection("PATCH", f"composite/sobjects/{sobject}/{external_id}",
                                               chunk, records, auto_assign))
        return outcome

    def update(self, writes: Sequence[Write]) -> WriteOutcome:
        outcome = WriteOutcome()
        existing = self._onto_converted_contacts([w for w in writes if w.record_id], outcome)
        for chunk in chunks(existing, COLLECTION_SIZE):
            records = [{"attributes": {"type": self._sobject(w.kind)}, "id": w.record_id,
                        **_json_values(self.planned_values(w))} for w in chunk]
            outcome.merge(self._collection("PATCH", "composite/sobjects", chunk, records, False))
        return outcome

    def _onto_converted_contacts(self, writes: Sequence[Write], outcome: WriteOutcome) -> list[Write]:
        """After conversion the person lives on the Contact (and the Opportunity): Salesforce
        refuses any write to a converted Lead (CANNOT_UPDATE_CONVERTED_LEAD). A write aimed at a
        converted Lead goes to its Contact instead, with only what a Contact carries."""
        m = self.mapping
        lead_ids = sorted({str(w.record_id) for w in writes if w.kind == LEAD and w.record_id and not w.unconverted})
        contacts: dict[str, str | None] = {}
        for chunk in chunks(lead_ids, IN_CHUNK):
            where = format_soql("Id IN {} AND IsConverted = true", chunk)
            for raw in self._query(self._select(m.lead_object, ["Id", "ConvertedContactId"], where, "Id")):
                contacts[raw["Id"]] = raw.get("ConvertedContactId")
        if not contacts:
            return list(writes)
        carried = {f.name for f in m.lead_write} | {f.name for f in m.lead_fields if f.canonical in m.contact_carries}
        redirected = []
        for w in writes:
            if w.kind != LEAD or w.record_id not in contacts:
                redirected.append(w)
                continue
            contact_id = contacts[str(w.record_id)]
            values = {k: v for k, v in w.values.items() if k in carried}
            if contact_id and values:
                redirected.append(Write(w.key, contact_id, values, CONTACT))
            else:
                outcome.written[w.key] = contact_id or str(w.record_id)   # nothing a Contact can hold
        return redirected

    def follow_up(self, tasks: Sequence[FollowUp]) -> WriteOutcome:
        """A Task per new handoff, due at the SLA deadline, created once: when an open Task
        with the same subject already sits on the record (a retry after a lost answer, a run
        killed between the handoff and recording it), that one is reported as written instead
        of adding a second reminder for sales."""
        outcome = WriteOutcome()
        found: dict[tuple[str, str], str] = {}
        for subject in sorted({t.subject for t in tasks}):
            who = sorted({t.record_id for t in tasks if t.subject == subject})
            for chunk in chunks(who, IN_CHUNK):
                where = format_soql("WhoId IN {} AND Subject = {} AND Status != {}", chunk, subject, "Completed")
                for raw in self._query(self._select("Task", ["Id", "WhoId"], where, "Id")):
                    found.setdefault((raw["WhoId"], subject), raw["Id"])
        new = []
        for task in tasks:
            existing = found.get((task.record_id, task.subject))
            if existing:
                outcome.written[task.key] = existing
            else:
                new.append(task)
        for chunk in chunks(new, COLLECTION_SIZE):
            records = [{"attributes": {"type": "Task"}, **_task_values(t)} for t in chunk]
            outcome.merge(self._collection("POST", "composite/sobjects", chunk, records, False))
        return outcome

    def _collection(self, method: str, path: str, writes: Sequence[Write | FollowUp], records: list[dict[str, Any]],
                    auto_assign: bool) -> WriteOutcome:
        body = {"allOrNone": False, "records": records}
        headers = {"Sforce-Auto-Assign": "TRUE" if auto_assign else "FALSE"}
        results = self._call(lambda sf: sf.restful(path, method=method, json=body, headers=headers)) or []
        outcome = WriteOutcome()
        # Results come back in request order, one per record (allOrNone=false: partial success).
        for write, result in zip(writes, results):
            if result.get("success"):
                outcome.written[write.key] = result.get("id") or write.record_id or ""
                if result.get("created") or method == "POST":   # create results carry no flag
                    outcome.created.add(write.key)
            else:
                outcome.failed[write.key] = record_error(result.get("errors") or [])
        return outcome

    def convert(self, record_ids: Sequence[str], *, opportunity_stage: str,
                owner_ids: Mapping[str, str] | None = None) -> WriteOutcome:
        outcome = WriteOutcome()
        for chunk in chunks(list(record_ids), MAX_CONVERTS):
            for result in self._convert_chunk(chunk, owner_ids):
                if result.success and result.lead_id:
                    outcome.written[result.lead_id] = result.opportunity_id or ""
                elif result.lead_id:
                    outcome.failed[result.lead_id] = record_error(
                        [{"statusCode": e.status_code, "message": e.message} for e in result.errors])
        staged = WriteOutcome()
        for chunk in chunks([Write(lead, opp, {}) for lead, opp in outcome.written.items() if opp], COLLECTION_SIZE):
            records = [{"attributes": {"type": "Opportunity"}, "id": w.record_id, "StageName": opportunity_stage}
                       for w in chunk]
            staged.merge(self._collection("PATCH", "composite/sobjects", chunk, records, False))
        for key, error in staged.failed.items():
            # The Opportunity exists; only its stage is off. Not a failed conversion.
            outcome.notes[key] = f"converted, but the opportunity stage was not set: {error}"
        return outcome

    def set_opportunity_stage(self, opportunities: Mapping[str, str], stage: str) -> WriteOutcome:
        outcome = WriteOutcome()
        writes = [Write(key, opp, {}) for key, opp in opportunities.items()]
        for chunk in chunks(writes, COLLECTION_SIZE):
            records = [{"attributes": {"type": "Opportunity"}, "id": w.record_id, "StageName": stage} for w in chunk]
            outcome.merge(self._collection("PATCH", "composite/sobjects", chunk, records, False))
        return outcome

    def _convert_chunk(self, lead_ids: Sequence[str], owner_ids: Mapping[str, str] | None) -> list:
        status = self.mapping.status.converted
        done: dict[str, str] = {}          # converted by an earlier attempt whose answer was lost
        unsure: list[bool] = []            # an attempt failed after the org may have acted on it

        def attempt() -> bytes | None:
            if any(unsure):
                # Converting a lead twice fails: the leads say which ones the lost attempt did.
                found = self.find_records(ids=[i for i in lead_ids if i not in done])
                done.update({r.id: r.opportunity_id for r in found
                             if r.kind == LEAD and r.is_converted and r.opportunity_id})
            pending = [i for i in lead_ids if i not in done]
            if not pending:
                return None
            token = self.auth.token()      # rebuilt per attempt: a re-auth changes the session id
            try:
                response = self._session.post(soap_url(token.instance_url, self.settings.api_version),
                                              data=convert_envelope(token.access_token, pending, status, owner_ids),
                                              headers=SOAP_HEADERS)
            except Exception:
                unsure.append(True)
                raise
            if response.status_code >= 400:
                unsure.append(b"INVALID_SESSION_ID" not in response.content)   # a refused session did nothing
                raise HttpStatusError(response.status_code, response.headers, response.text)
            return response.content
        body = self.policy.call("salesforce", attempt, reauth=self.auth.refresh)
        results, usage = parse_convert_response(body) if body else ([], None)
        if usage:
            self.policy.observe_usage("salesforce", *usage)
        return results + [ConvertResult(lead, True, opportunity) for lead, opportunity in done.items()]


def record_error(errors: Sequence[Mapping[str, Any]]) -> SkippableRecord:
    """One refused record: the code, the fields it names and what a person should do about it."""
    first = errors[0] if errors else {}
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    fields = refused_fields(first)
    message = f"Salesforce refused the record: {code}" + (f" on {', '.join(fields)}" if fields else "")
    transient = code in TRANSIENT_CODES
    if not transient:
        message += f". To do: {remedy(code, fields)}"
    return SkippableRecord(message, code=code, transient=transient,
                           detail="; ".join(str(e.get("message", "")) for e in errors))


def website_domain(website: str | None) -> str:
    """'https://www.Example.com:443/about' → 'example.com'."""
    text = (website or "").strip().lower()
    text = text.split("://", 1)[-1]
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].split(":", 1)[0]
    return text[4:] if text.startswith("www.") else text


def parse_datetime(value: Any) -> datetime:
    """Salesforce's '2026-01-01T10:00:00.000+0000'; a missing value sorts first."""
    if not value:
        return datetime.min.replace(tzinfo=timezone.utc)
    return parse_instant(str(value))


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _touch(raw: Mapping[str, Any], kind: str, when: Any) -> Activity:
    return Activity("sales_touch", parse_datetime(when), {"kind": kind}, source="salesforce", id=raw["Id"])


def _task_values(task: FollowUp) -> dict[str, Any]:
    values = {"WhoId": task.record_id, "Subject": task.subject, "Status": "Not Started", "Priority": "High",
              "ActivityDate": task.due.date().isoformat(), "Description": task.description}
    if task.owner_id:
        values["OwnerId"] = task.owner_id
    return values


def _json_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in values.items()}


def _mapping_key(mapping: SalesforceMapping, name: str) -> str:
    for section, fields in (("lead.fields", mapping.lead_fields), ("lead.write", mapping.lead_write)):
        for f in fields:
            if f.name == name:
                return f"{section}.{f.canonical}.field"
    return "status.reason_field" if name == mapping.status.reason_field else "lead.external_id"
