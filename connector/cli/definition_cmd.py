"""``leadsync definition check|simulate``: the definition's own commands."""

from __future__ import annotations

import json

from pathlib import Path
from typing import Any

from rich.console import Console

from connector.app.config import Config
from connector.core.durations import parse_duration
from connector.core.definition import load_definition
from connector.core.errors import ConfigError, Problem
from connector.core.lead import merge_fields


def mapped_fields(config: Config) -> set[str]:
    """Canonical fields the mapping files add (BANT and others): the definition may use them."""
    from connector.adapters.registry import crm_plugin
    from connector.core.mapping import load_hubspot_mapping
    plugin = crm_plugin(config.crm.system)
    fields: set[str] = set()
    problems = []
    try:
        hubspot = load_hubspot_mapping(config.mappings_dir / "hubspot.toml")
        fields |= {f.canonical for f in (*hubspot.contact_fields, *hubspot.company_fields)}
    except ConfigError as exc:
        problems += exc.problems
    try:
        fields |= plugin.canonical_fields(plugin.load_mapping(config.mappings_dir / plugin.mapping_file))
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return fields


def check_command(config: Config, file: str | None) -> int:
    path = Path(file) if file else config.definition_path
    definition = load_definition(path, extra_fields=mapped_fields(config))
    console = Console()
    console.print(f"[green]✓[/] {path}: \"{definition.name}\" v{definition.version}, effective "
                  f"{definition.effective}: {len(definition.fit)} fit, {len(definition.profile)} profile, "
                  f"{len(definition.behavior)} behaviour rules; mql at score ≥ {definition.thresholds.mql_score}")
    due = definition.review_due(_today())
    if due:
        console.print(f"[yellow]warning:[/] the definition was due for review on {due.isoformat()} "
                      f"(every {definition.review_every_days} days)")
    return 0


def simulate_command(rt: Any, file: str, since: str, *, as_json: bool) -> int:
    from connector.core.simulate import render_simulation, simulate, simulation_dict
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise ConfigError(Problem("(command line)", "--since", str(exc))) from None
    candidate = load_definition(Path(file), extra_fields=mapped_fields(rt.config))
    from connector.cli.progress import progress
    now = rt.clock()
    history = _history(rt.store, rt.write_maps().crm_fields)
    with progress() as shown:
        people = shown.track(history, "people replayed", total=len(history))
        report = simulate(people, rt.definition, candidate, now - window, now)
    if as_json:
        print(json.dumps(simulation_dict(report), default=str))
    else:
        Console().print(render_simulation(report))
    return 0


def _history(store: Any, crm_rules: Any) -> list[tuple[dict[str, Any], list[Any], list[tuple[str, Any]]]]:
    """Every stored person, as the sync would build the lead (the CRM wins where its sync rule
    says so, not everywhere), with its activities and recorded stage transitions."""
    people = store.people()
    activities = store.activities(list(people))
    transitions: dict[str, list[tuple[str, Any]]] = {}
    for t in store.transitions():
        transitions.setdefault(t["hubspot_id"], []).append((t["to_stage"], t["at"]))
    return [(merge_fields(p.get("fields") or {}, p.get("crm_fields") or {}, crm_rules),
             activities.get(pid, []), transitions.get(pid, []))
            for pid, p in people.items()]


def _today():
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).date()


def against_portal_command(rt: Any, file: str | None) -> int:
    """Rules that can never match on the connected portal: unknown or placeholder forms, activity
    types the portal has not recorded lately, fields no mapping reads. Warnings only (exit 0)."""
    from rich.markup import escape
    from connector.adapters.hubspot.setup import HubSpotSetup
    from connector.core.readiness import OK, definition_findings
    definition = load_definition(Path(file), extra_fields=mapped_fields(rt.config)) if file else rt.definition
    hubspot = HubSpotSetup(rt.engine().marketing, rt.clock)
    findings = definition_findings(definition, hubspot.portal(hubspot.facts()), rt.mapped_fields())
    console = Console(highlight=False, soft_wrap=True)
    warnings = [f for f in findings if f.status != OK]
    for f in warnings:
        console.print(f"[yellow]warning:[/] {escape(f.file)}: {escape(f.key)}: {escape(f.message)} "
                      f"[dim]→ {escape(f.fix)}[/]")
    if not warnings:
        console.print("[green]✓[/] every rule can match on this portal")
    return 0
