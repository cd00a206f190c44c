"""What to do about one failed API call: a pure function over one table.

``classify(system, status, headers, body, exc)`` answers with a ``Verdict``: the action the
transport takes, a short kind for logs and counters, a user-facing message and, for waits the
server asked for, how long. No I/O happens here; the retry loop in ``policy.py`` acts on it.

Rules are data (``RULES``, first match wins) so adding a vendor quirk is one row.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Mapping

import requests
import urllib3

RETRY = "retry"
REAUTH = "reauth"
RATE_LIMITED = "rate_limited"
QUOTA_EXHAUSTED = "quota_exhausted"
SKIP_RECORD = "skip_record"
FATAL_CONFIG = "fatal_config"
FATAL = "fatal"
ACTIONS = (RETRY, REAUTH, RATE_LIMITED, QUOTA_EXHAUSTED, SKIP_RECORD, FATAL_CONFIG, FATAL)

SYSTEM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "sugarcrm": "SugarCRM"}


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    kind: str
    message: str                       # for the operator: what happened, in the domain's words
    retry_after: float | None = None   # seconds the server asked us to wait
    detail: str = ""                   # for `leadsync logs --detail`: status, codes, body excerpt
    code: str = ""                     # the vendor's own error code, when there is one


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table. Empty/None criteria match anything."""

    action: str
    kind: str
    message: str
    system: str = "*"
    statuses: tuple[int, ...] | range | None = None
    codes: frozenset[str] = frozenset()    # any of these vendor error codes in the body
    text: str = ""                         # substring of the body (case-insensitive)
    single_record: bool | None = None      # only for calls about exactly one record


def _codes(*names: str) -> frozenset[str]:
    return frozenset(names)


CLIENT_ERRORS = range(400, 500)
SERVER_ERRORS = range(500, 600)

RULES: tuple[Rule, ...] = (
    # Salesforce reports both its daily allocation and its concurrent long-request cap as
    # REQUEST_LIMIT_EXCEEDED; only the concurrency one clears by itself within seconds.
    Rule(RETRY, "concurrency_limit", "{name} is busy with long-running requests",
         "salesforce", (403, 500), _codes("REQUEST_LIMIT_EXCEEDED"), text="concurrent"),
    Rule(QUOTA_EXHAUSTED, "daily_quota", "{name}'s daily API allocation is used up",
         "salesforce", (403, 500), _codes("REQUEST_LIMIT_EXCEEDED")),
    Rule(QUOTA_EXHAUSTED, "daily_quota", "{name}'s daily API limit is used up",
         "hubspot", (429,), _codes("DAILY")),
    Rule(RATE_LIMITED, "rate_limit", "{name} asked leadsync to slow down", statuses=(429,)),
    # Sugar: an access token past its hour (or ended by another sign-in on the same platform)
    # is 401 invalid_grant on a data call; the token endpoint's own refusals are 400/401 too
    # and end up as a configuration error, since nothing is left to re-authenticate with.
    Rule(REAUTH, "session_expired", "the {name} session expired", "sugarcrm", (401,),
         _codes("invalid_grant", "need_login")),
    Rule(FATAL_CONFIG, "api_version", "{name} does not serve the configured api_version", "sugarcrm", (301,),
         _codes("incorrect_version")),
    Rule(FATAL_CONFIG, "platform_not_registered",
         "{name} refused leadsync's platform: register it in Admin > Configure API Platforms", "sugarcrm", (422,),
         text="configure api platforms"),
    # Another save won the race (edit_conflict): the same full-value write succeeds on a retry.
    Rule(RETRY, "edit_conflict", "{name} reported an edit conflict", "sugarcrm", (409,), _codes("edit_conflict")),
    # A conversion whose sub-create failed (424, Sugar's labels swapped in the body).
    Rule(SKIP_RECORD, "conversion_failed", "{name} could not convert this lead", "sugarcrm", (424,),
         single_record=True),
    # The OAuth token endpoint's answers (RFC 6749 §5.2): wrong secrets are not worth a retry.
    Rule(FATAL_CONFIG, "credentials_rejected", "{name} rejected leadsync's sign-in", statuses=(400, 401),
         codes=_codes("invalid_grant", "invalid_client", "invalid_client_id", "unauthorized_client",
                      "unsupported_grant_type", "invalid_request", "inactive_user", "inactive_org")),
    # HubSpot tells an expired OAuth token from one it does not know (the 401's category).
    Rule(REAUTH, "token_expired", "the {name} access token has expired", "hubspot", (401,),
         _codes("EXPIRED_AUTHENTICATION")),
    Rule(FATAL_CONFIG, "token_invalid", "{name} does not recognise the access token", "hubspot", (401,),
         _codes("INVALID_AUTHENTICATION")),
    # An expired SOAP session comes back as a 500 fault carrying the same code as REST's 401.
    Rule(REAUTH, "session_expired", "the {name} session expired",
         "salesforce", (401, 500), _codes("INVALID_SESSION_ID")),
    Rule(REAUTH, "unauthorized", "{name} did not accept leadsync's credentials", statuses=(401,)),
    Rule(FATAL_CONFIG, "missing_scope", "{name} refused access: the token lacks a required scope",
         "hubspot", (403,)),
    Rule(FATAL_CONFIG, "insufficient_access", "{name} refused access: the integration user lacks a permission",
         "salesforce", (403,)),
    # A field or object the mappings name is not there (deleted, renamed, hidden by field-level
    # security): every request would fail the same way, so it is the operator's to fix.
    Rule(FATAL_CONFIG, "schema_mismatch", "{name} has no field or object the mappings name", "salesforce", (400,),
         _codes("INVALID_FIELD", "INVALID_TYPE"), single_record=False),
    Rule(SKIP_RECORD, "bad_record", "{name} rejected this record", statuses=(400, 422), single_record=True),
    Rule(SKIP_RECORD, "not_found", "{name} no longer has this record", statuses=(404,), single_record=True),
    Rule(SKIP_RECORD, "conflict", "{name} reported a conflict on this record", statuses=(409,), single_record=True),
    # Never retried: the same request would fail the same way.
    Rule(FATAL, "bad_request", "{name} rejected a request leadsync built", statuses=CLIENT_ERRORS),
    Rule(RETRY, "server_error", "{name} had a server error", statuses=SERVER_ERRORS),
)

# Failures below HTTP (no status): checked in order, so TLS problems are caught before the
# connection errors they subclass.
TRANSPORT_RULES: tuple[tuple[tuple[type[BaseException], ...], Rule], ...] = (
    ((requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError),
     Rule(FATAL_CONFIG, "tls", "the {name} certificate could not be verified (see REQUESTS_CA_BUNDLE)")),
    # urllib3's NewConnectionError subclasses its connect-timeout error; a refusal is not a timeout.
    ((urllib3.exceptions.NewConnectionError, ConnectionRefusedError),
     Rule(RETRY, "connection", "the connection to {name} failed")),
    ((requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError),
     Rule(RETRY, "timeout", "{name} did not answer in time")),
    ((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
      urllib3.exceptions.ProtocolError, urllib3.exceptions.MaxRetryError, urllib3.exceptions.NewConnectionError,
      http.client.HTTPException, ConnectionError),
     Rule(RETRY, "connection", "the connection to {name} failed")),
)

UNEXPECTED = Rule(FATAL, "unexpected_status", "{name} answered with an unexpected status")


def classify(system: str, status: int | None, headers: Mapping[str, str] | None, body: Any,
             exc: BaseException | None, *, single_record: bool = False, now: float | None = None) -> Verdict:
    """Decide what to do about one failed call. ``now`` (epoch seconds) resolves HTTP-date waits."""
    headers = _lower(headers)
    text = body_text(body)
    codes = error_codes(body)
    rule = _transport_rule(exc) if status in (None, 0) else _status_rule(system, status, codes, text, single_record)
    name = SYSTEM_NAMES.get(system, system)
    message = rule.message.format(name=name)
    if rule.kind == "missing_scope" and (scopes := required_scopes(body)):
        message += f" ({', '.join(scopes)})"
    if status:
        message += f" (HTTP {status})"
    if rule.kind == "schema_mismatch" and (said := vendor_message(body)):
        message += f": {said}"
    code = sorted(codes)[0] if codes else ""
    detail = f"{name} HTTP {status} {','.join(sorted(codes))} {text[:500]}".strip() if status else repr(exc)
    wait = server_wait(system, headers, now) if rule.action in (RETRY, RATE_LIMITED) else None
    return Verdict(rule.action, rule.kind, message, wait, detail, code)


def _status_rule(system: str, status: int, codes: frozenset[str], text: str, single_record: bool) -> Rule:
    lowered = text.lower()
    for rule in RULES:
        if rule.system not in ("*", system):
            continue
        if rule.statuses is not None and status not in rule.statuses:
            continue
        if rule.codes and not rule.codes & codes:
            continue
        if rule.text and rule.text not in lowered:
            continue
        if rule.single_record is not None and rule.single_record != single_record:
            continue
        return rule
    return UNEXPECTED


def _transport_rule(exc: BaseException | None) -> Rule:
    cause = _root_cause(exc)
    for types, rule in TRANSPORT_RULES:
        if isinstance(exc, types) or isinstance(cause, types):
            return rule
    # hubspot-api-client turns urllib3's SSLError into ApiException(status=0, reason="SSLError…").
    if exc is not None and "SSLError" in str(getattr(exc, "reason", "")):
        return TRANSPORT_RULES[0][1]
    return TRANSPORT_RULES[-1][1] if exc is not None else UNEXPECTED


def _root_cause(exc: BaseException | None) -> BaseException | None:
    """urllib3 wraps the real failure in MaxRetryError.reason; requests wraps that again."""
    seen = 0
    while exc is not None and seen < 5:
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        if inner is None:
            return exc
        exc, seen = inner, seen + 1
    return exc


def server_wait(system: str, headers: Mapping[str, str], now: float | None) -> float | None:
    """Seconds the server asked for: Retry-After, else HubSpot's spent rolling interval."""
    after = parse_retry_after(headers.get("retry-after"), now)
    if after is not None:
        return after
    if system == "hubspot" and headers.get("x-hubspot-ratelimit-remaining", "").strip() == "0":
        interval = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
        if interval is not None:
            return interval / 1000.0
    return None


def parse_retry_after(value: str | None, now: float | None) -> float | None:
    """RFC 9110 Retry-After: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or now is None:
        return None
    return max(0.0, when.timestamp() - now)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    if isinstance(body, str):
        return body
    return json.dumps(body, default=str)


def vendor_message(body: Any) -> str:
    """The first ``message`` of a Salesforce error list, cut short (no record data in it)."""
    try:
        parsed = json.loads(body_text(body)) if isinstance(body, (str, bytes)) else body
    except ValueError:
        return ""
    first = parsed[0] if isinstance(parsed, list) and parsed else parsed
    text = first.get("message", "") if isinstance(first, dict) else ""
    return " ".join(str(text).split())[:200]


def required_scopes(body: Any) -> list[str]:
    """The scopes a HubSpot 403 MISSING_SCOPES names (``errors[].context.requiredGranularScopes``)."""
    try:
        parsed = json.loads(body_text(body)) if isinstance(body, (str, bytes)) else body
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    return [str(s) for e in parsed.get("errors") or [] if isinstance(e, dict)
            for s in (e.get("context") or {}).get("requiredGranularScopes") or []]


_CODE_KEYS = ("errorCode", "statusCode", "category", "policyName", "error")
_SOAP_FAULT = re.compile(r"<faultcode>(?:[\w.-]+:)?([A-Z_]+)</faultcode>")


def error_codes(body: Any) -> frozenset[str]:
    """Vendor error codes in a body: Salesforce errorCode lists, HubSpot category/policyName,
    OAuth ``error``, SOAP faultcode."""
    parsed = body
    if isinstance(body, (bytes, str)):
        text = body_text(body)
        try:
            parsed = json.loads(text)
        except ValueError:
            return frozenset(_SOAP_FAULT.findall(text))
    items = parsed if isinstance(parsed, list) else [parsed]
    return frozenset(str(item[key]) for item in items if isinstance(item, dict)
                     for key in _CODE_KEYS if item.get(key))


@dataclass(frozen=True, slots=True)
class HttpFacts:
    status: int | None
    headers: Mapping[str, str]
    body: Any


class HttpStatusError(Exception):
    """A non-2xx response from a raw requests call (simple-salesforce and the hubspot client
    raise their own); carries what ``classify`` needs."""

    def __init__(self, status: int, headers: Mapping[str, str], body: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = dict(headers)
        self.body = body


def http_facts(exc: BaseException) -> HttpFacts | None:
    """Status, headers and body of a failed call from any client, or None when the exception is
    not about HTTP at all (a bug: let it propagate)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and (hasattr(exc, "body") or hasattr(exc, "content")):
        # hubspot ApiException (any sub-package): status/headers/body;
        # simple-salesforce SalesforceError: status/content (no headers).
        body = exc.body if hasattr(exc, "body") else exc.content
        return HttpFacts(status, dict(getattr(exc, "headers", None) or {}), body)
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        return HttpFacts(response.status_code, dict(response.headers), response.text)
    if any(isinstance(exc, types) for types, _ in TRANSPORT_RULES):
        return HttpFacts(None, {}, None)
    return None
