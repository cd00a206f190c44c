"""``leadsync setup [--apply] [--json]``: one line per checked item, and the fix.

Exit 0 when both systems are ready for the mappings and the definition, 2 with the list of
what is missing or wrong (warnings do not block).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from connector.core.readiness import INFO, MISSING, OK, WARN, WRONG, Report

MARKS = {OK: "[green]ok     [/]", MISSING: "[red]missing[/]", WRONG: "[red]wrong  [/]",
         WARN: "[yellow]warn   [/]", INFO: "[blue]info   [/]"}
SYSTEMS = {"hubspot": "HubSpot", "salesforce": "Salesforce", "sugarcrm": "SugarCRM", "definition": "Definition"}


def setup_command(rt: Any, *, apply: bool, as_json: bool) -> int:
    report = rt.readiness().report(fresh=True, apply=apply)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print_report(report, Console(highlight=False, soft_wrap=True))
    return 0 if report.ready else 2


def print_report(report: Report, console: Console) -> None:
    # HubSpot first, then the configured CRM, then the definition.
    for system in dict.fromkeys(["hubspot", *(f.system for f in report.findings), "definition"]):
        findings = [f for f in report.findings if f.system == system]
        if not findings:
            continue
        console.print(f"[bold]{SYSTEMS.get(system, system)}[/]")
        for f in findings:
            where = f"{f.object}.{f.name}" if f.object and f.kind != "forms" else f.name
            line = f"  {MARKS[f.status]} {escape(where)}: {escape(f.message)}"
            if f.fix and f.status != OK:
                line += f" [dim]→ {escape(f.fix)}[/]"
            console.print(line)
    for created in report.applied:
        console.print(f"[green]created[/] {escape(created)}")
    for step in report.admin_steps:
        console.print(f"[yellow]an admin must still:[/] {escape(step)}")
    blocking = report.blocking()
    if blocking:
        console.print(f"[red]not ready:[/] {len(blocking)} item(s) missing or wrong"
                      + ("; `leadsync setup --apply` creates the ones marked creatable" if any(f.creatable for f in blocking) else ""))
    else:
        console.print("[green]ready[/]: every mapped object, field and property is there")
