"""bench/sync.py's figures as rich tables, each against the bound or target of issue 13."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

TARGET_CONTACTS_PER_S = 900        # 90% of the ~1,000 contacts/s bound under HubSpot's limits
TARGET_HUBSPOT_PER_1000 = 16       # 5 search + 10 write + <=1 company
TARGET_PEAK_RSS_MB = 150
TARGET_RATIO = 1.2                 # leadsync's first sync over tap-hubspot reading only
TARGET_QUIET_PER_FEED = 1


def verdict(ok: bool | None) -> str:
    if ok is None:
        return ""
    return "[green]met[/]" if ok else "[red]missed[/]"


def _n(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _short(route: str) -> str:
    return (route.replace("/services/data/v<version>", "…").replace("/crm/v3/objects/", "objects/")
            .replace("/crm/v3/properties/", "properties/").replace("/crm/v4/associations/", "assoc v4/")
            .replace("?eventType=", " "))


def print_report(result: dict[str, Any], console: Console) -> None:
    n = result["contacts"]
    first = result["leadsync"]["first"]
    peer = result.get("peer")
    sandbox = result["sandbox"]
    console.print(f"[bold]leadsync first sync, {n:,} contacts[/] (brownfield portal), "
                  f"limits [cyan]{result['limits_name']}[/]:")
    console.print(f"  {result['limits_text']}")
    console.print(f"  {result['machine']}")
    if "load_before" in result:
        console.print(f"  load average {result['load_before']:.1f} before, {result['load_after']:.1f} after")
    console.print(f"  sandbox process: seeded in {sandbox['seed_seconds']:.1f} s, peak RSS "
                  f"{_n(sandbox['peak_rss_mb'], 0)} MB, CPU {_n(sandbox.get('cpu_first_sync'))} s "
                  f"during the first sync")
    table = Table(title="Initial load", title_justify="left")
    for column, justify in (("figure", "left"), ("leadsync", "right"), ("target", "right"), ("", "left")):
        table.add_column(column, justify=justify)
    cps = first["contacts_per_s"]
    limited = result["limits_name"] != "none"
    table.add_row("wall time", f"{_n(first['seconds'])} s", "", "")
    table.add_row("contacts/s", _n(cps), f"≥ {TARGET_CONTACTS_PER_S}" if limited else "",
                  verdict(cps >= TARGET_CONTACTS_PER_S) if limited else "")
    processed = first["processed"]
    table.add_row("carrying leadsync_score", f"{processed['scored_share']:.1%}", "100%",
                  verdict(processed["scored"] >= processed["contacts"]))
    table.add_row("people in the state store", f"{processed['state_share']:.1%}", "100%",
                  verdict(processed["state_people"] >= processed["contacts"]))
    hs = first["per_1000"]["hubspot"]
    table.add_row("HubSpot calls / 1,000", _n(hs), f"≤ {TARGET_HUBSPOT_PER_1000}", verdict(hs <= TARGET_HUBSPOT_PER_1000))
    table.add_row("Salesforce calls / 1,000", _n(first["per_1000"]["salesforce"]), "", "")
    table.add_row("HubSpot 429s", str(first["throttled"]), "0", verdict(first["throttled"] == 0))
    rss = result["leadsync"]["peak_rss_mb"]
    table.add_row("peak RSS", f"{_n(rss, 0)} MB", f"≤ {TARGET_PEAK_RSS_MB} MB", verdict(rss <= TARGET_PEAK_RSS_MB))
    table.add_row("outcome", first["outcome"], "ok", verdict(first["outcome"] == "ok"))
    if peer:
        ratio = result["ratio"]
        table.add_row(f"vs {peer['name']}", f"{_n(ratio, 2)}×", f"≥ {TARGET_RATIO}×", verdict(ratio >= TARGET_RATIO))
    console.print(table)
    refused = first["calls"]["systems"].get("hubspot", {}).get("refused", {})
    if throttled := {k.removeprefix("429 "): n for k, n in refused.items() if k.startswith("429 ")}:
        console.print("[dim]HubSpot 429s by route: " + ", ".join(f"{k} ×{n}" for k, n in sorted(throttled.items())) + "[/]")

    if peer:
        table = Table(title="Read-only peer (contacts stream, its own venv)", title_justify="left")
        for column, justify in (("figure", "left"), (peer["name"], "right"), ("leadsync", "right")):
            table.add_column(column, justify=justify)
        table.add_row("wall time", f"{_n(peer['seconds'])} s", f"{_n(first['seconds'])} s")
        table.add_row("contacts/s", _n(peer["contacts_per_s"]), _n(cps))
        table.add_row("records pulled", f"{peer['records']:,}", f"{first['counts'].get('pulled_hubspot', 0):,}")
        table.add_row("HubSpot calls / 1,000", _n(peer["per_1000"]["hubspot"]), _n(hs))
        table.add_row("HubSpot 429s", str(peer["throttled"]), str(first["throttled"]))
        table.add_row("peak RSS", f"{_n(peer['peak_rss_mb'], 0)} MB", f"{_n(rss, 0)} MB")
        console.print(table)

    table = Table(title="Calls by endpoint, per 1,000 contacts (first sync)", title_justify="left")
    for column, justify in (("system", "left"), ("endpoint", "left"), ("calls", "right"), ("/ 1,000", "right")):
        table.add_column(column, justify=justify)
    for system, entry in first["calls"]["systems"].items():
        for route, count in sorted(entry["routes"].items(), key=lambda item: -item[1]):
            table.add_row(system, _short(route), f"{count:,}", _n(1000 * count / n, 2))
    console.print(table)

    _print_cycles(result, console)


def _print_cycles(result: dict[str, Any], console: Console) -> None:
    leadsync = result["leadsync"]
    quiet, incremental = leadsync["quiet"], leadsync["incremental"]
    table = Table(title="The cycles after the load (restart: `leadsync sync` in a new process)",
                  title_justify="left")
    for column, justify in (("cycle", "left"), ("figure", "left"), ("value", "right"), ("target", "right"), ("", "left")):
        table.add_column(column, justify=justify)
    for label, cycle in (("quiet", quiet), ("quiet, restart", leadsync.get("restart"))):
        if cycle is None:
            continue
        table.add_row(label, "seconds", _n(cycle["seconds"]), "", "")
        table.add_row("", "writes", str(cycle["writes"]), "0", verdict(cycle["writes"] == 0))
        table.add_row("", "max calls / feed", str(cycle["max_per_route"]), f"≤ {TARGET_QUIET_PER_FEED}",
                      verdict(cycle["max_per_route"] <= TARGET_QUIET_PER_FEED))
        table.add_row("", "HubSpot / SF calls", f"{cycle['hubspot']} / {cycle['salesforce']}", "", "")
    edited = incremental["edited"]
    per = incremental["per_1000_changed"]["hubspot"]
    table.add_row(f"{edited:,} edited", "seconds", _n(incremental["seconds"]), "", "")
    table.add_row("", "HubSpot / 1,000 chg", _n(per), f"≤ {TARGET_HUBSPOT_PER_1000}",
                  verdict(per <= TARGET_HUBSPOT_PER_1000))
    table.add_row("", "SF / 1,000 changed", _n(incremental["per_1000_changed"]["salesforce"]), "", "")
    table.add_row("handoff p50/p95", "daemon", "bench/handoff.py", "p95 ≤ 10 s", "")
    console.print(table)
    for label, cycle in (("quiet", quiet), ("quiet, restart", leadsync.get("restart"))):
        if cycle and cycle["busiest"]:
            busiest = ", ".join(f"{_short(r)} ×{c}" for r, c in cycle["busiest"])
            console.print(f"[dim]{label}: feeds called more than once: {busiest}[/]")
