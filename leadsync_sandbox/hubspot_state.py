"""The HubSpot portal behind the emulator: records, properties, activities, auth and limits.

All state lives in memory behind one lock. The HTTP layer (hubspot.py) translates requests
into these methods; tests and the demo call the admin methods directly to act as a marketer
would (edit a contact, submit a form) or to make the API misbehave (expire the token, fail one
record, spend the daily budget).
"""

from __future__ import annotations

import bisect
import secrets
import threading
import uuid
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping

from leadsync_sandbox import hubspot_schema as schema
from leadsync_sandbox.hubspot_index import SearchIndex
from leadsync_sandbox.hubspot_order import ModifiedOrder
from leadsync_sandbox.hubspot_limits import RateLimiter
from leadsync_sandbox.hubspot_webhooks import WebhookSubscriptions, acting_as
from leadsync_sandbox.seed import HubSpotSeed, iso
from leadsync_sandbox.seed_catalog import FORM_GUIDS, FORMS, VENDOR_SITE

DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
}
ALWAYS_RETURNED = {"contacts": ("createdate", "hs_object_id", "lastmodifieddate"),
                   "companies": ("createdate", "hs_object_id", "hs_lastmodifieddate")}
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
STAGE_ORDER = {stage: rank for rank, stage in enumerate(schema.LIFECYCLE_STAGES)}
PORTAL_ID = 24_681_357


class Clock:
    """Wall time, or a fixed starting point that then advances in real time (for demos)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start
        self._began = time.monotonic()

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(timezone.utc)
        return self._start + timedelta(seconds=time.monotonic() - self._began)


@dataclass(slots=True)
class Record:
    id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class Event:
    id: str
    event_type: str
    object_id: str
    occurred_at: datetime
    properties: dict[str, str]


@dataclass(slots=True)
class EmailEventRecord:
    id: str
    type: str
    recipient: str
    created: datetime
    campaign_id: int
    extra: dict[str, Any] = field(default_factory=dict)


class HubSpotState:
    def __init__(self, seed: HubSpotSeed | None = None, *, now: datetime | None = None,
                 rate_per_10s: int = 100, daily_limit: int = 250_000, search_per_second: int = 5,
                 search_result_cap: int = 10_000, token: str | None = None,
                 search_lag_seconds: float = 0.0, custom_properties: bool = True,
                 scopes: Iterable[str] | None = None, searches_in_burst: bool = True) -> None:
        self.lock = threading.RLock()
        self.clock = Clock(now)
        self.token = token or _new_token()
        self._expired: set[str] = set()
        # A public app installed on this portal (the OAuth refresh-token flow).
        self.oauth_app = {"client_id": str(uuid_hex()), "client_secret": str(uuid_hex()),
                          "refresh_token": "na1-" + secrets.token_hex(16)}
        self.rotate_refresh_tokens = False
        self.oauth_lifetime = timedelta(minutes=30)
        self._issued: dict[str, datetime] = {}        # OAuth access token → expiry
        self.limits = RateLimiter(per_10s=rate_per_10s, daily=daily_limit,
                                  search_per_second=search_per_second, portal_id=PORTAL_ID,
                                  searches_in_burst=searches_in_burst)
        self.search_result_cap = search_result_cap
        # Writes reach search this many seconds late; GET and batch read see them at once.
        self.index = SearchIndex(search_lag_seconds, snapshot=_snapshot)
        self.search_hooks: list[Callable[[str, list[str]], None]] = []
        self.archived: dict[str, dict[str, Record]] = {"contacts": {}, "companies": {}}
        self.properties = schema.default_properties(custom=custom_properties)
        # The scopes the token was granted (None = every scope a call can need).
        self.scopes = None if scopes is None else frozenset(scopes)
        self.groups = schema.default_groups()
        self.objects: dict[str, dict[str, Record]] = {"contacts": {}, "companies": {}}
        self.primary_company: dict[str, str] = {}
        self.merged_into: dict[str, str] = {}
        self.forms: list[dict[str, Any]] = []
        self.events: list[Event] = []
        self.events_version = 0            # moves on every change to the events (query caches)
        self.email_events: list[EmailEventRecord] = []
        self._failures: dict[str, list[Any]] = {}
        self._next_id = 1_000_001
        self.webhooks: Any = None          # hubspot_webhooks.WebhookSubscriptions, once subscribed
        self._id_order: dict[str, tuple[tuple[int, int], list[int]]] = {}
        # (object type, property) → lower-cased value → record id: a hint, checked on every use.
        self._by_value: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}
        # Every record by modified time, kept on each change: keyset search pages read from it.
        self.order = ModifiedOrder(MODIFIED)
        if seed is not None:
            self._load(seed)
        for kind in MODIFIED:
            self.order.load(kind, self.objects[kind])

    # ---- loading ----

    def _load(self, seed: HubSpotSeed) -> None:
        for company in seed.companies:
            self._put("companies", company.id, company.properties, company.created_at)
        for contact in seed.contacts:
            modified = datetime.fromisoformat(contact.properties["lastmodifieddate"].replace("Z", "+00:00"))
            record = self._put("contacts", contact.id, contact.properties, contact.created_at, modified)
            if contact.company_id:
                self.primary_company[contact.id] = contact.company_id
                record.properties["associatedcompanyid"] = contact.company_id
        self.merged_into.update(dict(seed.merges))
        # A seed that names its forms (brownfield) brings them; the greenfield portal has the
        # catalog's forms, under their GUIDs.
        self.forms = [dict(f) for f in seed.forms] or [
            {"id": guid, "name": FORMS[slug][0], "createdAt": schema.CREATED_AT} for slug, guid in FORM_GUIDS.items()]
        # Event properties are never changed after the fact, so the seed's dicts are shared.
        self.events = [Event(e.id, e.event_type, e.contact_id, e.occurred_at, e.properties)
                       for e in seed.events]
        self.email_events = [EmailEventRecord(e.id, e.type, e.recipient, e.created, e.email_campaign_id,
                                              e.extra) for e in seed.email_events]

    def _put(self, object_type: str, record_id: str, props: dict[str, str], created: datetime,
             modified: datetime | None = None) -> Record:
        modified = modified or created
        known = self.properties[object_type]
        values = {k: v for k, v in props.items() if v not in (None, "") and k in known}
        values.update({"hs_object_id": record_id, "createdate": iso(created),
                       MODIFIED[object_type]: iso(modified)})
        record = Record(record_id, values, created, modified)
        self.objects[object_type][record_id] = record
        return record

    # ---- reading ----

    def resolve(self, object_type: str, record_id: str) -> Record | None:
        """A live record by id, following merges (a merged id answers as the survivor)."""
        with self.lock:
            record_id = self.merged_into.get(record_id, record_id)
            return self.objects[object_type].get(record_id)

    def find_by(self, object_type: str, prop: str, value: str) -> Record | None:
        with self.lock:
            wanted = value.strip().lower()
            objects = self.objects[object_type]
            taken = self._by_value.get((object_type, prop))
            if taken is None or taken[0] != len(objects):
                # Records came or went since the hints were taken (a portal being seeded, say).
                taken = (len(objects), self._hints(objects, prop))
                self._by_value[(object_type, prop)] = taken
            hints = taken[1]
            record = objects.get(hints.get(wanted, ""))
            if record is not None and (record.properties.get(prop) or "").lower() == wanted:
                return record
            # Changed since the hint was taken, or never seen: look at every record, as before hints.
            record = next((r for r in objects.values() if (r.properties.get(prop) or "").lower() == wanted), None)
            if record is not None:
                hints[wanted] = record.id
            return record

    @staticmethod
    def _hints(objects: Mapping[str, Record], prop: str) -> dict[str, str]:
        hints: dict[str, str] = {}
        for r in objects.values():
            held = (r.properties.get(prop) or "").lower()
            if held:
                hints.setdefault(held, r.id)
        return hints

    def ordered(self, object_type: str) -> list[Record]:
        with self.lock:
            return sorted(self.objects[object_type].values(), key=lambda r: int(r.id))

    def page_from(self, object_type: str, first_id: int, limit: int) -> tuple[list[Record], str | None]:
        """Up to ``limit`` records in id order from ``first_id`` on, and the id the next page starts at."""
        with self.lock:
            ids = self._ordered_ids(object_type)
            start = bisect.bisect_left(ids, first_id)
            chosen = ids[start:start + limit + 1]
            records = self.objects[object_type]
            page = [records[str(i)] for i in chosen[:limit]]
            return page, (str(chosen[limit]) if len(chosen) > limit else None)

    def _ordered_ids(self, object_type: str) -> list[int]:
        # Cached until a record is created or removed (ids are never reused).
        key = (len(self.objects[object_type]), self._next_id)
        cached = self._id_order.get(object_type)
        if cached is None or cached[0] != key:
            cached = (key, sorted(int(i) for i in self.objects[object_type]))
            self._id_order[object_type] = cached
        return cached[1]

    def render(self, object_type: str, record: Record, wanted: Iterable[str] | None) -> dict[str, Any]:
        defs = self.properties[object_type]
        names = list(wanted) if wanted else list(DEFAULT_PROPERTIES[object_type])
        names += [n for n in ALWAYS_RETURNED[object_type] if n not in names]
        with self.lock:  # a concurrent write must not change the record mid-render
            # Unknown names are silently left out; known but blank ones come back as null.
            props = {n: (record.properties.get(n) or None) for n in names if n in defs}
            return {"id": record.id, "properties": props, "createdAt": iso(record.created_at),
                    "updatedAt": iso(record.updated_at), "archived": False}

    # ---- writing (API path: values already validated) ----

    def take_failure(self, record_id: str) -> str | None:
        """The injected failure message for this record, if one is armed."""
        with self.lock:
            armed = self._failures.get(record_id)
            if not armed:
                return None
            armed[1] -= 1
            if armed[1] <= 0:
                del self._failures[record_id]
            return armed[0]

    def apply(self, object_type: str, record: Record, values: dict[str, str]) -> None:
        """Write validated values. Every accepted write bumps the modification date, changed
        or not, as HubSpot does: a connector that rewrites unchanged values sees its own write
        come back as a change."""
        with self.changing(object_type, record.id):
            for name, value in values.items():
                if name == "lifecyclestage" and not _may_set_stage(record.properties.get(name), value):
                    continue  # HubSpot ignores a backwards move; clear it first
                if value == "":
                    record.properties.pop(name, None)
                else:
                    record.properties[name] = value
            self._touch(object_type, record)

    @contextmanager
    def changing(self, object_type: str, record_id: str) -> Iterator[None]:
        """Wrap every change to a record: search sees it only once the index catches up."""
        with self.lock:
            current = self.objects[object_type].get(record_id)
            self.index.before_change(object_type, record_id, current)
            before = dict(current.properties) if current is not None and self.webhooks else None
            try:
                yield
            finally:
                after = self.objects[object_type].get(record_id)
                self.index.after_change(object_type, record_id, after)
                self.order.moved(object_type, record_id, after)
                if self.webhooks is not None:
                    self.webhooks.changed(object_type, record_id, before, after and after.properties)

    def searchable(self, object_type: str) -> Iterable[Record]:
        """The records search evaluates against now (live ones, or the index's older copies)."""
        with self.lock:
            return list(self.index.view(object_type, self.objects[object_type]))

    def searched(self, object_type: str, page_ids: list[str]) -> None:
        """Run the hooks that act between two search pages (another integration writing)."""
        for hook in list(self.search_hooks):
            hook(object_type, page_ids)

    def _touch(self, object_type: str, record: Record) -> None:
        moment = max(self.clock.now(), record.updated_at + timedelta(milliseconds=1))
        record.updated_at = moment
        record.properties[MODIFIED[object_type]] = iso(moment)
        if object_type == "contacts":
            record.properties["hs_lastmodifieddate"] = iso(moment)

    def create(self, object_type: str, values: dict[str, str]) -> Record:
        with self.lock:
            record_id = str(self._next_id)
            self._next_id += 1
            with self.changing(object_type, record_id):
                return self._put(object_type, record_id, values, self.clock.now())

    def subscribe_webhooks(self, target_url: str, client_secret: str, **settings: Any) -> Any:
        """An app's webhook subscriptions on this portal (hubspot_webhooks); replaces any before."""
        self.unsubscribe_webhooks()
        self.webhooks = WebhookSubscriptions(target_url, client_secret, portal_id=PORTAL_ID, **settings)
        return self.webhooks

    def unsubscribe_webhooks(self) -> None:
        hooks, self.webhooks = self.webhooks, None
        if hooks is not None:
            hooks.stop()

    # ---- auth ----

    def auth_problem(self, header: str | None) -> tuple[str, str] | None:
        """None when the bearer token is valid, else (category, message) for the 401."""
        token = (header or "").removeprefix("Bearer ").strip()
        with self.lock:
            if token and secrets.compare_digest(token, self.token):
                return None
            if token in self._issued:
                if self.clock.now() < self._issued[token]:
                    return None
                return ("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 0 minute(s) ago.")
            if token in self._expired:
                return ("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 0 minute(s) ago.")
        return ("INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")

    # ---- admin: act as a marketer ----

    def add_contact(self, properties: dict[str, Any], *, company_id: str | None = None,
                    at: datetime | None = None) -> str:
        """Create a contact as a form or import would; returns its id."""
        clean, problems = schema.check_values(self.properties["contacts"], properties)
        if problems:
            raise ValueError(schema.invalid_message(problems))
        with self.lock:
            record = self.create("contacts", clean)
            if at is not None:
                with self.changing("contacts", record.id):
                    record.created_at = record.updated_at = at
                    record.properties["createdate"] = record.properties["lastmodifieddate"] = iso(at)
            if company_id:
                self.primary_company[record.id] = company_id
                record.properties["associatedcompanyid"] = company_id
            return record.id

    def bulk_add_contacts(self, count: int, *, domain: str = "bulk.example.com") -> list[str]:
        """Many plain contacts at once (for paging past the search window)."""
        with self.lock:
            return [self.create("contacts", {"email": f"bulk{n}@{domain}", "firstname": "Bulk",
                                             "lastname": str(n)}).id for n in range(count)]

    def update_contact(self, contact_id: str, properties: dict[str, Any]) -> None:
        clean, problems = schema.check_values(self.properties["contacts"], properties)
        if problems:
            raise ValueError(schema.invalid_message(problems))
        record = self._contact_record(contact_id)
        self.apply("contacts", record, clean)

    def put_raw(self, contact_id: str, properties: dict[str, str]) -> None:
        """Store values exactly as given, skipping the API's validation: old imports and other
        integrations leave values behind that today's API would refuse (text in a number
        property, control characters, megabytes of text). A connector must survive reading them."""
        record = self._contact_record(contact_id)
        with self.changing("contacts", record.id):
            record.properties.update({k: str(v) for k, v in properties.items()})
            self._touch("contacts", record)

    def add_page_view(self, contact_id: str, url: str, title: str = "", *, at: datetime | None = None) -> str:
        if url.startswith("/"):
            url = VENDOR_SITE + url
        event_id = self._add_event(contact_id, "e_visited_page", {"hs_url": url, "hs_title": title}, at)
        record = self._contact_record(contact_id)
        views = int(record.properties.get("hs_analytics_num_page_views") or 0) + 1
        self._analytics(record, {"hs_analytics_num_page_views": str(views),
                                 "hs_analytics_last_timestamp": _iso(at or self.clock.now())})
        return event_id

    def add_form_submission(self, contact_id: str, form_id: str, *, contact_me: bool = False,
                            at: datetime | None = None) -> str:
        """A form fill: the event, plus the property changes a real form makes."""
        title, page = FORMS.get(form_id, (form_id, "/"))
        form_id = FORM_GUIDS.get(form_id, form_id)      # a seed form by its slug, or any GUID
        event_id = self._add_event(contact_id, "e_submitted_form", {
            "hs_form_id": form_id, "hs_form_title": title, "hs_url": VENDOR_SITE + page, "hs_title": title}, at)
        record = self._contact_record(contact_id)
        changes = {"wants_sales_contact": "true"} if contact_me else {}
        if record.properties.get("lifecyclestage") in (None, "subscriber"):
            changes["lifecyclestage"] = "lead"
        with acting_as("FORM", f"form:{form_id}"):
            self.apply("contacts", record, changes)
        return event_id

    def add_demo_request(self, contact_id: str, *, contact_me: bool = True, at: datetime | None = None) -> str:
        return self.add_form_submission(contact_id, "demo-request", contact_me=contact_me, at=at)

    def add_webinar_attended(self, contact_id: str, webinar: str, *, at: datetime | None = None) -> str:
        return self._add_event(contact_id, "pe_webinar_attended", {"webinar_name": webinar}, at)

    def add_meeting_booked(self, contact_id: str, *, at: datetime | None = None) -> str:
        return self._add_event(contact_id, "e_booked_meeting", {"hs_meeting_title": "Intro call"}, at)

    def add_email_event(self, contact_id: str, kind: str, *, campaign_id: int = 310001,
                        at: datetime | None = None, **extra: Any) -> str:
        record = self._contact_record(contact_id)
        recipient = record.properties["email"]
        event = EmailEventRecord(secrets.token_hex(16), kind, recipient, at or self.clock.now(), campaign_id, extra)
        with self.lock:
            self.email_events.append(event)
        self._analytics(record, _email_property_changes(record, kind, event.created, extra))
        return event.id

    def _analytics(self, record: Record, changes: dict[str, str]) -> None:
        """HubSpot's own tools update these properties; like any update, they move lastmodifieddate."""
        if changes:
            self.apply("contacts", record, changes)

    def add_email_open(self, contact_id: str, **kw: Any) -> str:
        return self.add_email_event(contact_id, "OPEN", **kw)

    def add_email_click(self, contact_id: str, url: str, **kw: Any) -> str:
        return self.add_email_event(contact_id, "CLICK", url=url, **kw)

    def add_unsubscribe(self, contact_id: str, **kw: Any) -> str:
        return self.add_email_event(contact_id, "STATUSCHANGE", portalSubscriptionStatus="UNSUBSCRIBED",
                                    source="SOURCE_RECIPIENT", **kw)

    def _add_event(self, contact_id: str, event_type: str, props: dict[str, str], at: datetime | None) -> str:
        self._contact_record(contact_id)
        event = Event(secrets.token_hex(16), event_type, contact_id, at or self.clock.now(), props)
        with self.lock:
            self.events.append(event)
            self.events_version += 1
        return event.id

    def _contact_record(self, contact_id: str) -> Record:
        record = self.resolve("contacts", contact_id)
        if record is None:
            raise KeyError(f"no contact {contact_id}")
        return record

    # ---- admin: inspect ----

    def contact(self, contact_id: str) -> dict[str, str] | None:
        record = self.resolve("contacts", contact_id)
        with self.lock:
            return None if record is None else {"id": record.id, **record.properties}

    def contacts(self) -> list[dict[str, str]]:
        with self.lock:
            return [{"id": r.id, **r.properties} for r in self.ordered("contacts")]

    def by_email(self, email: str) -> dict[str, str] | None:
        record = self.find_by("contacts", "email", email)
        return None if record is None else self.contact(record.id)

    def company(self, company_id: str) -> dict[str, str] | None:
        record = self.resolve("companies", company_id)
        with self.lock:
            return None if record is None else {"id": record.id, **record.properties}

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"portalId": PORTAL_ID, "contacts": len(self.objects["contacts"]),
                    "companies": len(self.objects["companies"]), "events": len(self.events),
                    "emailEvents": len(self.email_events), "merged": len(self.merged_into),
                    "dailyRemaining": self.limits.remaining_daily(), "ratePer10s": self.limits.per_10s,
                    "customProperties": sorted(n for n, p in self.properties["contacts"].items()
                                               if not p.hubspot_defined)}

    # ---- admin: make things happen to the data ----

    def hard_delete(self, contact_id: str) -> None:
        """GDPR-delete: the contact and its activities vanish; its id answers 404."""
        with self.changing("contacts", contact_id):
            record = self.objects["contacts"].pop(contact_id, None)
            if record is None:
                raise KeyError(f"no contact {contact_id}")
            self.primary_company.pop(contact_id, None)
            email = record.properties.get("email")
            self.events = [e for e in self.events if e.object_id != contact_id]
            self.events_version += 1
            self.email_events = [e for e in self.email_events if e.recipient != email]

    def merge(self, primary_id: str, secondary_id: str) -> None:
        """Merge two contacts as HubSpot does: the primary survives, blank fields filled from
        the secondary, activities move over, and the secondary id answers as the primary."""
        with self.changing("contacts", primary_id), self.changing("contacts", secondary_id):
            primary = self.objects["contacts"][primary_id]
            secondary = self.objects["contacts"].pop(secondary_id)
            for name, value in secondary.properties.items():
                if name not in schema.READ_ONLY and not primary.properties.get(name):
                    primary.properties[name] = value
            # The survivor lists every id merged into it, including those merged into the loser.
            merged = [m for record in (primary, secondary)
                      for m in (record.properties.get("hs_merged_object_ids") or "").split(";") if m]
            primary.properties["hs_merged_object_ids"] = ";".join(merged + [secondary_id])
            self.events_version += 1
            for event in self.events:
                if event.object_id == secondary_id:
                    event.object_id = primary_id
            self.merged_into[secondary_id] = primary_id
            for old, new in list(self.merged_into.items()):
                if new == secondary_id:
                    self.merged_into[old] = primary_id
            company = self.primary_company.pop(secondary_id, None)
            if company and primary_id not in self.primary_company:   # the survivor takes its company
                self.primary_company[primary_id] = company
                primary.properties["associatedcompanyid"] = company
            self._touch("contacts", primary)

    def archive(self, contact_id: str) -> None:
        """Archive (soft-delete) a contact as the UI or ``DELETE`` does: GET answers 404, batch
        read lists it under errors, search drops it once the index catches up."""
        with self.changing("contacts", contact_id):
            record = self.objects["contacts"].pop(contact_id, None)
            if record is None:
                raise KeyError(f"no contact {contact_id}")
            self.archived["contacts"][contact_id] = record
            self.primary_company.pop(contact_id, None)

    def fail_record(self, contact_id: str, message: str, times: int = 1) -> None:
        """The next ``times`` batch writes to this contact fail on their own (207)."""
        with self.lock:
            self._failures[contact_id] = [message, times]

    def refresh_oauth(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST /oauth/v1/token, grant_type=refresh_token: (status, body) as HubSpot answers."""
        app = self.oauth_app
        with self.lock:
            if form.get("grant_type") != "refresh_token":
                return 400, {"status": "BAD_GRANT_TYPE", "message": "grant_type must be refresh_token here"}
            if form.get("client_id") != app["client_id"]:
                return 400, {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"}
            if form.get("client_secret") != app["client_secret"]:
                return 400, {"status": "BAD_CLIENT_SECRET", "message": "missing or invalid client secret"}
            if form.get("refresh_token") != app["refresh_token"]:
                return 400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"}
            access = "oauth-" + secrets.token_hex(24)
            self._issued[access] = self.clock.now() + self.oauth_lifetime
            if self.rotate_refresh_tokens:
                app["refresh_token"] = "na1-" + secrets.token_hex(16)
            return 200, {"token_type": "bearer", "access_token": access, "refresh_token": app["refresh_token"],
                         "expires_in": int(self.oauth_lifetime.total_seconds())}

    def expire_oauth_tokens(self) -> None:
        """Every issued OAuth access token has run out (calls answer 401 EXPIRED_AUTHENTICATION)."""
        with self.lock:
            self._issued = {token: self.clock.now() for token in self._issued}

    def expire_token(self) -> str:
        """Rotate the access token: calls with the old one get 401 until clients use the new."""
        with self.lock:
            self._expired.add(self.token)
            self.token = _new_token()
            return self.token

    def set_daily_remaining(self, remaining: int) -> None:
        self.limits.set_daily_remaining(remaining)

    def set_rate_per_10s(self, limit: int) -> None:
        self.limits.set_per_10s(limit)


def _snapshot(record: Record) -> Record:
    return Record(record.id, dict(record.properties), record.created_at, record.updated_at)


def _may_set_stage(current: str | None, wanted: str) -> bool:
    if not current or wanted == "":
        return True
    return STAGE_ORDER.get(wanted, 0) >= STAGE_ORDER.get(current, 0)


def uuid_hex() -> str:
    return str(uuid.uuid4())


def _new_token() -> str:
    return "pat-na1-" + secrets.token_hex(16)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _email_property_changes(record: Record, kind: str, when: datetime, extra: dict[str, Any]) -> dict[str, str]:
    props = record.properties
    if kind == "OPEN":
        return {"hs_email_open": str(int(props.get("hs_email_open") or 0) + 1), "hs_email_last_open_date": _iso(when)}
    if kind == "CLICK":
        return {"hs_email_click": str(int(props.get("hs_email_click") or 0) + 1), "hs_email_last_click_date": _iso(when)}
    if kind == "STATUSCHANGE" and extra.get("portalSubscriptionStatus") == "UNSUBSCRIBED":
        return {"hs_email_optout": "true"}
    return {}
