"""HubSpot as the marketing platform: contacts as canonical people, their activities, writes.

Calls go through hubspot-api-client (urllib3) with its own retries off (``urllib3.Retry(0)``);
every call runs under the HTTP policy, which paces, retries and classifies. Responses are read
raw (``_preload_content=False``) so the rate-limit headers reach the policy and an unexpected
extra field in a response cannot break model deserialisation. The legacy marketing email events
endpoint has no wrapper in the client, so it goes through the policy's requests session.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

import hubspot
import urllib3
from hubspot.discovery.discovery_base import DiscoveryBase

from connector.ports import CompanyBook, Person, Write, WriteOutcome
from connector.adapters.hubspot.rules import (keyset_search, lifecycle_phases, modified_millis, to_millis,
                                              wire_value)
from connector.core.batches import chunks, unique
from connector.core.errors import FatalError, SkippableRecord
from connector.core.mapping import ActivityMap, HubSpotMapping, email_domain, fill_blanks, normalise, read_fields
from connector.core.model import Activity
from connector.adapters.hubspot.auth import StaticToken
from connector.transport import HttpPolicy, HttpStatusError

BATCH = 100                      # batch read/update inputs per call
ACTIVITY_CHUNK = 5000            # activities handed to the engine at a time
COMPANY_CURSOR = "hubspot.companies"
COMPANY_REFRESH_SECONDS = 60.0   # how often changed companies are pulled (when people change)
COMPANY_LOOKBACK = timedelta(seconds=60)   # re-read past the cursor: search-index lag
PRIMARY_COMPANY_TYPE = 1         # associations v4: HUBSPOT_DEFINED contact→company "Primary"
PROPERTY_TYPES = {"string": ("string", "text"), "number": ("number", "number"),
                  "datetime": ("datetime", "date"), "bool": ("bool", "booleancheckbox")}
GROUP = "leadsync"


@dataclass(frozen=True)
class HubSpotSettings:
    base_url: str = "https://api.hubapi.com"
    token: str = field(default="", repr=False)   # private app, service key or OAuth access token
    search_page_size: int = 200                  # HubSpot's maximum per search page
    events_page_size: int = 100


def hubspot_client(settings: HubSpotSettings) -> hubspot.Client:
    """The client with retries off (the policy retries) and HTTPS verified like requests does."""
    return hubspot.Client.create(access_token=settings.token, retry=urllib3.Retry(0),
                                 host=settings.base_url.rstrip("/"),
                                 ssl_ca_cert=os.environ.get("REQUESTS_CA_BUNDLE") or None,
                                 api_factory=_kept_apis())


def _kept_apis() -> Callable[[Any, str, Mapping[str, Any]], Any]:
    """The client builds a new API object, with its own connection pool, on every attribute
    access (``client.crm.contacts.batch_api``): each call would open a fresh TLS connection and
    load the CA bundle again. This factory builds each API once and keeps it, so connections
    are reused. The access token is set on the kept object before every call (``_authorise``)."""
    kept: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def factory(package: Any, api_name: str, config: Mapping[str, Any]) -> Any:
        key = (package.__name__, api_name)
        with lock:
            if key not in kept:
                kept[key] = DiscoveryBase._default_api_factory(package, api_name, config)
            return kept[key]
    return factory


class HubSpotAdapter:
    name = "hubspot"

    def __init__(self, settings: HubSpotSettings, mapping: HubSpotMapping, policy: HttpPolicy,
                 client: hubspot.Client | None = None, auth: Any = None, book: CompanyBook | None = None) -> None:
        self.settings, self.mapping, self.policy = settings, mapping, policy
        # Companies kept between reads (the state store): contacts carry associatedcompanyid,
        # so with a book a page of contacts costs no association or company reads.
        self.book = book
        self._companies_pulled_at: float | None = None
        # A private app's static token, or a public app's OAuth refresh flow (auth.py).
        self.auth = auth or StaticToken(settings.token)
        self.client = client or hubspot_client(settings)
        self._session = policy.session("hubspot")
        self._session.headers["Authorization"] = f"Bearer {settings.token}"
        self._written = unique([f.name for f in mapping.contact_write] + ["lifecyclestage", "hs_lead_status"])
        self._properties = unique([f.name for f in mapping.contact_fields] + self._written
                                  + ["lastmodifieddate", "associatedcompanyid", "hs_merged_object_ids"])
        self._stage_property = next((f.name for f in mapping.contact_write if f.canonical == "stage"), None)

    def _api(self, method: Callable[..., Any], *args: Any, lane: str | None = None,
             single_record: bool = False, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """One client call under the policy; (status, parsed JSON body)."""
        def attempt() -> tuple[int, dict[str, Any]]:
            self._authorise(getattr(method, "__self__", None))
            response = method(*args, _preload_content=False, _request_timeout=self.policy.timeout, **kwargs)
            try:
                data = response.data
                self.policy.observe("hubspot", response.headers)
                return response.status, (json.loads(data) if data else {})
            finally:
                response.release_conn()
        return self.policy.call("hubspot", attempt, lane=lane, single_record=single_record,
                                reauth=self.auth.refresh)

    def _authorise(self, api: Any = None) -> None:
        """The current access token on the client, on an API object already built, and on the
        requests session (refreshed first when an OAuth token is about to expire)."""
        token = self.auth.token()
        self.client.access_token = token
        self._session.headers["Authorization"] = f"Bearer {token}"
        configuration = getattr(getattr(api, "api_client", None), "configuration", None)
        if configuration is not None:
            configuration.access_token = token

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        """A raw call (endpoints the client does not wrap) with the current token."""
        def attempt() -> Any:
            self._authorise()
            response = self._session.request(method, url, **kwargs)
            if response.status_code >= 400:
                raise HttpStatusError(response.status_code, response.headers, response.text)
            return response
        return self.policy.call("hubspot", attempt, reauth=self.auth.refresh)

    # -- schema ----------------------------------------------------------------------------------

    def missing_schema(self) -> list[str]:
        properties = self.client.crm.properties
        _, groups = self._api(properties.groups_api.get_all, "contacts")
        missing = [] if GROUP in {g.get("name") for g in groups.get("results", [])} else [f"property group {GROUP}"]
        _, existing = self._api(properties.core_api.get_all, "contacts")
        have = {p.get("name") for p in existing.get("results", [])}
        return missing + [f"contact property {spec.name}" for spec in self.mapping.contact_write if spec.name not in have]

    def ensure_schema(self) -> None:
        properties = self.client.crm.properties
        _, groups = self._api(properties.groups_api.get_all, "contacts")
        if GROUP not in {g.get("name") for g in groups.get("results", [])}:
            self._create_quietly(properties.groups_api.create, "contacts",
                                 {"name": GROUP, "label": "leadsync", "displayOrder": -1})
        _, existing = self._api(properties.core_api.get_all, "contacts")
        have = {p.get("name") for p in existing.get("results", [])}
        for spec in self.mapping.contact_write:
            if spec.name in have:
                continue
            type_, field_type = PROPERTY_TYPES[spec.type]
            body = {"name": spec.name, "label": spec.label or spec.name, "type": type_, "fieldType": field_type,
                    "groupName": GROUP, "description": "Written by leadsync from the shared lead definition."}
            if type_ == "bool":
                body["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0},
                                   {"label": "No", "value": "false", "displayOrder": 1}]
            self._create_quietly(properties.core_api.create, "contacts", body)

    def _create_quietly(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            self._api(method, *args, single_record=True)
        except SkippableRecord as exc:
            if exc.code not in ("conflict", "OBJECT_ALREADY_EXISTS"):  # another run created it first
                raise

    # -- people ----------------------------------------------------------------------------------

    def changed_people(self, since: datetime, until: datetime, *,
                       echoes: Callable[[Sequence[Person]], set[str]] | None = None,
                       unmanaged: bool = False) -> Iterator[list[Person]]:
        search_api = self.client.crm.contacts.search_api
        # unmanaged: only contacts that carry no leadsync stage yet (HubSpot filters them).
        also = ([{"propertyName": self._stage_property, "operator": "NOT_HAS_PROPERTY"}]
                if unmanaged and self._stage_property else [])

        def search(filter_groups: list[dict[str, Any]], sort: str) -> Mapping[str, Any]:
            body = {"filterGroups": filter_groups, "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                    "properties": self._properties, "limit": self.settings.search_page_size}
            return self._api(search_api.do_search, body, lane="hubspot_search")[1]
        for page in keyset_search(search, to_millis(since), to_millis(until),
                                  page_size=self.settings.search_page_size, also=also):
            yield self._people_from(page, echoes)

    def everyone(self, *, echoes: Callable[[Sequence[Person]], set[str]] | None = None) -> Iterator[list[Person]]:
        """Every contact, by the list API: paged by an id cursor from the record store, so no
        search index lag, no result cap, and no write (leadsync's or anyone's) moves anyone."""
        basic = self.client.crm.contacts.basic_api
        after = None
        while True:
            kwargs: dict[str, Any] = {"limit": BATCH, "properties": self._properties, "archived": False}
            if after:
                kwargs["after"] = after
            _, page = self._api(basic.get_page, **kwargs)
            results = page.get("results") or []
            if results:
                yield self._people_from(results, echoes)
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def locate(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Where each contact is now: its own id (alive), the survivor's id (merged away: a batch
        read answers a merged id with the survivor, which lists it in ``hs_merged_object_ids``),
        or None (archived or deleted: named under the batch answer's errors). An id the answer
        says nothing about is left out: absence proves nothing."""
        wanted = set(unique(ids))
        where: dict[str, str | None] = {}
        for chunk in chunks(sorted(wanted), BATCH):
            body = {"properties": ["hs_merged_object_ids"], "inputs": [{"id": i} for i in chunk]}
            _, page = self._api(self.client.crm.contacts.batch_api.read, body)
            for row in page.get("results") or []:
                rid = str(row["id"])
                merged = str((row.get("properties") or {}).get("hs_merged_object_ids") or "").split(";")
                for old in [rid, *merged]:
                    if old in wanted:
                        where[old] = rid
            for error in page.get("errors") or []:
                if str(error.get("category")) != "OBJECT_NOT_FOUND":
                    continue
                context = error.get("context") or {}
                for rid in context.get("ids") or []:
                    if str(rid) in wanted and str(rid) not in where:
                        where[str(rid)] = None
        return where

    def people(self, ids: Sequence[str]) -> list[Person]:
        found: list[dict[str, Any]] = []
        for chunk in chunks(unique(ids), BATCH):
            body = {"properties": self._properties, "inputs": [{"id": i} for i in chunk]}
            # A 207 lists merged/deleted ids under errors: they are simply not returned.
            found += self._api(self.client.crm.contacts.batch_api.read, body)[1].get("results", [])
        return self._people_from(found)

    def people_of_company(self, key: str) -> list[Person]:
        company_ids = [key] if key.isdigit() else self._companies_by_domain(key)
        contact_ids = [cid for targets in self._associated("companies", "contacts", company_ids).values()
                       for cid in targets]
        return self.people(contact_ids)

    def _companies_by_domain(self, domain: str) -> list[str]:
        body = {"filterGroups": [{"filters": [{"propertyName": "domain", "operator": "EQ",
                                               "value": domain.strip().lower()}]}],
                "properties": ["domain"], "limit": 100}
        _, page = self._api(self.client.crm.companies.search_api.do_search, body, lane="hubspot_search")
        return [str(r["id"]) for r in page.get("results", [])]

    def _associated(self, source: str, target: str, ids: Sequence[str], *,
                    primary_only: bool = False) -> dict[str, list[str]]:
        links: dict[str, list[str]] = {}
        for chunk in chunks(unique(ids), BATCH):
            body = {"inputs": [{"id": i} for i in chunk]}
            _, page = self._api(self.client.crm.associations.v4.batch_api.get_page, source, target, body)
            for row in page.get("results", []):
                targets = row.get("to") or []
                if primary_only:
                    primary = [t for t in targets if any(a.get("typeId") == PRIMARY_COMPANY_TYPE
                                                         for a in t.get("associationTypes") or [])]
                    targets = primary or targets[:1]
                links[str(row["from"]["id"])] = [str(t["toObjectId"]) for t in targets]
        return links

    def _people_from(self, results: Sequence[Mapping[str, Any]],
                     echoes: Callable[[Sequence[Person]], set[str]] | None = None) -> list[Person]:
        """People with their primary company's fields. ``echoes`` names the ones whose only
        change is leadsync's own write: those come back bare (``echo``), with no company reads."""
        if not results:
            return []
        bare = [self._person(r, None, {}) for r in results] if echoes else []
        echo_ids = echoes(bare) if echoes else set()
        live = [r for r in results if str(r["id"]) not in echo_ids]
        primary = self._primary_companies(live)
        companies = self._companies(sorted(set(primary.values())))
        echoed = {p.id: replace(p, echo=True) for p in bare if p.id in echo_ids}
        return [echoed.get(str(r["id"])) or self._person(r, primary.get(str(r["id"])), companies) for r in results]

    def _primary_companies(self, results: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """Contact id → its primary company's id: ``associatedcompanyid``, which HubSpot keeps
        equal to the primary association, so no association reads (those are for contacts read
        without the property)."""
        primary: dict[str, str] = {}
        unread = []
        for r in results:
            props = r.get("properties") or {}
            if "associatedcompanyid" not in props:
                unread.append(str(r["id"]))
            elif props.get("associatedcompanyid"):
                primary[str(r["id"])] = str(props["associatedcompanyid"]).split(".")[0]
        if unread:
            primary.update({cid: targets[0] for cid, targets in
                            self._associated("contacts", "companies", unread, primary_only=True).items() if targets})
        return primary

    def _companies(self, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Companies by id: from the book (refreshed with what changed since it was last read),
        read by batch only when missing from it."""
        if not ids:
            return {}
        found: dict[str, Mapping[str, Any]] = {}
        if self.book is not None:
            self._pull_changed_companies()
            found.update(self.book.companies(ids))
        missing = [i for i in ids if i not in found]
        read: dict[str, tuple[Mapping[str, Any], datetime | None]] = {}
        props = [f.name for f in self.mapping.company_fields]
        for chunk in chunks(missing, BATCH):
            body = {"properties": props, "inputs": [{"id": i} for i in chunk]}
            for row in self._api(self.client.crm.companies.batch_api.read, body)[1].get("results", []):
                read[str(row["id"])] = (row.get("properties") or {}, None)
        if read and self.book is not None:
            self.book.keep_companies(read, datetime.now(timezone.utc))
        found.update({cid: values for cid, (values, _) in read.items()})
        return found

    def _pull_changed_companies(self) -> None:
        """Every company changed since the last pull (all of them the first time), by keyset
        search on ``hs_lastmodifieddate``, into the book; at most once a minute."""
        clock = time.monotonic()
        if self._companies_pulled_at is not None and clock - self._companies_pulled_at < COMPANY_REFRESH_SECONDS:
            return
        self._companies_pulled_at = clock
        started = datetime.now(timezone.utc)
        cursor = self.book.cursor(COMPANY_CURSOR)
        since = cursor - COMPANY_LOOKBACK if cursor else datetime(2000, 1, 1, tzinfo=timezone.utc)
        search_api = self.client.crm.companies.search_api
        props = unique([f.name for f in self.mapping.company_fields] + ["hs_lastmodifieddate"])

        def search(filter_groups: list[dict[str, Any]], sort: str) -> Mapping[str, Any]:
            body = {"filterGroups": filter_groups, "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                    "properties": props, "limit": self.settings.search_page_size}
            return self._api(search_api.do_search, body, lane="hubspot_search")[1]
        for page in keyset_search(search, to_millis(since), to_millis(started) + 1000,
                                  page_size=self.settings.search_page_size, modified="hs_lastmodifieddate"):
            self.book.keep_companies({str(r["id"]): (r.get("properties") or {}, _stamp(r, "hs_lastmodifieddate"))
                                      for r in page}, started)
        self.book.set_cursor(COMPANY_CURSOR, started, started)

    def _person(self, raw: Mapping[str, Any], company_id: str | None,
                companies: Mapping[str, Mapping[str, Any]]) -> Person:
        props = raw.get("properties") or {}
        fields, notes = read_fields(props, self.mapping.contact_fields)
        fields["email_domain"] = fields.get("email_domain") or email_domain(fields.get("email"))
        if company_id in companies:
            company_fields, company_notes = read_fields(companies[company_id], self.mapping.company_fields)
            fill_blanks(fields, company_fields)
            notes += [f"company {company_id}: {n}" for n in company_notes]
        return Person(id=str(raw["id"]), fields=fields,
                      modified_at=datetime.fromtimestamp(modified_millis(raw) / 1000, tz=timezone.utc),
                      company_id=company_id, written={p: props.get(p) for p in self._written},
                      notes=tuple(notes),
                      aliases=tuple(i for i in str(props.get("hs_merged_object_ids") or "").split(";") if i))

    # -- activities ------------------------------------------------------------------------------

    def activities(self, people: Sequence[Person], since: datetime, until: datetime) -> dict[str, list[Activity]]:
        found: dict[str, list[Activity]] = {}
        for person in people:
            acts = self._events(person.id, since, until)
            if person.fields.get("email"):
                acts += self._email_events(str(person.fields["email"]), since, until)
            if acts:
                found[person.id] = sorted(acts, key=lambda a: a.occurred_at)
        return found

    def _events(self, contact_id: str, since: datetime, until: datetime) -> list[Activity]:
        return [activity for _, activity in self._event_pages(since, until, contact_id=contact_id)]

    def _event_pages(self, since: datetime, until: datetime, *, contact_id: str | None = None,
                     event_type: str | None = None) -> Iterator[tuple[str, Activity]]:
        """(contact id, activity) for events in [since, until): one contact's, or one type's for all."""
        events_api = self.client.events.events_api   # one ApiClient for all pages
        after = None
        while True:
            kwargs = {"object_type": "contact", "occurred_after": _iso(since),
                      "occurred_before": _iso(until), "limit": self.settings.events_page_size}
            if contact_id:
                kwargs["object_id"] = contact_id
            if event_type:
                kwargs["event_type"] = event_type
            if after:
                kwargs["after"] = after
            _, page = self._api(events_api.get_page, **kwargs)
            for event in page.get("results", []):
                rule = self.mapping.events.get(event.get("eventType", ""))
                activity = rule and _activity(rule, event.get("properties") or {}, event.get("occurredAt"),
                                              f"event:{event.get('id')}")
                if activity and since <= activity.occurred_at < until:
                    yield str(event.get("objectId")), activity
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def activities_between(self, since: datetime, until: datetime) -> Iterator[dict[str, list[Activity]]]:
        """Everyone's activities in [since, until), per contact id, in chunks: a few paged calls
        per event type instead of two calls per contact, so the hot loop stays cheap on a busy
        day, and a first run's months of events never sit in memory all at once."""
        chunk: dict[str, list[Activity]] = {}
        size = 0
        for event_type in self.mapping.events:
            for contact_id, activity in self._event_pages(since, until, event_type=event_type):
                chunk.setdefault(contact_id, []).append(activity)
                size += 1
                if size >= ACTIVITY_CHUNK:
                    yield _in_time_order(chunk)
                    chunk, size = {}, 0
        by_email: dict[str, list[Activity]] = {}
        for email, activity in self._email_event_pages(since, until):
            by_email.setdefault(email.lower(), []).append(activity)
            size += 1
            if size >= ACTIVITY_CHUNK:
                yield self._resolve_emails(chunk, by_email)
                chunk, by_email, size = {}, {}, 0
        if chunk or by_email:
            yield self._resolve_emails(chunk, by_email)

    def _resolve_emails(self, chunk: dict[str, list[Activity]],
                        by_email: Mapping[str, list[Activity]]) -> dict[str, list[Activity]]:
        for contact_id, email in self._ids_by_email(sorted(by_email)).items():
            chunk.setdefault(contact_id, []).extend(by_email[email])
        return _in_time_order(chunk)

    def _ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """Contact id → email for the recipients HubSpot knows (batch read on the email property)."""
        ids: dict[str, str] = {}
        for chunk in chunks(list(emails), BATCH):
            body = {"properties": ["email"], "idProperty": "email", "inputs": [{"id": e} for e in chunk]}
            for raw in self._api(self.client.crm.contacts.batch_api.read, body)[1].get("results", []):
                email = ((raw.get("properties") or {}).get("email") or "").lower()
                if email:
                    ids[str(raw["id"])] = email
        return ids

    def _email_events(self, email: str, since: datetime, until: datetime) -> list[Activity]:
        return [activity for _, activity in self._email_event_pages(since, until, recipient=email)]

    def _email_event_pages(self, since: datetime, until: datetime, *,
                           recipient: str | None = None) -> Iterator[tuple[str, Activity]]:
        """(recipient, activity) for marketing email events in [since, until)."""
        url = f"{self.settings.base_url.rstrip('/')}/email/public/v1/events"
        params: dict[str, Any] = {"startTimestamp": to_millis(since), "endTimestamp": to_millis(until), "limit": 1000}
        if recipient:
            params["recipient"] = recipient
        while True:
            body = self._request("GET", url, params=params).json()
            for event in body.get("events", []):
                rule = self.mapping.email_events.get(event.get("type", ""))
                activity = rule and _activity(rule, event, event.get("created"), f"email:{event.get('id')}")
                if activity and event.get("recipient"):
                    yield str(event["recipient"]), activity
            if not body.get("hasMore") or not body.get("offset"):
                return
            params["offset"] = body["offset"]

    # -- writing ---------------------------------------------------------------------------------

    def write(self, writes: Sequence[Write]) -> WriteOutcome:
        outcome = WriteOutcome()
        # The backwards rule needs what HubSpot holds: the value read with the contact this
        # cycle when the write carries it, else read now. (Moved forward by someone in between,
        # HubSpot ignores the backwards value and keeps the later stage, which is what sales
        # would want; the nightly reconciliation compares with what HubSpot then holds.)
        moving = [w for w in writes if w.values.get("lifecyclestage")]
        current = {w.key: w.held.get("lifecyclestage") for w in moving if w.held is not None}
        current.update(self._current_lifecycle([w.key for w in moving if w.held is None]))
        first, second = lifecycle_phases(writes, current)
        outcome.merge(self._update(first))
        # Only records whose clearing went through get their new stage.
        outcome.merge(self._update([w for w in second if w.key in outcome.written]))
        return outcome

    def _current_lifecycle(self, ids: Sequence[str]) -> dict[str, str | None]:
        """HubSpot's own value, not a cached one: the backwards rule depends on what it holds now."""
        current: dict[str, str | None] = {}
        for chunk in chunks(unique(ids), BATCH):
            body = {"properties": ["lifecyclestage"], "inputs": [{"id": i} for i in chunk]}
            for row in self._api(self.client.crm.contacts.batch_api.read, body)[1].get("results", []):
                current[str(row["id"])] = (row.get("properties") or {}).get("lifecyclestage")
        return current

    def _update(self, writes: Sequence[Write]) -> WriteOutcome:
        outcome = WriteOutcome()
        for chunk in chunks(list(writes), BATCH):
            inputs = [{"id": w.record_id or w.key, "properties": {k: wire_value(v) for k, v in w.values.items()}}
                      for w in chunk]
            try:
                _, body = self._api(self.client.crm.contacts.batch_api.update, {"inputs": inputs},
                                    single_record=len(chunk) == 1)
            except SkippableRecord as exc:
                outcome.failed[chunk[0].key] = exc
                continue
            except FatalError as exc:
                if getattr(exc, "kind", "") != "bad_request":
                    raise
                # One bad value rejects the whole batch: send each alone so only it is skipped.
                for write in chunk:
                    outcome.merge(self._update([write]))
                continue
            outcome.merge(_batch_outcome(chunk, body))
        return outcome


# What a person should do about a refused contact update, per HubSpot error category.
REMEDIES = {
    "VALIDATION_ERROR": "HubSpot will not take this value{on}: fix the value, or the property's options in HubSpot "
                        "(Settings > Properties), then `leadsync quarantine retry ID`",
    "OBJECT_NOT_FOUND": "the contact was deleted or merged in HubSpot: drop the entry (`leadsync quarantine drop ID`)",
    "MISSING_SCOPES": "the private app lacks a scope for this write: add crm.objects.contacts.write, then retry",
}
_PROPERTY = re.compile(r"""(?:"name"\s*:\s*"|[Pp]roperty\s+["'])([A-Za-z_][A-Za-z0-9_]*)""")


def refusal(category: str, message: str) -> str:
    """``HubSpot refused the update: VALIDATION_ERROR on leadsync_score. To do: …``"""
    found = _PROPERTY.search(message)
    on = f" on {found.group(1)}" if found else ""
    todo = REMEDIES.get(category, "fix the cause in HubSpot, then `leadsync quarantine retry ID` (or `drop ID`)")
    return f"HubSpot refused the update: {category}{on}. To do: {todo.format(on=on)}"


def _batch_outcome(chunk: Sequence[Write], body: Mapping[str, Any]) -> WriteOutcome:
    """A 200 or 207 batch answer: results for what was written, errors naming the ids that were not."""
    outcome = WriteOutcome()
    by_id = {w.record_id or w.key: w for w in chunk}
    for error in body.get("errors") or []:
        context = error.get("context") or {}
        ids = context.get("ids") or context.get("id") or []
        for rid in [ids] if isinstance(ids, str) else ids:
            if rid in by_id:
                category = str(error.get("category") or error.get("subCategory") or "error")
                outcome.failed[by_id[rid].key] = SkippableRecord(
                    refusal(category, str(error.get("message", ""))), code=category,
                    detail=str(error.get("message", "")))
    for result in body.get("results") or []:
        write = by_id.get(str(result.get("id")))
        if write is not None and write.key not in outcome.failed:
            outcome.written[write.key] = str(result["id"])
            if result.get("updatedAt"):
                # The contact's lastmodifieddate after this write: the next pull knows its echo.
                outcome.stamps[write.key] = datetime.fromtimestamp(modified_millis(result) / 1000, tz=timezone.utc)
    return outcome


def _activity(rule: ActivityMap, props: Mapping[str, Any], when: Any, activity_id: str) -> Activity | None:
    if any(str(props.get(k)) != v for k, v in rule.when.items()):
        return None
    occurred, _ = normalise(when, "datetime")
    if occurred is None:
        return None
    attrs = {name: props.get(source) for name, source in rule.attrs.items() if props.get(source) is not None}
    return Activity(rule.type, occurred, attrs, source="hubspot", id=activity_id)


def _in_time_order(found: dict[str, list[Activity]]) -> dict[str, list[Activity]]:
    return {k: sorted(v, key=lambda a: a.occurred_at) for k, v in found.items()}


def _stamp(row: Mapping[str, Any], name: str) -> datetime:
    return datetime.fromtimestamp(modified_millis(row, name) / 1000, tz=timezone.utc)


def _iso(moment: datetime) -> str:
    return wire_value(moment)
