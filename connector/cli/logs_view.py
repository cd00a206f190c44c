"""``leadsync logs``: sync runs, per-record changes and errors from the state store.

Query building is pure (``LogFilter`` → SQLAlchemy ``Select``) so it is tested on a real store
without the command line. Output: rich tables in a terminal, tab-separated lines when piped,
one JSON document with ``--json``, and with ``--follow`` new rows as they are committed (JSON
lines with ``--json``) until Ctrl-C. Errors show their user-facing message; the internal detail
only with ``--detail``. Everything printed passes through the redactor.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console
from rich.table import Table
from sqlalchemy import Select, and_, false, func, or_, select

from connector.state import schema as s
from connector.core.durations import parse_duration
from connector.core.errors import ConfigError, Problem
from connector.state.store import Store, json_safe, utc


@dataclass(frozen=True)
class LogFilter:
    run_id: int | None = None
    domain: str | None = None                  # --account given as a company domain
    hubspot_ids: tuple[str, ...] | None = None  # --account given as a HubSpot company / Salesforce Account id
    lead: str | None = None
    since: datetime | None = None
    limit: int = 50
    after_id: int = 0                          # --follow: only rows newer than the last one shown


def build_filter(store: Store, args: Any, now: datetime) -> LogFilter:
    since = None
    if getattr(args, "since", None):
        try:
            since = now - parse_duration(args.since)
        except ValueError as exc:
            raise ConfigError(Problem("command line", "--since", str(exc))) from None
    domain = ids = None
    account = (getattr(args, "account", None) or "").strip()
    if account and "." in account:
        domain = account.lower()
    elif account:
        people = store.find_people(company_id=account) + store.find_people(account_id=account)
        ids = tuple(sorted({p["hubspot_id"] for p in people}))
    return LogFilter(run_id=getattr(args, "run", None), domain=domain, hubspot_ids=ids,
                     lead=(getattr(args, "lead", None) or "").strip().lower() or None, since=since,
                     limit=max(1, getattr(args, "limit", 50) or 50))


# -- queries ------------------------------------------------------------------------------------------

def _person_conditions(table: Any, f: LogFilter) -> list[Any]:
    c = table.c
    conditions = []
    if f.lead:
        conditions.append(func.lower(c.email) == f.lead)
    if f.domain:
        on_domain = func.lower(c.email).like(f"%@{f.domain}")
        conditions.append(or_(func.lower(c.account) == f.domain, on_domain) if "account" in c else on_domain)
    if f.hubspot_ids is not None:
        conditions.append(c.hubspot_id.in_(f.hubspot_ids) if f.hubspot_ids else false())
    return conditions


def _latest(query: Select, table: Any, conditions: list[Any], f: LogFilter, time_column: Any) -> Select:
    """The newest ``limit`` rows matching, returned oldest first (like ``tail``)."""
    if f.since is not None:
        conditions.append(time_column >= f.since)
    if f.after_id:
        conditions.append(table.c.id > f.after_id)
    inner = query.where(and_(*conditions)) if conditions else query
    inner = inner.order_by(table.c.id.desc()).limit(f.limit).subquery()
    return select(inner).order_by(inner.c.id)


def runs_query(f: LogFilter, finished_only: bool = False) -> Select:
    conditions = []
    if f.run_id is not None:
        conditions.append(s.runs.c.id == f.run_id)
    if finished_only:
        conditions.append(s.runs.c.outcome != "running")
    return _latest(select(s.runs), s.runs, conditions, f, s.runs.c.started_at)


def changes_query(f: LogFilter) -> Select:
    conditions = _person_conditions(s.changes, f)
    if f.run_id is not None:
        conditions.append(s.changes.c.run_id == f.run_id)
    return _latest(select(s.changes), s.changes, conditions, f, s.changes.c.at)


def errors_query(f: LogFilter) -> Select:
    conditions = _person_conditions(s.errors, f)
    if f.run_id is not None:
        conditions.append(s.errors.c.run_id == f.run_id)
    return _latest(select(s.errors), s.errors, conditions, f, s.errors.c.at)


def sections(f: LogFilter, errors_only: bool) -> tuple[str, ...]:
    """What a request shows: errors alone; a person's or an account's changes and errors; one
    run with its changes and errors; by default the runs."""
    if errors_only:
        return ("errors",)
    if f.lead or f.domain or f.hubspot_ids is not None:
        return ("changes", "errors")
    if f.run_id is not None:
        return ("runs", "changes", "errors")
    return ("runs",)


QUERIES: dict[str, Callable[[LogFilter], Select]] = {"runs": runs_query, "changes": changes_query, "errors": errors_query}


def fetch(store: Store, query: Select) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [{k: utc(v) if isinstance(v, datetime) else v for k, v in r._mapping.items()} for r in conn.execute(query)]


# -- shaping ----------------------------------------------------------------------------------------------

def run_dict(r: dict[str, Any]) -> dict[str, Any]:
    duration = (r["finished_at"] - r["started_at"]).total_seconds() if r.get("finished_at") else None
    calls = {system: (usage or {}).get("calls") for system, usage in (r.get("api") or {}).items()}
    return json_safe({"id": r["id"], "kind": r["kind"], "started_at": r["started_at"], "finished_at": r.get("finished_at"),
                      "duration_s": round(duration, 1) if duration is not None else None, "outcome": r["outcome"],
                      "counts": r.get("counts") or {}, "api_calls": calls, "api": r.get("api") or {},
                      "message": r.get("message"), "account": r.get("account")})


def change_dict(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "run_id", "at", "system", "record_id", "hubspot_id", "email", "field", "old", "new", "rule", "definition_version")
    return json_safe({k: r.get(k) for k in keys})


def error_dict(r: dict[str, Any], detail: bool) -> dict[str, Any]:
    keys = ("id", "run_id", "at", "kind", "system", "hubspot_id", "email", "message") + (("detail",) if detail else ())
    return json_safe({k: r.get(k) for k in keys})


def shape(kind: str, row: dict[str, Any], detail: bool, mask: Callable[[Any], str]) -> dict[str, Any]:
    shaped = run_dict(row) if kind == "runs" else change_dict(row) if kind == "changes" else error_dict(row, detail)
    return _masked(shaped, mask)


def _masked(value: Any, mask: Callable[[Any], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, mask) for v in value]
    return value


# -- printing ---------------------------------------------------------------------------------------------

COUNTS_SHOWN = (("pulled_hubspot", "pulled HS"), ("pulled_crm", "pulled SF"), ("handed_off", "handed off"),
                ("written_hubspot", "wrote HS"), ("written_crm", "wrote SF"), ("quarantined", "quarantined"))


def _short(value: Any, width: int = 60) -> str:
    text = "—" if value is None or value == "" else (json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def _time(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "—"


def columns(kind: str, d: dict[str, Any]) -> list[str]:
    if kind == "runs":
        counts = ", ".join(f"{label} {d['counts'][k]}" for k, label in COUNTS_SHOWN if d["counts"].get(k))
        calls = ", ".join(f"{system} {n}" for system, n in sorted(d["api_calls"].items()) if n is not None)
        duration = "—" if d["duration_s"] is None else f"{d['duration_s']:g}s"
        outcome = d["outcome"] + (f": {d['message']}" if d.get("message") else "")
        return [str(d["id"]), d["kind"], _time(d["started_at"]), duration, counts or "—", calls or "—", outcome]
    if kind == "changes":
        return [_time(d["at"]), d["system"], _short(d["record_id"] or d["hubspot_id"], 20), _short(d["email"], 40),
                d["field"], f"{_short(d['old'], 40)} → {_short(d['new'], 40)}", _short(d["rule"]), _short(d["definition_version"])]
    cells = [_time(d["at"]), str(d["run_id"] or "—"), d["kind"], _short(d["system"]), _short(d["email"] or d["hubspot_id"], 40),
             d["message"]]
    return cells + [_short(d.get("detail"), 200)] if "detail" in d else cells


HEADERS = {"runs": ["run", "kind", "started", "took", "counts", "API calls", "outcome"],
           "changes": ["time", "system", "record", "lead", "field", "old → new", "rule", "def v"],
           "errors": ["time", "run", "kind", "system", "lead", "message"]}


def headers(kind: str, detail: bool) -> list[str]:
    return HEADERS[kind] + (["detail"] if kind == "errors" and detail else [])


def print_section(console: Console, kind: str, rows: Sequence[dict[str, Any]], detail: bool, plain: bool) -> None:
    if plain:
        print("\t".join(headers(kind, detail)), file=console.file)
        for d in rows:
            print("\t".join(columns(kind, d)), file=console.file)
        return
    table = Table(*headers(kind, detail), title=f"{kind.capitalize()} ({len(rows)})", title_justify="left")
    for d in rows:
        table.add_row(*columns(kind, d))
    console.print(table if rows else f"No {kind} match.")


def print_line(console: Console, kind: str, d: dict[str, Any], as_json: bool) -> None:
    """One row as it arrives: a JSON line, or the table's columns on one line."""
    text = json.dumps({"type": kind[:-1], **d}, ensure_ascii=False) if as_json else f"[{kind[:-1]}] " + "  ".join(columns(kind, d))
    print(text, file=console.file, flush=True)


def follow(store: Store, f: LogFilter, last: dict[str, int], detail: bool, mask: Callable[[Any], str], as_json: bool,
           console: Console, interval: float = 1.0, polls: int | None = None) -> None:
    """Print rows committed after ``last`` (per kind), until interrupted (or ``polls`` rounds).
    A run is printed once it has finished, with its outcome."""
    for _ in _ticks(polls):
        time.sleep(interval)
        for kind in last:
            newer = replace(f, after_id=last[kind], limit=10_000)
            query = runs_query(newer, finished_only=True) if kind == "runs" else QUERIES[kind](newer)
            for row in fetch(store, query):
                last[kind] = max(last[kind], row["id"])
                print_line(console, kind, shape(kind, row, detail, mask), as_json)


def _newest_id(store: Store, kind: str) -> int:
    table = getattr(s, kind)
    query = select(func.max(table.c.id))
    if kind == "runs":   # a run still running is shown by --follow once it finishes
        query = query.where(table.c.outcome != "running")
    with store.engine.connect() as conn:
        return conn.execute(query).scalar() or 0


def _ticks(polls: int | None) -> Iterator[int]:
    n = 0
    while polls is None or n < polls:
        yield n
        n += 1


def show_logs(store: Store, args: Any, redactor: Callable[[Any], str], *, now: datetime | None = None,
              console: Console | None = None, plain: bool | None = None, polls: int | None = None,
              interval: float = 1.0) -> int:
    now = now or datetime.now(timezone.utc)
    console = console or Console()
    plain = (not sys.stdout.isatty()) if plain is None else plain
    f = build_filter(store, args, now)
    wanted = sections(f, getattr(args, "errors", False))
    detail, as_json = bool(getattr(args, "detail", False)), bool(getattr(args, "json", False))
    following = bool(getattr(args, "follow", False))
    # Taken before reading, so a row committed meanwhile is shown by --follow, never lost.
    last = {kind: _newest_id(store, kind) for kind in wanted}
    rows = {kind: fetch(store, QUERIES[kind](f)) for kind in wanted}
    found = {kind: [shape(kind, row, detail, redactor) for row in rows[kind]] for kind in wanted}
    if as_json and not following:
        print(json.dumps(found, indent=2, ensure_ascii=False), file=console.file)
        return 0
    for i, kind in enumerate(wanted):
        if plain and not as_json and i:
            print(file=console.file)          # sections apart, so each reads as its own table
        if as_json:
            for d in found[kind]:
                print_line(console, kind, d, as_json=True)
        else:
            print_section(console, kind, found[kind], detail, plain)
        shown = [r["id"] for r in rows[kind] if kind != "runs" or r["outcome"] != "running"]
        last[kind] = max([last[kind], *shown])
    if following:
        try:
            follow(store, f, last, detail, redactor, as_json, console, interval=interval, polls=polls)
        except KeyboardInterrupt:
            pass
    return 0
