"""HubSpot webhook deliveries: the v3 signature, the events they carry, and the people to sync.

HubSpot POSTs a JSON array of up to 100 events to the app's one target URL, signed with
``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method + URI + body + timestamp)),
``X-HubSpot-Request-Timestamp`` in epoch milliseconds. A delivery older than five minutes is
refused (and one stamped more than five minutes ahead: HubSpot signs each attempt afresh, so
only a forgery or a broken clock carries one). The URI is the full URL HubSpot called, with the
twelve characters of ``DECODED`` percent-decoded and nothing else. HubSpot retries any delivery
that is not answered 2xx within five seconds (up to 10 times over 24 hours), may send an event
more than once and in any order: events are deduplicated on what identifies them, never on
``attemptNumber``.

Pure apart from the clock a caller passes in; the receiver (``webhooks_http``) and the daemon do
the I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000
MAX_EVENTS = 100                     # HubSpot sends at most this many events per request
CONTACT_TYPE_ID = "0-1"              # objectTypeId of contacts in the generic object.* events
# The characters HubSpot's v3 instructions say to decode in the request URI (and only these).
DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
           "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
_ENCODED = re.compile("|".join(DECODED), re.IGNORECASE)
CREATION = frozenset({"contact.creation"})
PROPERTY_CHANGE = frozenset({"contact.propertyChange"})
GENERIC_CREATION, GENERIC_PROPERTY_CHANGE = "object.creation", "object.propertyChange"
# changeSource of a write made through the API by an app (leadsync's own writes among them).
INTEGRATION_SOURCES = frozenset({"INTEGRATION", "API"})


class PayloadError(ValueError):
    """A signed body that is not a HubSpot webhook payload (answered 400)."""


# -- the signature --------------------------------------------------------------------------------

def signed_uri(uri: str) -> str:
    """The request URI as the v3 signature covers it."""
    return _ENCODED.sub(lambda m: DECODED[m.group(0).upper()], uri)


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def refusal(secret: str, method: str, uri: str, body: bytes, signature: str | None, timestamp: str | None,
            now_ms: int) -> str | None:
    """Why this request is not a genuine, fresh HubSpot delivery; None when it is."""
    if not signature:
        return f"no {SIGNATURE_HEADER} header"
    if not timestamp:
        return f"no {TIMESTAMP_HEADER} header"
    if not timestamp.isascii() or not timestamp.isdigit():
        return f"{TIMESTAMP_HEADER} is not a time in epoch milliseconds"
    age = now_ms - int(timestamp)
    if age > MAX_AGE_MS:
        return f"the request is {age // 1000} s old (more than {MAX_AGE_MS // 60000} minutes)"
    if -age > MAX_AGE_MS:
        return f"the request is stamped {-age // 1000} s ahead (more than {MAX_AGE_MS // 60000} minutes)"
    expected = signature_v3(secret, method, uri, body, timestamp).encode()
    try:
        given = signature.strip().encode("ascii")
    except UnicodeEncodeError:
        return "the signature does not match"
    if not hmac.compare_digest(expected, given):
        return "the signature does not match"
    return None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the events -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WebhookEvent:
    key: tuple[Any, ...]          # what identifies the event across retries (no attemptNumber)
    subscription: str
    contact_id: str
    property_name: str | None
    change_source: str | None


def parse_events(body: bytes) -> list[WebhookEvent]:
    """The contact events of a delivery; other object types and subscriptions are left out."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise PayloadError(f"expected a JSON array of events, got a {type(data).__name__}")
    if len(data) > MAX_EVENTS:
        raise PayloadError(f"{len(data)} events in one request; HubSpot sends at most {MAX_EVENTS}")
    events = []
    for n, item in enumerate(data):
        if not isinstance(item, dict):
            raise PayloadError(f"event {n} is not an object")
        kind = item.get("subscriptionType") or item.get("eventType")
        object_id = item.get("objectId")
        if not isinstance(kind, str) or isinstance(object_id, bool) or not isinstance(object_id, (int, str)) \
                or not str(object_id).isdigit():
            raise PayloadError(f"event {n} has no subscriptionType or no numeric objectId")
        if not _about_contacts(kind, item):
            continue
        prop = item.get("propertyName")
        events.append(WebhookEvent(
            key=(item.get("eventId"), kind, str(object_id), item.get("occurredAt"), prop),
            subscription=kind, contact_id=str(object_id),
            property_name=prop if isinstance(prop, str) else None,
            change_source=item.get("changeSource") if isinstance(item.get("changeSource"), str) else None))
    return events


def _about_contacts(kind: str, item: Mapping[str, Any]) -> bool:
    if kind in CREATION or kind in PROPERTY_CHANGE:
        return True
    return kind in (GENERIC_CREATION, GENERIC_PROPERTY_CHANGE) and str(item.get("objectTypeId")) == CONTACT_TYPE_ID


def worth_a_cycle(event: WebhookEvent, own_properties: frozenset[str]) -> bool:
    """A change an app made to a property leadsync itself writes is leadsync's own write coming
    back (or another integration's, which the polling loop still sees): no cycle for it."""
    if event.property_name is None:
        return True
    return not (event.property_name in own_properties and (event.change_source or "") in INTEGRATION_SOURCES)


class Seen:
    """The keys of the last ``size`` events taken in: a repeated delivery is not news."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: tuple[Any, ...]) -> bool:
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            if len(self._keys) > self.size:
                self._keys.popitem(last=False)
            return True


def contacts_to_sync(events: Iterable[WebhookEvent], seen: Seen, own_properties: frozenset[str]) -> list[str]:
    """The contact ids these events ask a cycle for, each once, events already seen left out."""
    ids = [e.contact_id for e in events if seen.first_time(e.key) and worth_a_cycle(e, own_properties)]
    return list(dict.fromkeys(ids))


# -- the queue between the receiver and the daemon's webhook job -------------------------------------

class ContactQueue:
    """Contact ids waiting for a cycle. ``take`` returns a burst together: it waits for the
    first id, then until none has come for ``quiet`` seconds or ``window`` seconds have passed."""

    def __init__(self, window: float = 1.0, quiet: float = 0.25, clock: Any = time.monotonic) -> None:
        self.window, self.quiet, self.clock = window, quiet, clock
        self._ids: dict[str, None] = {}
        self._last = 0.0
        self._cond = threading.Condition()

    def add(self, ids: Iterable[str]) -> int:
        with self._cond:
            before = len(self._ids)
            self._ids.update(dict.fromkeys(ids))
            added = len(self._ids) - before
            if added:
                self._last = self.clock()
                self._cond.notify_all()
            return added

    def __len__(self) -> int:
        with self._cond:
            return len(self._ids)

    def take(self, stopping: threading.Event, poll: float = 0.5) -> list[str]:
        """The next burst, or [] once ``stopping`` is set."""
        with self._cond:
            while not self._ids:
                if stopping.is_set():
                    return []
                self._cond.wait(poll)
            first = self.clock()
            while not stopping.is_set():
                now = self.clock()
                left = min(first + self.window - now, self._last + self.quiet - now)
                if left <= 0:
                    break
                self._cond.wait(left)
            ids, self._ids = list(self._ids), {}
            return ids
