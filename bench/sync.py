"""Throughput of leadsync's first sync against the sandbox, beside a read-only peer (issue 13).

    python bench/sync.py --contacts 20000 --limits hubspot-default [--json]

The sandbox (brownfield portal, N contacts) runs in a process of its own. On the same run:
1. the peer, singer tap-hubspot 4.5.0 in its own venv (bench/.peer-venv, made on first use),
   reads the contacts stream: contacts/s, HubSpot calls per 1,000, peak RSS;
2. one leadsync process (bench/leadsync_cycles.py) runs the first sync, a quiet cycle right
   after it, and a cycle after K contacts were edited; then a `leadsync sync` in a new process.

Figures: wall time and contacts/s of the first sync, the share of contacts that reached the
far side (carrying leadsync_score in HubSpot; people in the state store), HubSpot and
Salesforce calls per 1,000 contacts by endpoint (the sandbox's call log), peak RSS of the
leadsync process alone (wait4's ru_maxrss), the quiet cycle's calls and writes, the
incremental cycle's calls per 1,000 changed, and leadsync's ratio to the peer, each against
its target. ``--limits hubspot-default``: 100 calls per rolling 10 s, 5 searches/s counted
apart from the 10-s window (the reading issue 13's bound takes), 50 ms per call on HubSpot
and Salesforce. ``--limits none``: no limits and no latency.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measured import Conversation, run  # noqa: E402
from peer_venv import TAP_HUBSPOT, peer_python  # noqa: E402
from sandbox_process import Limits, SandboxProcess  # noqa: E402
from sync_report import print_report  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
UNLIMITED = 10**9
PRESETS = {
    "hubspot-default": Limits(rate_per_10s=100, search_per_second=5, daily=250_000, searches_in_burst=False,
                              hubspot_latency=0.05, salesforce_latency=0.05),
    "none": Limits(rate_per_10s=UNLIMITED, search_per_second=UNLIMITED, daily=UNLIMITED, searches_in_burst=False,
                   hubspot_latency=0.0, salesforce_latency=0.0, salesforce_daily=UNLIMITED),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=20_000, help="people in the brownfield portal")
    p.add_argument("--limits", choices=sorted(PRESETS), default="hubspot-default")
    p.add_argument("--rate-per-10s", type=int, help="HubSpot's rolling ten-second limit (overrides --limits)")
    p.add_argument("--search-per-second", type=int, help="HubSpot's search limit (overrides --limits)")
    p.add_argument("--searches-in-burst", action=argparse.BooleanOptionalAction, default=None,
                   help="count searches in the ten-second window too (default: no, as issue 13's bound)")
    p.add_argument("--hubspot-latency", type=float, metavar="SECONDS", help="per HubSpot call (overrides --limits)")
    p.add_argument("--salesforce-latency", type=float, metavar="SECONDS", help="per Salesforce call")
    p.add_argument("--search-lag", type=float, metavar="SECONDS", help="HubSpot's search index lag (default 2.5)")
    p.add_argument("--edit", type=int, default=None, help="contacts edited before the incremental cycle "
                   "(default 1,000, at most a tenth of the portal)")
    p.add_argument("--peer", choices=("tap-hubspot", "none"), default="tap-hubspot")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dir", default=None, help="keep the sandbox, state store and logs here")
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    p.add_argument("--save", metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument("--report", metavar="FILE", help="print the tables of a run saved with --save, run nothing")
    return p.parse_args(argv)


def limits_of(args: argparse.Namespace) -> Limits:
    base = PRESETS[args.limits]
    overrides = {"rate_per_10s": args.rate_per_10s, "search_per_second": args.search_per_second,
                 "searches_in_burst": args.searches_in_burst, "hubspot_latency": args.hubspot_latency,
                 "salesforce_latency": args.salesforce_latency, "search_lag": args.search_lag}
    return Limits(**{**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}})


def describe(limits: Limits) -> str:
    def rate(value: int, unit: str) -> str:
        return "unlimited" if value >= UNLIMITED else f"{value} {unit}"
    searches = "in" if limits.searches_in_burst else "outside"
    return (f"{rate(limits.rate_per_10s, 'calls/10 s')}, {rate(limits.search_per_second, 'searches/s')} "
            f"({searches} the 10-s window);\n  latency per call {limits.hubspot_latency * 1000:g} ms HubSpot, "
            f"{limits.salesforce_latency * 1000:g} ms Salesforce")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def per_1000(calls: dict[str, Any], count: int) -> dict[str, float]:
    systems = calls["systems"]
    return {s: 1000 * systems.get(s, {}).get("calls", 0) / max(count, 1) for s in ("hubspot", "salesforce")}


def throttled(calls: dict[str, Any]) -> int:
    return int(calls["systems"].get("hubspot", {}).get("statuses", {}).get("429", 0))


def quiet_figures(calls: dict[str, Any], seconds: float) -> dict[str, Any]:
    routes = {f"{s}: {r}": c for s, e in calls["systems"].items() for r, c in e["routes"].items()}
    busiest = sorted(((r, c) for r, c in routes.items() if c > 1), key=lambda item: -item[1])
    return {"seconds": seconds, "calls": calls, "writes": sum(e["writes"] for e in calls["systems"].values()),
            "hubspot": calls["systems"].get("hubspot", {}).get("calls", 0),
            "salesforce": calls["systems"].get("salesforce", {}).get("calls", 0),
            "max_per_route": max(routes.values(), default=0), "busiest": busiest[:6]}


def state_people(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM people WHERE NOT deleted").fetchone()[0])


def run_peer(sandbox: SandboxProcess, work: Path, contacts: int) -> dict[str, Any]:
    python = peer_python()
    env = {**os.environ, **sandbox.env}
    catalog = work / "tap-catalog.json"
    base, token = sandbox.ready["hubspot_url"], sandbox.env["HUBSPOT_TOKEN"]
    subprocess.run([str(python), str(BENCH / "peer_tap.py"), "discover", base, token, str(catalog)],
                   env=env, cwd=work, check=True, stdout=subprocess.DEVNULL,
                   stderr=open(work / "tap-discover.log", "w"))
    mark = sandbox.mark()
    result_file = work / "tap-result.json"
    with open(work / "tap-sync.log", "w") as log:
        finished = run([str(python), str(BENCH / "peer_tap.py"), "sync", base, token, str(catalog), str(result_file)],
                       env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=log)
    calls = sandbox.calls_since(mark)
    if finished.returncode != 0:
        raise RuntimeError(f"tap-hubspot failed (exit {finished.returncode}): see {work / 'tap-sync.log'}")
    emitted = json.loads(result_file.read_text())
    return {"name": f"tap-hubspot {emitted['version']}", "seconds": finished.seconds, "records": emitted["records"],
            "contacts_per_s": emitted["records"] / finished.seconds, "calls": calls,
            "per_1000": per_1000(calls, contacts), "throttled": throttled(calls), "peak_rss_mb": finished.peak_rss_mb}


def run_leadsync(sandbox: SandboxProcess, work: Path, contacts: int, edit: int, lag: float) -> dict[str, Any]:
    env = {**os.environ, **sandbox.env, "PYTHONPATH": str(ROOT)}
    stderr = open(work / "leadsync.log", "w")
    conversation = Conversation([sys.executable, str(BENCH / "leadsync_cycles.py"), sandbox.config],
                                env=env, cwd=work, stderr=stderr)
    started = conversation.read()
    cycles: dict[str, Any] = {}
    mark, cpu = sandbox.mark(), sandbox.cpu_seconds()
    answer, seconds = conversation.ask("first")
    calls = sandbox.calls_since(mark)
    sandbox_cpu = sandbox.cpu_seconds() - cpu
    counts = sandbox.contact_counts()
    live, people = counts["contacts"], state_people(sandbox.state_db)
    cycles["first"] = {
        "seconds": seconds, "contacts_per_s": contacts / seconds, "outcome": answer["outcome"],
        "message": answer["message"], "counts": answer["counts"], "calls": calls,
        "per_1000": per_1000(calls, contacts), "throttled": throttled(calls), "peak_rss_mb": answer["peak_rss_mb"],
        "sandbox_cpu_seconds": sandbox_cpu, "processed": {"contacts": live, "scored": counts["with"]["leadsync_score"],
                      "scored_share": counts["with"]["leadsync_score"] / max(live, 1),
                      "state_people": people, "state_share": people / max(live, 1)}}
    mark = calls["mark"]
    answer, seconds = conversation.ask("quiet")
    calls = sandbox.calls_since(mark)
    cycles["quiet"] = {**quiet_figures(calls, seconds), "outcome": answer["outcome"], "counts": answer["counts"]}
    edited = sandbox.edit_contacts(edit, f"Edited {int(time.time())}")
    time.sleep(lag + 0.5)          # the edits reach search first, so one cycle sees them all
    mark = sandbox.mark()
    answer, seconds = conversation.ask("incremental")
    calls = sandbox.calls_since(mark)
    changed = {s: 1000 * calls["systems"].get(s, {}).get("calls", 0) / max(len(edited), 1)
               for s in ("hubspot", "salesforce")}
    cycles["incremental"] = {"edited": len(edited), "seconds": seconds, "calls": calls, "per_1000_changed": changed,
                             "outcome": answer["outcome"], "counts": answer["counts"]}
    finished = conversation.close()
    cycles["process_start_seconds"] = started["seconds"]
    cycles["peak_rss_mb"] = max(finished.peak_rss_mb, answer["peak_rss_mb"])
    mark = sandbox.mark()
    with open(work / "leadsync-restart.json", "w") as out:
        restarted = run([str(Path(sys.executable).with_name("leadsync")), "--config", sandbox.config, "sync", "--json"],
                        env=env, cwd=work, stdout=out, stderr=stderr)
    cycles["restart"] = quiet_figures(sandbox.calls_since(mark), restarted.seconds)
    cycles["restart"]["exit"] = restarted.returncode
    return cycles


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limits = limits_of(args)
    console = Console(width=80, stderr=args.json)
    if args.report:
        print_report(json.loads(Path(args.report).read_text(encoding="utf-8")), console)
        return 0
    edit = args.edit if args.edit is not None else min(1000, max(1, args.contacts // 10))
    lag = limits.search_lag if limits.search_lag is not None else 2.5
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-") as tmp:
        work = Path(args.dir).resolve() if args.dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        console.print(f"seeding a brownfield portal of {args.contacts:,} contacts in the sandbox process…")
        with SandboxProcess(work / "sandbox", people=args.contacts, limits=limits, seed=args.seed) as sandbox:
            result: dict[str, Any] = {
                "command": "python bench/sync.py " + " ".join(sys.argv[1:] if argv is None else argv),
                "machine": machine(), "contacts": args.contacts, "limits_name": args.limits,
                "limits": limits.__dict__, "limits_text": describe(limits),
                "sandbox": {"seed_seconds": sandbox.ready["seed_seconds"]}, "load_before": os.getloadavg()[0]}
            if args.peer != "none":
                console.print(f"peer: {TAP_HUBSPOT} reading the contacts stream…")
                result["peer"] = run_peer(sandbox, work, args.contacts)
                if limits.rate_per_10s < UNLIMITED:
                    time.sleep(10.5)     # leadsync starts with the ten-second window empty
            console.print("leadsync: first sync, quiet cycle, incremental cycle, restart…")
            result["leadsync"] = run_leadsync(sandbox, work, args.contacts, edit, lag)
            result["sandbox"]["peak_rss_mb"] = sandbox.rss_mb()
            result["sandbox"]["cpu_first_sync"] = result["leadsync"]["first"]["sandbox_cpu_seconds"]
            result["load_after"] = os.getloadavg()[0]
        if "peer" in result:
            result["ratio"] = result["leadsync"]["first"]["contacts_per_s"] / result["peer"]["contacts_per_s"]
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
