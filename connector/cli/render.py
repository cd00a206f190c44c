"""What ``sync`` and ``quarantine list`` print: rich for people, one JSON document
for scripts. Only shaping and printing here; the numbers come from the engine and the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from connector.state.store import json_safe

DASH = "—"
# (label, counts key) in the order a reader follows a cycle: in, decided, out, held back.
COUNT_LINES = (
    ("pulled from HubSpot", "pulled_hubspot"), ("pulled from Salesforce", "pulled_crm"),
    ("activities stored", "activities"), ("qualified (mql)", "qualified"), ("handed off", "handed_off"),
    ("converted to opportunity", "converted"), ("recycled", "recycled"), ("disqualified", "disqualified"),
    ("near-qualified", "near_qualified"), ("written to HubSpot", "written_hubspot"),
    ("written to Salesforce", "written_crm"), ("quarantined", "quarantined"), ("gate violations", "gate_violations"),
    ("SLA breaches (last 30 days)", "sla_breaches"),
)


def summary_dict(summary: Any) -> dict[str, Any]:
    return json_safe({"run_id": summary.run_id, "kind": summary.kind, "outcome": summary.outcome,
                      "message": summary.message, "counts": dict(summary.counts),
                      "handoffs": list(summary.handoffs), "api": dict(summary.api),
                      "sla_breaches": list(getattr(summary, "sla_breaches", []))})


def _console(console: Console | None) -> Console:
    return console or Console()


def _value(value: Any) -> str:
    return DASH if value is None or value == "" else str(value)


def api_table(api: Mapping[str, Mapping[str, Any]]) -> Table:
    table = Table("system", "API calls", "retries", "remaining today", "daily limit", title="API usage", title_justify="left")
    for system, usage in sorted(api.items()):
        table.add_row(system, _value(usage.get("calls")), _value(usage.get("retries")),
                      _value(usage.get("remaining")), _value(usage.get("limit")))
    return table


def handoffs_table(handoffs: Sequence[Mapping[str, Any]]) -> Table:
    table = Table("email", "score", "record", "why it was passed to sales", title="Handed off to sales",
                  title_justify="left")
    for h in sorted(handoffs, key=lambda h: -(h.get("score") or 0)):
        score = h.get("score")
        table.add_row(_value(h.get("email")), DASH if score is None else f"{score:g}",
                      f"{h.get('object') or 'Lead'} {_value(h.get('crm_id'))}", _value(h.get("reason")))
    return table


def print_summary(summary: Any, as_json: bool = False, console: Console | None = None) -> None:
    if as_json:
        print(json.dumps(summary_dict(summary), indent=2, ensure_ascii=False))
        return
    out = _console(console)
    style = {"ok": "green", "partial": "yellow", "stopped": "yellow"}.get(summary.outcome, "red")
    out.print(f"[bold]{summary.kind}[/] run {summary.run_id}: [{style}]{summary.outcome}[/]"
              + (f" ({summary.message})" if summary.message else ""))
    counts = Table(show_header=False, box=None, padding=(0, 2))
    for label, key in COUNT_LINES:
        counts.add_row(label, str(summary.counts.get(key, 0)))
    out.print(counts)
    if summary.api:
        out.print(api_table(summary.api))
    if summary.handoffs:
        out.print(handoffs_table(summary.handoffs))


# -- quarantine list --------------------------------------------------------------------------------

def quarantine_dict(entry: Any, mask: Callable[[Any], str]) -> dict[str, Any]:
    return json_safe({"id": entry.id, "system": entry.system, "hubspot_id": entry.hubspot_id,
                      "email": mask(entry.email) if entry.email else None, "operation": entry.operation,
                      "code": entry.code, "reason": mask(entry.reason), "transient": entry.transient,
                      "waits_for_person": entry.waits_for_person,
                      "attempts": entry.attempts, "next_attempt_at": entry.next_attempt_at,
                      "since": entry.created_at, "updated_at": entry.updated_at})


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else DASH


def print_quarantine(entries: Sequence[Any], as_json: bool = False, redactor: Callable[[Any], str] = str,
                     console: Console | None = None) -> None:
    rows = [quarantine_dict(e, redactor) for e in entries]
    if as_json:
        print(json.dumps({"quarantined": rows}, indent=2, ensure_ascii=False))
        return
    out = _console(console)
    if not entries:
        out.print("Nothing is quarantined.")
        return
    table = Table("id", "system", "person", "operation", "reason", "attempts", "next attempt", "since",
                  title=f"Quarantined records: {len(entries)}", title_justify="left")
    for e in entries:
        retry = _when(e.next_attempt_at) if e.transient else "waits for a person"
        table.add_row(str(e.id), e.system, redactor(e.email) if e.email else e.hubspot_id, e.operation,
                      redactor(e.reason), str(e.attempts), retry, _when(e.created_at))
    out.print(table)
