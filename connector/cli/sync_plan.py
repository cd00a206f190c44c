"""What ``leadsync sync`` shows about changes: a dry run's plan (by system, field and stage
transition, a sample with current → planned and the rule, what would be created), and for
either kind of run the CSV of every change: system, record id, email, field, current, planned,
rule. A real run's CSV is read from the change log it kept, so the two compare line by line.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from connector.state.store import json_safe

CSV_COLUMNS = ("system", "record id", "email", "field", "current", "planned", "rule")
SAMPLE = 20


def change_rows(changes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Change-log entries (planned or recorded) as CSV rows."""
    return [{"system": c.get("system"), "record id": c.get("record_id"), "email": c.get("email"),
             "field": c.get("field"), "current": _text(c.get("old")), "planned": _text(c.get("new")),
             "rule": c.get("rule")} for c in changes]


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def plan_document(engine: Any, summary: Any) -> dict[str, Any]:
    changes = change_rows(engine.planned_changes)
    by_field = Counter((r["system"], r["field"]) for r in changes)
    moves = Counter((t["from"] or "(new)", t["to"]) for t in engine.planned_transitions)
    creates = [p for p in engine.planned if p.get("record") in (None, "(new)") and p["system"] == "crm"]
    return json_safe({
        "dry_run": True, "run_id": summary.run_id, "counts": summary.counts,
        "would_create": {"schema": list(engine.schema_plan),
                         "crm_records": sum(1 for p in creates if p.get("object") != "follow_up"),
                         "follow_up_tasks": sum(1 for p in creates if p.get("object") == "follow_up")},
        "writes_by_field": [{"system": s, "field": f, "records": n} for (s, f), n in sorted(by_field.items())],
        "transitions": [{"from": a, "to": b, "people": n} for (a, b), n in sorted(moves.items())],
        "reports": engine.planned_reports,
        "sample": changes[:SAMPLE], "changes": len(changes)})


def print_plan_document(document: Mapping[str, Any], as_json: bool, console: Console | None = None) -> None:
    if as_json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return
    out = console or Console()
    out.print(f"Dry run {document['run_id']}: nothing was written to either system.")
    create = document["would_create"]
    if create["schema"]:
        out.print("Would create: " + ", ".join(create["schema"]))
    out.print(f"Would create {create['crm_records']} CRM record(s) and {create['follow_up_tasks']} follow-up task(s).")
    fields = Table("system", "field", "records", title=f"Planned writes: {document['changes']}", title_justify="left")
    for row in document["writes_by_field"]:
        fields.add_row(str(row["system"]), str(row["field"]), str(row["records"]))
    out.print(fields)
    moves = Table("from", "to", "people", title="Stage transitions", title_justify="left")
    for row in document["transitions"]:
        moves.add_row(str(row["from"]), str(row["to"]), str(row["people"]))
    out.print(moves)
    sample = Table("system", "record", "email", "field", "current → planned", "rule",
                   title=f"Sample (first {len(document['sample'])})", title_justify="left")
    for r in document["sample"]:
        sample.add_row(str(r["system"]), str(r["record id"]), str(r["email"] or ""), str(r["field"]),
                       f"{r['current']} → {r['planned']}", str(r["rule"] or ""))
    out.print(sample)
    kinds = Counter(r.get("kind") for r in document["reports"])
    if kinds:
        out.print("Would report: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
