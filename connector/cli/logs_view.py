"""``leadsync logs``: sync runs, per-record changes and errors from the state store.

The queries live in the state layer (``connector.state.logquery``, run by ``Store.log_rows`` and
``Store.log_total``); this module shapes and prints. A cut list says so ("showing 50 of 3,426");
``--errors`` starts with the errors grouped by type, each with the command that drills into it. Output: rich tables in a terminal, tab-separated lines when piped,
one JSON document with ``--json``, and with ``--follow`` new rows as they are committed (JSON
lines with ``--json``) until Ctrl-C. Errors show their user-facing message; the internal detail
only with ``--detail``. Everything printed passes through the redactor.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console
from rich.table import Table

from connector.core.durations import parse_duration
from connector.core.errors import ConfigError, Problem
from connector.app.logshapes import _masked, shape
from connector.state.logquery import LogFilter
from connector.state.store import Store, json_safe

__all__ = ["LogFilter", "build_filter", "sections", "show_logs"]


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
                     limit=max(1, getattr(args, "limit", 50) or 50), error_type=getattr(args, "type", None) or None)


def sections(f: LogFilter, errors_only: bool) -> tuple[str, ...]:
    """What a request shows: errors alone; a person's or an account's changes and errors; one
    run with its changes and errors; by default the runs."""
    if errors_only or f.error_type:
        return ("errors",)
    if f.lead or f.domain or f.hubspot_ids is not None:
        return ("changes", "errors")
    if f.run_id is not None:
        return ("runs", "changes", "errors")
    return ("runs",)


# -- shaping ----------------------------------------------------------------------------------------------


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


def title(kind: str, shown: int, total: int) -> str:
    """``Changes (12)``, or ``Changes: showing 50 of 3,426 (--limit N for more)`` when cut."""
    name = kind.capitalize()
    return f"{name} ({total:,})" if shown >= total else f"{name}: showing {shown:,} of {total:,} (--limit N for more)"


def print_section(console: Console, kind: str, rows: Sequence[dict[str, Any]], detail: bool, plain: bool,
                  total: int | None = None) -> None:
    total = len(rows) if total is None else total
    if plain:
        if len(rows) < total:   # the note goes to stderr: stdout stays one clean table for scripts
            print(f"# {title(kind, len(rows), total)}", file=sys.stderr)
        print("\t".join(headers(kind, detail)), file=console.file)
        for d in rows:
            print("\t".join(columns(kind, d)), file=console.file)
        return
    table = Table(*headers(kind, detail), title=title(kind, len(rows), total), title_justify="left")
    for d in rows:
        table.add_row(*columns(kind, d))
    console.print(table if rows else f"No {kind} match.")


# -- errors by type ---------------------------------------------------------------------------------------

_CODE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[A-Z]{4,}\b")


def error_type(row: dict[str, Any]) -> str:
    """An error's type: its kind, plus the vendor code its message names (quarantined: INVALID_FIELD)."""
    found = _CODE.search(str(row.get("message") or ""))
    return f"{row['kind']}: {found.group(0)}" if found else str(row["kind"])


def error_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors grouped by type, most frequent first, with a command that drills into each."""
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = error_type(r)
        g = groups.setdefault(key, {"type": key, "count": 0, "systems": set(), "people": set(),
                                    "first_at": r["at"], "last_at": r["at"]})
        g["count"] += 1
        g["systems"].add(r.get("system") or "—")
        g["people"].add(r.get("hubspot_id") or r.get("email") or "")
        g["first_at"], g["last_at"] = min(g["first_at"], r["at"]), max(g["last_at"], r["at"])
    out = []
    for g in sorted(groups.values(), key=lambda g: (-g["count"], g["type"])):
        word = g["type"].split(": ")[-1]
        out.append(json_safe({"type": g["type"], "count": g["count"], "systems": sorted(g["systems"]),
                              "people": len(g["people"] - {""}), "first_at": g["first_at"], "last_at": g["last_at"],
                              "drill_down": f"leadsync logs --errors --type {word}"}))
    return out


def print_error_summary(console: Console, summary: Sequence[dict[str, Any]], plain: bool) -> None:
    if not summary:
        return
    cells = [[g["type"], str(g["count"]), str(g["people"]), _time(g["last_at"]), g["drill_down"]] for g in summary]
    head = ["type", "count", "people", "last", "drill down"]
    if plain:
        print("\t".join(head), file=console.file)
        for row in cells:
            print("\t".join(row), file=console.file)
        print(file=console.file)
        return
    table = Table(*head, title="Errors by type", title_justify="left")
    for row in cells:
        table.add_row(*row)
    console.print(table)


# -- export -----------------------------------------------------------------------------------------------

def write_csv(path: str, kind: str, rows: Sequence[dict[str, Any]]) -> int:
    """Every matching row of one section (no --limit), one line each, values as JSON when nested."""
    fieldnames = list(rows[0]) if rows else list(CSV_COLUMNS[kind])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    return len(rows)


CSV_COLUMNS = {"runs": ("id", "kind", "started_at", "finished_at", "duration_s", "outcome", "counts", "api_calls", "api",
                        "message", "account"),
               "changes": ("id", "run_id", "at", "system", "record_id", "hubspot_id", "email", "field", "old", "new",
                           "rule", "definition_version"),
               "errors": ("id", "run_id", "at", "kind", "system", "hubspot_id", "email", "message")}


# -- following ---------------------------------------------------------------------------------------------

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
            newer = replace(f, after_id=last[kind], limit=None)
            for row in store.log_rows(kind, newer, finished_only=kind == "runs"):
                last[kind] = max(last[kind], row["id"])
                print_line(console, kind, shape(kind, row, detail, mask), as_json)


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
    last = {kind: store.newest_log_id(kind) for kind in wanted}
    rows = {kind: store.log_rows(kind, f) for kind in wanted}
    totals = {kind: store.log_total(kind, f) for kind in wanted}
    found = {kind: [shape(kind, row, detail, redactor) for row in rows[kind]] for kind in wanted}
    by_type = None
    if "errors" in wanted and (getattr(args, "errors", False) or f.error_type):
        by_type = _masked(error_summary(store.log_rows("errors", replace(f, limit=None))), redactor)
    if getattr(args, "csv", None):
        primary = wanted[-1] if wanted != ("runs", "changes", "errors") else "changes"
        everything = [shape(primary, r, detail, redactor) for r in store.log_rows(primary, replace(f, limit=None))]
        n = write_csv(args.csv, primary, everything)
        print(f"wrote {n:,} {primary} to {args.csv}", file=sys.stderr)
    if as_json and not following:
        doc: dict[str, Any] = {**found, "totals": totals}
        if by_type is not None:
            doc["errors_by_type"] = by_type
        print(json.dumps(doc, indent=2, ensure_ascii=False), file=console.file)
        return 0
    if by_type and not as_json:
        print_error_summary(console, by_type, plain)
    for i, kind in enumerate(wanted):
        if plain and not as_json and i:
            print(file=console.file)          # sections apart, so each reads as its own table
        if as_json:
            for d in found[kind]:
                print_line(console, kind, d, as_json=True)
        else:
            print_section(console, kind, found[kind], detail, plain, totals[kind])
        shown = [r["id"] for r in rows[kind] if kind != "runs" or r["outcome"] != "running"]
        last[kind] = max([last[kind], *shown])
    if following:
        try:
            follow(store, f, last, detail, redactor, as_json, console, interval=interval, polls=polls)
        except KeyboardInterrupt:
            pass
    return 0
