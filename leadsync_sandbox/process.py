"""The sandbox as a process of its own: ``python -m leadsync_sandbox.process --ready FILE ...``.

A benchmark runs the emulators here, apart from the client it measures, so the client's
memory and CPU are its own. Once serving, the process writes ``FILE`` (JSON: the URLs, the
config it wrote, the environment a client needs, how long seeding took) and serves until
SIGTERM or SIGINT. Everything else goes over HTTP: ``/__admin__/calls/summary`` and the other
admin routes of each emulator.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Sequence

from leadsync_sandbox.server import PORTALS, Sandbox


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m leadsync_sandbox.process", description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="where certificates, the config and the state store go")
    p.add_argument("--ready", required=True, help="the JSON file written once the emulators serve")
    p.add_argument("--portal", choices=PORTALS, default="brownfield")
    p.add_argument("--people", type=int, default=None)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--search-lag", type=float, default=None, metavar="SECONDS")
    p.add_argument("--rate-per-10s", type=int, default=100, help="HubSpot's rolling ten-second limit")
    p.add_argument("--search-per-second", type=int, default=5, help="HubSpot's search limit")
    p.add_argument("--daily", type=int, default=250_000, help="HubSpot's daily limit")
    p.add_argument("--searches-in-burst", action=argparse.BooleanOptionalAction, default=True,
                   help="whether a search also spends a call of the ten-second window")
    p.add_argument("--hubspot-latency", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--salesforce-latency", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--salesforce-daily", type=int, default=15_000, help="the org's daily API allocation")
    p.add_argument("--state-url", default=None, help="leadsync's state store (default: sqlite in --dir)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    directory = Path(args.dir).resolve()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    began = time.monotonic()
    sandbox = Sandbox(directory, seed=args.seed, people=args.people, portal=args.portal,
                      search_lag_seconds=args.search_lag, hubspot_rate_per_10s=args.rate_per_10s,
                      hubspot_search_per_second=args.search_per_second, hubspot_daily_limit=args.daily,
                      searches_in_burst=args.searches_in_burst, salesforce_daily_limit=args.salesforce_daily,
                      latency_seconds={"hubspot": args.hubspot_latency, "salesforce": args.salesforce_latency})
    seeded = time.monotonic() - began
    with sandbox:
        state_url = args.state_url or f"sqlite:///{directory / 'leadsync.db'}"
        config = sandbox.write_config(directory / "leadsync.toml", state_url)
        ready = {"pid": os.getpid(), "hubspot_url": sandbox.hubspot_url, "salesforce_url": sandbox.salesforce_url,
                 "config": str(config), "state_url": state_url, "env": sandbox.env(),
                 "people": sandbox.manifest.people if sandbox.manifest else len(sandbox.hubspot.objects["contacts"]),
                 "contacts": len(sandbox.hubspot.objects["contacts"]), "seed_seconds": round(seeded, 2),
                 "ca_bundle": str(sandbox.certs.bundle_path) if sandbox.certs else ""}
        target = Path(args.ready)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(json.dumps(ready, indent=2), encoding="utf-8")
        partial.replace(target)   # whoever waits for the file never reads half of it
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
