"""``leadsync demo``: the whole product against the built-in sandbox, narrated.

Starts the HubSpot and Salesforce emulators with sample data, runs a sync, lets "sales" act on
a few handed-off leads (accept, verify BANT, reject), syncs again, and shows what happened at
each step: handoffs with their reasons, disqualified and near-qualified leads, stage moves,
API calls used. A second sync with nothing new writes nothing.
"""

from __future__ import annotations

import json
import os
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.app.runtime import Runtime


def run_demo(args: Namespace) -> int:
    if getattr(args, "crm", "salesforce") == "sugarcrm":
        from connector.cli.demo_sugar import run_sugar_demo
        return run_sugar_demo(args)
    from leadsync_sandbox.server import Sandbox
    console = Console(quiet=args.json)
    started = time.monotonic()
    directory = Path(args.dir)
    state_file = directory / "state.db"
    directory.mkdir(parents=True, exist_ok=True)
    state_file.unlink(missing_ok=True)
    report: dict[str, Any] = {"steps": []}
    with Sandbox(directory / "sandbox", seed=args.seed, people=args.people) as sandbox:
        config_path = directory / "leadsync.toml"
        sandbox.write_config(config_path, f"sqlite:///{state_file.resolve()}")
        saved = {k: os.environ.get(k) for k in sandbox.env()}
        os.environ.update(sandbox.env())
        try:
            console.rule("[bold]leadsync demo")
            console.print(f"HubSpot sandbox [cyan]{sandbox.hubspot_url}[/], Salesforce sandbox [cyan]{sandbox.salesforce_url}[/]")
            console.print(f"{args.people} contacts seeded; definition: mappings/qualification.toml; state: {state_file}")
            with Runtime.from_config_path(str(config_path)) as rt:
                first = _step(console, rt, sandbox, "1. First sync: qualify every contact, hand off the mqls", report)
                _show_first(console, rt, first)
                acted = _act_as_sales(sandbox, rt, first)
                _show_sales(console, acted)
                second = _step(console, rt, sandbox, "2. Sales feedback flows back: accept, BANT, reject", report)
                _show_moves(console, rt, second.run_id)
                third = _step(console, rt, sandbox, "3. Nothing changed: a sync writes nothing", report)
                console.print(f"writes in step 3: HubSpot {third.counts['written_hubspot']}, "
                              f"Salesforce {third.counts['written_crm']}")
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    report["seconds"] = round(time.monotonic() - started, 1)
    console.rule(f"done in {report['seconds']} s")
    console.print(f"Try: leadsync --config {config_path} logs (then report queue, explain EMAIL)")
    if args.json:
        print(json.dumps(report, default=str))
    return 0


def _step(console: Console, rt: Runtime, sandbox: Any, title: str, report: dict[str, Any],
          crm: tuple[str, str] = ("salesforce", "Salesforce")) -> Any:
    console.rule(title)
    mark = sandbox.calls.mark()
    summary = rt.sync()
    calls = sandbox.calls.since(mark)
    system, label = crm
    used = {name: sum(1 for c in calls if c.system == name) for name in ("hubspot", system)}
    c = summary.counts
    console.print(f"pulled {c['pulled_hubspot']} HubSpot / {c['pulled_crm']} {label} records; "
                  f"handed off {c['handed_off']}, converted {c['converted']}, recycled {c['recycled']}, "
                  f"disqualified {c['disqualified']}, near-qualified {c['near_qualified']}; "
                  f"written {c['written_hubspot']} HubSpot / {c['written_crm']} {label}; "
                  f"quarantined {c['quarantined']}; API calls HubSpot {used['hubspot']}, {label} {used[system]}")
    report["steps"].append({"title": title, "counts": dict(c), "api_calls": used, "outcome": summary.outcome})
    return summary


def _show_first(console: Console, rt: Runtime, summary: Any, shown: int = 8,
                title: str = "Handed off to Salesforce (highest score first)") -> None:
    table = Table("score", "lead", "why sales gets it", title=title, title_justify="left")
    table.columns[1].overflow = table.columns[2].overflow = "fold"
    for h in sorted(summary.handoffs, key=lambda h: -(h["score"] or 0))[:shown]:
        table.add_row(f"{h['score']:g}", Text(f"{h['email']}\n{h['object']} {h['crm_id']}"), Text(h["reason"] or ""))
    console.print(table)
    if len(summary.handoffs) > shown:
        console.print(f"and {len(summary.handoffs) - shown} more: leadsync report queue")
    people = rt.store.people().values()
    disqualified = [p for p in people if p["stage"] == "disqualified"][:6]
    near = [p for p in people if p.get("missing")][:6]
    table = Table("lead", "stage", "reason", title="Kept in marketing", title_justify="left")
    table.columns[0].overflow = table.columns[2].overflow = "fold"
    for p in disqualified + near:
        table.add_row(Text(p["email"]), p["stage"] + (" (near)" if p.get("missing") else ""), Text(p.get("reason") or ""))
    console.print(table)


def _act_as_sales(sandbox: Any, rt: Runtime, summary: Any) -> list[tuple[str, str]]:
    """A rep works the top three handoffs: two accepted (BANT 3/4 and 2/4), one rejected."""
    leads = [h for h in sorted(summary.handoffs, key=lambda h: -(h["score"] or 0)) if h["object"] == "lead"][:3]
    sf = sandbox.salesforce
    acted = []
    for index, handoff in enumerate(leads):
        lead_id = handoff["crm_id"]
        if index == 0:
            sf.set_lead_status(lead_id, "Working - Contacted")
            sf.log_touch(lead_id, kind="call")
            sf.set_bant(lead_id, budget=True, need="Replace spreadsheets for pipeline reviews", timeline="0-3 months")
            acted.append((handoff["email"], "accepted, called, confirmed budget, need, timeline → expect sql + Opportunity"))
        elif index == 1:
            sf.set_lead_status(lead_id, "Working - Contacted")
            sf.log_touch(lead_id, kind="email")
            sf.set_bant(lead_id, budget=False, timeline="12+ months")
            acted.append((handoff["email"], "accepted, emailed, BANT 2 of 4 or fewer → expect sal, no Opportunity"))
        else:
            sf.set_lead_status(lead_id, "Closed - Not Converted", reason="No budget until next fiscal year")
            acted.append((handoff["email"], "rejected: no budget → expect recycled in both systems"))
    return acted


def _show_sales(console: Console, acted: list[tuple[str, str]]) -> None:
    table = Table("lead", "what the rep did", title="Sales acts in Salesforce", title_justify="left")
    for email, what in acted:
        table.add_row(Text(email), Text(what))
    console.print(table)


def _show_moves(console: Console, rt: Runtime, run_id: int) -> None:
    table = Table("lead", "from", "to", "why", title="Stage moves in this sync", title_justify="left")
    table.columns[0].overflow = table.columns[3].overflow = "fold"
    people = rt.store.people()
    for t in rt.store.transitions():
        if t["run_id"] == run_id:
            table.add_row(Text(people.get(t["hubspot_id"], {}).get("email", t["hubspot_id"])), t["from_stage"] or "",
                          t["to_stage"], Text(f"{t['cause']}: {t['rule'] or ''}"))
    console.print(table)

