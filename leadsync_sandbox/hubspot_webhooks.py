"""The portal's webhook subscriptions: signed deliveries to an app's target URL, as HubSpot sends.

What HubSpot documents, and this emulates:
- one target URL per app; ``contact.creation`` for every new contact and ``contact.propertyChange``
  for each subscribed property whose value changes (creations with values set count as
  changes too); never for ``hs_lastmodifieddate`` (HubSpot refuses that subscription);
- a POST whose body is a JSON array of up to 100 events (eventId, subscriptionId, portalId, appId,
  occurredAt, subscriptionType, attemptNumber, objectId, changeSource, sourceId, and for a
  property change propertyName / propertyValue), sent from a background thread, so the write
  that caused it never waits;
- signed per attempt: ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(app client secret,
  "POST" + target URL + body + timestamp)), ``X-HubSpot-Request-Timestamp`` in epoch ms, the
  older headers beside it; the URL as signed has ``%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C
  %3B`` decoded;
- retried when the connection fails, the answer takes more than 5 s, or is any 4xx/5xx: up to 10
  retries (HubSpot spreads them over 24 hours; here ``retry_delays`` say when), attemptNumber
  counting up, eventId unchanged;
- writes made through the API (an app such as leadsync) are delivered too, as changeSource
  "INTEGRATION" with the app's id as sourceId: HubSpot documents no exception for the
  subscribing app's own writes, so a receiver must not loop on them. Marketer edits through the
  admin methods are "CRM_UI", form fills "FORM".

Wire it up with ``HubSpotState.subscribe_webhooks(...)``; ``deliveries`` records every attempt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import heapq
import itertools
import json
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import requests

MAX_BATCH = 100
TIMEOUT_SECONDS = 5.0
RETRIES = 10
UNSUBSCRIBABLE = frozenset({"hs_lastmodifieddate", "lastmodifieddate", "num_unique_conversion_events"})
_SIGNED_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
                  "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
_ENCODED = re.compile("|".join(_SIGNED_DECODE), re.IGNORECASE)

# Who is changing the portal on this thread: the HTTP layer marks API requests as an app's.
_ACTOR = threading.local()


@contextmanager
def acting_as(source: str, source_id: str | None = None) -> Iterator[None]:
    previous = getattr(_ACTOR, "who", None)
    _ACTOR.who = (source, source_id)
    try:
        yield
    finally:
        _ACTOR.who = previous


def set_actor(source: str | None, source_id: str | None = None) -> None:
    _ACTOR.who = (source, source_id) if source else None


def current_actor() -> tuple[str, str | None]:
    return getattr(_ACTOR, "who", None) or ("CRM_UI", "userId:9120001")


def sign_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    signed = _ENCODED.sub(lambda m: _SIGNED_DECODE[m.group(0).upper()], url)
    source = method.encode() + signed.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    """One attempt: what was sent and how the target answered (status 0: no answer)."""
    attempt: int
    events: list[dict[str, Any]]
    status: int
    sent_at: float


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    events: list[dict[str, Any]] = field(compare=False)
    attempt: int = field(compare=False, default=0)


class WebhookSubscriptions:
    def __init__(self, target_url: str, client_secret: str, *, properties: Iterable[str] = (),
                 creation: bool = True, app_id: int = 3_141_592, portal_id: int = 0,
                 batch_seconds: float = 0.05, delay_seconds: float = 0.0,
                 retry_delays: Iterable[float] = (1, 2, 4, 8, 16, 30, 60, 120, 300, 600),
                 verify: Any = True) -> None:
        wanted = set(properties)
        refused = wanted & UNSUBSCRIBABLE
        if refused:
            raise ValueError(f"HubSpot does not offer property change subscriptions for {', '.join(sorted(refused))}")
        self.target_url, self._secret = target_url, client_secret
        self.properties, self.creation = frozenset(wanted), creation
        self.app_id, self.portal_id = app_id, portal_id
        self.batch_seconds, self.delay_seconds = batch_seconds, delay_seconds
        self.retry_delays = tuple(retry_delays)[:RETRIES]
        self.verify = verify
        self.subscription_ids = {"contact.creation": 1_000_001,
                                 **{p: 1_000_100 + n for n, p in enumerate(sorted(self.properties))}}
        self.deliveries: list[Delivery] = []
        self.held = False                  # True: events wait (the endpoint is "down" for them)
        self._events = itertools.count(5_000_000_001)
        self._seq = itertools.count()
        self._pending: list[_Pending] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._sending = 0
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="sandbox-hubspot-webhooks", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"WebhookSubscriptions(target_url={self.target_url!r}, properties={sorted(self.properties)})"

    # -- what the portal tells it --------------------------------------------------------------

    def changed(self, object_type: str, record_id: str, before: dict[str, str] | None,
                after: dict[str, str] | None) -> None:
        """Called by the portal (under its lock) after each change to a record."""
        if object_type != "contacts" or after is None:
            return
        source, source_id = current_actor()
        if source == "INTEGRATION":
            source_id = source_id or str(self.app_id)
        moment = int(time.time() * 1000)
        events = []
        if before is None and self.creation:
            events.append(self._event("contact.creation", record_id, moment, source, source_id, changeFlag="NEW"))
        for name in sorted(self.properties):
            old, new = (before or {}).get(name), after.get(name)
            if old != new and not (old in (None, "") and new in (None, "")):
                events.append(self._event("contact.propertyChange", record_id, moment, source, source_id,
                                          propertyName=name, propertyValue=new or "", subscription=name))
        if events:
            self._queue(events, time.monotonic() + self.delay_seconds + self.batch_seconds)

    def _event(self, kind: str, record_id: str, moment: int, source: str, source_id: str | None, *,
               subscription: str | None = None, **extra: Any) -> dict[str, Any]:
        event = {"eventId": next(self._events), "subscriptionId": self.subscription_ids[subscription or kind],
                 "portalId": self.portal_id, "appId": self.app_id, "occurredAt": moment,
                 "subscriptionType": kind, "attemptNumber": 0, "objectId": int(record_id),
                 "changeSource": source, **extra}
        if source_id:
            event["sourceId"] = source_id
        return event

    def _queue(self, events: list[dict[str, Any]], due: float, attempt: int = 0) -> None:
        with self._cond:
            heapq.heappush(self._pending, _Pending(due, next(self._seq), events, attempt))
            self._cond.notify_all()

    # -- delivering --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (self.held or not self._pending
                                              or self._pending[0].due > time.monotonic()):
                    wait = None if (self.held or not self._pending) else self._pending[0].due - time.monotonic()
                    self._cond.wait(0.5 if wait is None else max(0.0, min(wait, 0.5)))
                if self._stopping:
                    return
                batch = self._take_batch()
                self._sending += 1
            self._deliver(batch)

    def _take_batch(self) -> _Pending:
        """The first due item; first attempts due by now travel together, up to 100 events."""
        head = heapq.heappop(self._pending)
        if head.attempt:
            return head
        now = time.monotonic()
        while self._pending and self._pending[0].attempt == 0 and self._pending[0].due <= now \
                and len(head.events) + len(self._pending[0].events) <= MAX_BATCH:
            head.events += heapq.heappop(self._pending).events
        while len(head.events) > MAX_BATCH:   # one change can name many properties
            rest = head.events[MAX_BATCH:]
            del head.events[MAX_BATCH:]
            heapq.heappush(self._pending, _Pending(now, next(self._seq), rest, 0))
        return head

    def _deliver(self, item: _Pending) -> None:
        events = [{**e, "attemptNumber": item.attempt} for e in item.events]
        body = json.dumps(events, separators=(",", ":")).encode()
        stamp = str(int(time.time() * 1000))
        headers = {"Content-Type": "application/json",
                   "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon",
                   "X-HubSpot-Signature-v3": sign_v3(self._secret, "POST", self.target_url, body, stamp),
                   "X-HubSpot-Request-Timestamp": stamp,
                   "X-HubSpot-Signature-Version": "v1",
                   "X-HubSpot-Signature": hashlib.sha256(self._secret.encode() + body).hexdigest(),
                   "X-HubSpot-Timeout-Millis": str(int(TIMEOUT_SECONDS * 1000))}
        try:
            status = self._session.post(self.target_url, data=body, headers=headers, timeout=TIMEOUT_SECONDS,
                                        verify=self.verify, allow_redirects=False).status_code
        except requests.RequestException:
            status = 0
        with self._cond:
            self.deliveries.append(Delivery(item.attempt, events, status, time.time()))
            self._sending -= 1
            self._cond.notify_all()
        if not 200 <= status < 300 and item.attempt < len(self.retry_delays):
            self._queue(item.events, time.monotonic() + self.retry_delays[item.attempt], item.attempt + 1)

    # -- for tests and benchmarks --------------------------------------------------------------------

    def hold(self) -> None:
        with self._cond:
            self.held = True

    def release(self) -> None:
        with self._cond:
            self.held = False
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return sum(len(p.events) for p in self._pending)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing waits for a first delivery (retries may still be scheduled)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(p.attempt == 0 for p in self._pending) or self._sending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=TIMEOUT_SECONDS + 1)
        self._session.close()
