"""Fault injection and the call log, shared by both emulators.

Tests need to ask two things of a sandbox: "what did the connector call?" (to prove it skips
unchanged writes, respects budgets, pages correctly) and "what if the API misbehaves?" (a 500
on the third page, a dropped connection, a slow answer). Both hook into any Flask app through
:func:`install`, so each emulator stays about its vendor's behaviour only.

Admin routes (``/__admin__/...``) are the test harness talking, so they are never recorded
nor faulted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Literal

import flask

ADMIN_PREFIX = "/__admin__"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
READ_ONLY_FLAG = "leadsync.sandbox.read_only"  # request.environ key an emulator may set
RESET_STATUS = 0  # what the call log records when the client never got a full response

FaultKind = Literal["status", "reset", "delay"]


@dataclass(frozen=True, slots=True)
class Call:
    system: str
    method: str
    path: str
    status: int
    write: bool
    at: datetime
    route: str = ""     # the route that answered, e.g. "POST /crm/v3/objects/contacts/search"


class CallLog:
    """Every API call the emulators answered, in order. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def record(self, system: str, method: str, path: str, status: int, write: bool, route: str = "") -> None:
        call = Call(system, method.upper(), path, status, write, datetime.now(timezone.utc), route)
        with self._lock:
            self._calls.append(call)

    def calls(self, system: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if system is None or c.system == system]

    def count(self, system: str | None = None, *, writes: bool | None = None) -> int:
        return sum(1 for c in self.calls(system) if writes is None or c.write == writes)

    def mark(self) -> int:
        """A bookmark: pass it to :meth:`since` to get the calls made after this point."""
        with self._lock:
            return len(self._calls)

    def since(self, mark: int, system: str | None = None) -> list[Call]:
        with self._lock:
            later = self._calls[mark:]
        return [c for c in later if system is None or c.system == system]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


@dataclass(frozen=True)
class FaultRule:
    """Misbehave on matching calls.

    ``path`` is a regex searched in the request path (no query string). ``after`` lets that
    many matching calls through first (fail the 3rd page: ``after=2``); then the fault fires
    ``times`` times (``times <= 0``: on every matching call from then on).

    - ``status``: answer ``status`` with ``headers`` and ``body`` (dict/list → JSON; None →
      the emulator's own error body for that status).
    - ``reset``: start a response, then drop the connection before the declared body arrives;
      clients see a protocol/connection error, not an HTTP status.
    - ``delay``: wait ``delay`` seconds, then answer normally (for client timeouts).
    """

    system: str
    path: str = ".*"
    method: str | None = None
    kind: FaultKind = "status"
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str | dict | list | None = None
    times: int = 1
    delay: float = 0.0
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("status", "reset", "delay"):
            raise ValueError(f"unknown fault kind {self.kind!r}: use status, reset or delay")
        re.compile(self.path)  # fail at add() time, not on the first request

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaultRule":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule keys: {', '.join(sorted(unknown))}")
        return cls(**data)

    def matches(self, system: str, method: str, path: str) -> bool:
        return (
            self.system == system
            and (self.method is None or self.method.upper() == method.upper())
            and re.search(self.path, path) is not None
        )


@dataclass
class _Armed:
    rule: FaultRule
    seen: int = 0   # matching calls so far
    fired: int = 0  # faults delivered so far

    @property
    def spent(self) -> bool:
        return self.rule.times > 0 and self.fired >= self.rule.times


class Faults:
    """The active fault rules. The first matching, unspent rule applies. Thread-safe.

    ``latency`` (seconds per system) delays every API call of that system before it is
    answered, as a network round trip and the vendor's own processing would: a benchmark
    against loopback otherwise measures a client that never waits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self.latency: dict[str, float] = {}

    def set_latency(self, system: str, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be 0 or more seconds, got {seconds}")
        self.latency[system] = float(seconds)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._armed.append(_Armed(rule))
        return rule

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [a.rule for a in self._armed if not a.spent]

    def take(self, system: str, method: str, path: str) -> FaultRule | None:
        """The fault to apply to this call, if any; counts the call against every matching rule."""
        with self._lock:
            chosen: FaultRule | None = None
            for armed in self._armed:
                if armed.spent or not armed.rule.matches(system, method, path):
                    continue
                armed.seen += 1
                if chosen is None and armed.seen > armed.rule.after:
                    armed.fired += 1
                    chosen = armed.rule
            self._armed = [a for a in self._armed if not a.spent]
            return chosen


def install(
    app: flask.Flask,
    system: str,
    faults: Faults,
    calls: CallLog,
    *,
    read_only_endpoints: Iterable[str] = (),
    error_body: Callable[[int], Any] | None = None,
) -> None:
    """Hook fault injection and call recording into ``app``.

    A POST that only reads (searches, batch reads, queries) is not a write: list those view
    endpoint names in ``read_only_endpoints`` or set ``request.environ[READ_ONLY_FLAG] = True``
    in the view. ``error_body(status)`` builds the vendor's error body for a faulted status
    when the rule carries none.
    """
    read_only = frozenset(read_only_endpoints)

    @app.before_request
    def _apply_fault() -> flask.Response | None:
        if _is_admin():
            return None
        latency = faults.latency.get(system, 0.0)
        if latency > 0:
            time.sleep(latency)
        rule = faults.take(system, flask.request.method, flask.request.path)
        if rule is None:
            return None
        if rule.kind == "delay":
            time.sleep(rule.delay)
            return None
        drain_request_body()
        if rule.kind == "reset":
            return _truncated_response()
        return _status_response(rule, error_body)

    @app.after_request
    def _record_call(response: flask.Response) -> flask.Response:
        if not _is_admin():
            status = RESET_STATUS if flask.g.get("sandbox_reset") else response.status_code
            calls.record(system, flask.request.method, flask.request.path, status,
                         _is_write(read_only), route_label())
        return response


# Path variables that name a kind of record, not one record: kept in a route's label so
# "contacts search" and "companies search" count apart; ids and values stay placeholders.
KIND_VARIABLES = frozenset({"kind", "from_kind", "to_kind", "name", "action", "module"})


def route_label() -> str:
    """``METHOD rule`` of the request's route, kinds filled in: ``GET /crm/v3/objects/contacts/<record_id>``."""
    request = flask.request
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    args = request.view_args or {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(args[name]) if name in KIND_VARIABLES and name in args else f"<{name}>"
    label = f"{request.method} {re.sub(r'<(?:[^:<>]+:)?([^<>]+)>', fill, rule)}"
    # One route can serve several feeds: a SOQL query by the object it reads, events by type.
    soql = re.search(r"\bfrom\s+(\w+)", request.args.get("q", ""), re.IGNORECASE)
    if soql:
        label += f" FROM {soql.group(1)}"
    if request.args.get("eventType"):
        label += f"?eventType={request.args['eventType']}"
    return label


def drain_request_body() -> None:
    """Read an unread request body before answering early, so a kept-alive connection is
    ready for the client's next request (and a closed one never waits on unread input)."""
    flask.request.get_data(cache=False)


def _is_admin() -> bool:
    return flask.request.path.startswith(ADMIN_PREFIX)


def _is_write(read_only: frozenset[str]) -> bool:
    request = flask.request
    if request.method not in WRITE_METHODS:
        return False
    return not (request.environ.get(READ_ONLY_FLAG) or request.endpoint in read_only)


def _status_response(rule: FaultRule, error_body: Callable[[int], Any] | None) -> flask.Response:
    body = rule.body
    if body is None and error_body is not None:
        body = error_body(rule.status)
    if isinstance(body, (dict, list)):
        response = flask.Response(json.dumps(body), rule.status, mimetype="application/json")
    else:
        response = flask.Response(body or "", rule.status, mimetype="text/plain")
    for name, value in rule.headers.items():
        response.headers[name] = str(value)
    return response


def _truncated_response() -> flask.Response:
    # The connection is closed after this response, so declaring a longer body than we send
    # makes the client hit EOF mid-body: urllib3 raises ProtocolError (IncompleteRead),
    # requests raises ChunkedEncodingError/ConnectionError.
    flask.g.sandbox_reset = True
    partial = b'{"results": ['
    response = flask.Response(partial, 200, mimetype="application/json")
    response.headers["Content-Length"] = str(len(partial) + 4096)
    response.headers["Connection"] = "close"
    return response


def add_admin_routes(app: flask.Flask, system: str, faults: Faults, calls: CallLog) -> None:
    """``/__admin__/calls`` (GET: this system's calls) and ``/__admin__/faults`` (GET list,
    POST a FaultRule as JSON, DELETE clears) for people and subprocess tests."""

    @app.get(f"{ADMIN_PREFIX}/calls", endpoint="admin_calls")
    def _admin_calls() -> flask.Response:
        only = flask.request.args.get("system")
        since = int(flask.request.args.get("since") or 0)
        listed = [
            {**asdict(c), "at": c.at.isoformat()}
            for c in calls.since(since, only)
        ]
        return flask.jsonify({"system": system, "count": len(listed), "calls": listed})

    @app.get(f"{ADMIN_PREFIX}/calls/summary", endpoint="admin_calls_summary")
    def _admin_calls_summary() -> flask.Response:
        """Counts by system and route since ``?since=`` (a mark), and the mark to pass next
        time: a benchmark reads tens of thousands of calls without shipping each one."""
        since = int(flask.request.args.get("since") or 0)
        mark = calls.mark()
        return flask.jsonify({"mark": mark, **summarize(calls.since(since)[:mark - since])})

    @app.post(f"{ADMIN_PREFIX}/latency", endpoint="admin_latency")
    def _admin_latency() -> tuple[flask.Response, int] | flask.Response:
        data = flask.request.get_json(silent=True) or {}
        try:
            faults.set_latency(str(data.get("system") or system), float(data.get("seconds", 0)))
        except (TypeError, ValueError) as exc:
            return flask.jsonify({"error": str(exc)}), 400
        return flask.jsonify({"latency": faults.latency})

    @app.route(f"{ADMIN_PREFIX}/faults", methods=["GET", "POST", "DELETE"], endpoint="admin_faults")
    def _admin_faults() -> tuple[flask.Response, int] | flask.Response:
        if flask.request.method == "DELETE":
            faults.clear()
            return flask.jsonify({"cleared": True})
        if flask.request.method == "POST":
            data = flask.request.get_json(silent=True)
            if not isinstance(data, dict):
                return flask.jsonify({"error": "POST a JSON object describing a FaultRule"}), 400
            try:
                rule = FaultRule.from_dict({"system": system, **data})
            except (TypeError, ValueError, re.error) as exc:
                return flask.jsonify({"error": str(exc)}), 400
            faults.add(rule)
            return flask.jsonify(asdict(rule)), 201
        return flask.jsonify({"faults": [asdict(r) for r in faults.rules()]})


def summarize(calls: Iterable[Call]) -> dict[str, Any]:
    """``{"calls": n, "systems": {system: {"calls", "writes", "statuses", "routes": {route: n},
    "refused": {"<status> <route>": n}}}}``: which calls an error answered, by route (which of
    HubSpot's limits a 429 was, say: the search route's is the per-second one)."""
    systems: dict[str, dict[str, Any]] = {}
    total = 0
    for call in calls:
        total += 1
        entry = systems.setdefault(call.system, {"calls": 0, "writes": 0, "statuses": {}, "routes": {},
                                                 "refused": {}})
        entry["calls"] += 1
        entry["writes"] += int(call.write)
        status = str(call.status)
        entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
        route = call.route or f"{call.method} {call.path}"
        entry["routes"][route] = entry["routes"].get(route, 0) + 1
        if call.status >= 400:
            key = f"{status} {route}"
            entry["refused"][key] = entry["refused"].get(key, 0) + 1
    return {"calls": total, "systems": systems}
