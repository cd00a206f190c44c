"""``leadsync demo --crm sugarcrm``: the seeds' story, told in Sugar's terms.

The first sync meets the Leads sales already has (typed in at trade shows, or linked by an earlier
integration): each is linked, never created again, and starts where sales has it; one sales had
accepted already (In Process) becomes an Opportunity at Prospecting at once. Marketing's new
mqls land in the Leads module; sales accepts some (status In Process), which
converts each into an Opportunity in the "unqualified pipeline" (Prospecting); sales verifies
BANT on those Opportunities, and the ones that pass move to the "qualified pipeline"
(Qualification) as sqls; a rejected lead (Recycled/Dead) goes back to marketing. A last sync
with nothing new writes nothing.
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

from connector.app.runtime import Runtime
from connector.cli.demo import _show_first, _show_moves, _step

CRM = ("sugarcrm", "SugarCRM")


def run_sugar_demo(args: Namespace) -> int:
    from leadsync_sandbox.server import Sandbox
    console = Console(quiet=args.json)
    started = time.monotonic()
    directory = Path(args.dir)
    state_file = directory / "state.db"
    directory.mkdir(parents=True, exist_ok=True)
    state_file.unlink(missing_ok=True)
    report: dict[str, Any] = {"crm": "sugarcrm", "steps": []}
    with Sandbox(directory / "sandbox", seed=args.seed, people=args.people, crm="sugarcrm") as sandbox:
        config_path = directory / "leadsync.toml"
        sandbox.write_config(config_path, f"sqlite:///{state_file.resolve()}")
        saved = {k: os.environ.get(k) for k in sandbox.env()}
        os.environ.update(sandbox.env())
        try:
            console.rule("[bold]leadsync demo — SugarCRM")
            console.print(f"HubSpot sandbox [cyan]{sandbox.hubspot_url}[/], SugarCRM sandbox "
                          f"[cyan]{sandbox.sugarcrm_url}/rest/v11_4[/]")
            console.print(f"{args.people} contacts seeded; definition: mappings/qualification.toml; "
                          f"CRM mapping: mappings/sugarcrm.toml; state: {state_file}")
            with Runtime.from_config_path(str(config_path)) as rt:
                first = _step(console, rt, sandbox, "1. Sales' own Leads linked; marketing's mqls to the Leads module",
                              report, CRM)
                _show_adopted(console, first, report)
                _show_first(console, rt, first, title="New Leads in Sugar's Leads module (highest score first)")
                _pipeline(console, sandbox, rt, report, "after step 1")
                accepted = _accept(console, sandbox, first)
                second = _step(console, rt, sandbox, "2. Sales accepts: each accepted Lead becomes an "
                                                     "Opportunity in the unqualified pipeline", report, CRM)
                _show_moves(console, rt, second.run_id)
                _pipeline(console, sandbox, rt, report, "after step 2")
                _verify_bant(console, sandbox, rt, accepted)
                third = _step(console, rt, sandbox, "3. BANT verified: the Opportunity moves to the qualified "
                                                    "pipeline (sql)", report, CRM)
                _show_moves(console, rt, third.run_id)
                _pipeline(console, sandbox, rt, report, "after step 3")
                last = _step(console, rt, sandbox, "4. Nothing changed: a sync writes nothing", report, CRM)
                console.print(f"writes in step 4: HubSpot {last.counts['written_hubspot']}, "
                              f"SugarCRM {last.counts['written_crm']}")
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    report["seconds"] = round(time.monotonic() - started, 1)
    console.rule(f"done in {report['seconds']} s — try: leadsync --config {config_path} report funnel, report sla")
    if args.json:
        print(json.dumps(report, default=str))
    return 0


def _show_adopted(console: Console, summary: Any, report: dict[str, Any]) -> None:
    """What the first sync found in Sugar: Leads linked rather than created again."""
    c = summary.counts
    adopted = {"linked": c["linked"], "accepted_before": c["adopted_sales_owned"],
               "open_before": c["adopted_handed_off"], "converted": c["converted"], "crm_only": c["crm_only"]}
    report["adopted"] = adopted
    console.print(f"Sugar already had Leads for {adopted['linked']} of marketing's people: linked by HubSpot id or "
                  f"email, none created again. {adopted['accepted_before']} sales had accepted already → "
                  f"{adopted['converted']} Opportunities at Prospecting (unqualified pipeline); "
                  f"{adopted['open_before']} stay open in the Leads module with no second handoff. "
                  f"{adopted['crm_only']} records match nobody in HubSpot: left to sales.")


def _top_leads(summary: Any, n: int) -> list[dict[str, Any]]:
    return [h for h in sorted(summary.handoffs, key=lambda h: (-(h["score"] or 0), h["email"]))
            if h["object"] == "lead"][:n]


def _accept(console: Console, sandbox: Any, summary: Any) -> list[dict[str, Any]]:
    """The rep works the top four Leads: three accepted after a call, one marked Dead."""
    sugar = sandbox.sugarcrm
    top = _top_leads(summary, 4)
    table = Table(title="Sales works the Leads module")
    table.add_column("lead")
    table.add_column("what the rep did in Sugar")
    for handoff in top[:3]:
        sugar.log_touch(handoff["crm_id"], kind="call")
        sugar.set_lead_status(handoff["crm_id"], "In Process")
        table.add_row(handoff["email"], "called (Held), status In Process → expect an Opportunity at Prospecting")
    for handoff in top[3:]:
        sugar.set_lead_status(handoff["crm_id"], "Dead", description="Student project, no budget")
        table.add_row(handoff["email"], "status Dead: student project → expect recycled in both systems")
    console.print(table)
    return top[:3]


def _verify_bant(console: Console, sandbox: Any, rt: Runtime, accepted: list[dict[str, Any]]) -> None:
    """BANT on the Opportunities: 4/4, 4/4, and 2/4 (stays in the unqualified pipeline)."""
    sugar = sandbox.sugarcrm
    people = {p.get("crm_id"): p for p in rt.store.people().values()}
    table = Table(title="Sales verifies BANT on the Opportunities")
    table.add_column("lead")
    table.add_column("BANT (custom _c fields on the Opportunity)")
    for index, handoff in enumerate(accepted):
        opportunity = people.get(handoff["crm_id"], {}).get("opportunity_id")
        if not opportunity:
            continue
        if index < 2:
            sugar.set_bant(opportunity, budget=True, authority=True, need="Pipeline reviews take days",
                           timeline="0-3 months")
            table.add_row(handoff["email"], "budget ✓ authority ✓ need ✓ timeline 0-3 months ✓ → expect Qualification")
        else:
            sugar.set_bant(opportunity, budget=False, authority=False, need="Just looking", timeline="12+ months")
            table.add_row(handoff["email"], "budget ✗ authority ✗ need ✓ timeline 12+ months ✗ → stays at Prospecting")
    console.print(table)


def _pipeline(console: Console, sandbox: Any, rt: Runtime, report: dict[str, Any], when: str) -> None:
    """What Sugar holds for leadsync's people: the Leads module, then each pipeline stage."""
    sugar = sandbox.sugarcrm
    people = {p["hubspot_id"]: p for p in rt.store.people().values() if p.get("crm_id")}
    ours = set(people)
    leads = [r for r in sugar.records("Leads") if r.get("hubspot_contact_id_c") in ours and not r.get("converted")
             and people[r["hubspot_contact_id_c"]]["stage"] == "mql"]
    opportunities = [o for o in sugar.records("Opportunities") if o.get("hubspot_contact_id_c") in ours]
    stages: dict[str, int] = {}
    for o in opportunities:
        stages[o["sales_stage"]] = stages.get(o["sales_stage"], 0) + 1
    rows = [("Leads module (mql)", len(leads)),
            ("unqualified pipeline — Prospecting (sal/srl)", stages.pop("Prospecting", 0)),
            ("qualified pipeline — Qualification (sql)", stages.pop("Qualification", 0))]
    rows += [(f"later stage — {name}", n) for name, n in sorted(stages.items())]
    table = Table(title=f"SugarCRM {when}")
    table.add_column("where")
    table.add_column("records", justify="right")
    for where, n in rows:
        table.add_row(where, str(n))
    console.print(table)
    report.setdefault("pipeline", {})[when] = dict(rows)
