"""The daemon's HubSpot webhook receiver (``[webhooks] port`` > 0): a small WSGI app.

POST ``[webhooks] path`` only. Each delivery is checked (connector.app.webhooks), its contact
ids queued for the daemon's webhook job, and answered at once: 204 when taken in, 401 when the
signature is missing, wrong or stale (nothing is queued), 400 for a signed body that is not a
webhook payload, 413 past the size a 100-event batch can reach. The work happens after the
answer, so HubSpot's five-second timeout is never at stake. Served by the standard library's
WSGI server, as /metrics is.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from connector.app import webhooks as W
from connector.app.serving import Served, serve_wsgi

log = logging.getLogger("leadsync.webhooks")

MAX_BODY = 1_000_000        # 100 events are a few tens of kB; anything far larger is not HubSpot


@dataclass
class Tally:
    """What the receiver has done since the daemon started (logged, and read by tests)."""
    accepted: int = 0
    refused: int = 0
    queued: int = 0


class Receiver:
    def __init__(self, secret: str, path: str, queue: W.ContactQueue, *, public_url: str = "",
                 own_properties: frozenset[str] = frozenset(), clock: Callable[[], int] = W.now_ms) -> None:
        self._secret = secret
        self.path, self.public_url, self.queue = path, public_url, queue
        self.own_properties, self.clock = own_properties, clock
        self.seen = W.Seen()
        self.tally = Tally()
        self._lock = threading.Lock()

    def __repr__(self) -> str:               # the secret never shows
        return f"Receiver(path={self.path!r}, public_url={self.public_url!r})"

    def uri(self, environ: dict[str, Any]) -> str:
        """The URL HubSpot called: the configured public URL, else this host and path."""
        base = self.public_url or f"http://{environ.get('HTTP_HOST') or environ.get('SERVER_NAME', '')}{self.path}"
        query = environ.get("QUERY_STRING") or ""
        return f"{base}?{query}" if query else base

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.path:
            return _answer(start_response, "404 Not Found", b"not found\n")
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", b"POST only\n", [("Allow", "POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _answer(start_response, "413 Content Too Large", b"body too large\n")
        body = environ["wsgi.input"].read(length) if length else b""
        why = W.refusal(self._secret, "POST", self.uri(environ), body,
                        environ.get("HTTP_X_HUBSPOT_SIGNATURE_V3"), environ.get("HTTP_X_HUBSPOT_REQUEST_TIMESTAMP"),
                        self.clock())
        if why is not None:
            with self._lock:
                self.tally.refused += 1
            log.warning("refused a webhook request from %s: %s", environ.get("REMOTE_ADDR", "?"), why,
                        extra={"webhook": "refused", "reason": why})
            return _answer(start_response, "401 Unauthorized", b"invalid signature\n")
        try:
            events = W.parse_events(body)
        except W.PayloadError as exc:
            log.warning("a signed webhook request held no webhook events: %s", exc)
            return _answer(start_response, "400 Bad Request", f"{exc}\n".encode())
        ids = W.contacts_to_sync(events, self.seen, self.own_properties)
        added = self.queue.add(ids)
        with self._lock:
            self.tally.accepted += 1
            self.tally.queued += added
        log.debug("webhook: %d event(s), %d contact(s) queued", len(events), added,
                  extra={"webhook": "accepted", "events": len(events), "queued": added})
        return _answer(start_response, "204 No Content", b"")


def _answer(start_response: Callable[..., Any], status: str, body: bytes,
            headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                             *(headers or [])])
    return [body]


def serve(receiver: Receiver, host: str, port: int) -> Served:
    return serve_wsgi(receiver, host, port, name="leadsync-webhooks", poll_interval=0.2)
