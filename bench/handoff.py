"""Handoff latency under the daemon, polling only vs with HubSpot webhooks, against the sandbox.

    python bench/handoff.py [--contacts 20] [--every 2.3] [--latency-ms 50] [--webhook-delay 0]

For each mode a fresh sandbox (HubSpot's limits: 100 calls per 10 s, 5 searches/s; ``--latency-ms``
added to every API call) and a fresh ``leadsync daemon`` in its own process, at the default
schedule (hot loop every 15 s). Once the daemon is past its first sync (and the hot-loop cycle
after it, which re-reads the first sync's writes), ``--contacts`` qualifying
contacts are created ``--every`` seconds apart (a contact, its demo request and a pricing-page
view: one form fill); each one's handoff latency is the time until its Lead exists in the
Salesforce sandbox. With webhooks the sandbox delivers signed ``contact.creation`` /
``contact.propertyChange`` events (``--webhook-delay`` seconds after the change: HubSpot
documents no delivery time) to the daemon's receiver. Prints p50 / p95 / max per mode against
the target (p95 <= 10 s) and the HubSpot calls each mode spent per handoff.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from connector.state.schema import runs  # noqa: E402
from connector.state.store import Store  # noqa: E402
from leadsync_sandbox.faults import FaultRule  # noqa: E402
from leadsync_sandbox.server import Sandbox  # noqa: E402

TARGET_P95 = 10.0
PATH = "/hubspot/webhooks"
SUBSCRIBED = ("jobtitle", "wants_sales_contact", "hs_analytics_num_page_views")
LEADSYNC = str(Path(sys.executable).with_name("leadsync"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_for(sandbox: Sandbox, directory: Path, webhooks_port: int | None) -> Path:
    """The sandbox's config at the default schedule (its demo-fast [schedule] lines dropped)."""
    path = sandbox.write_config(directory / "leadsync.toml", f"sqlite:///{directory / 'state.db'}")
    lines = [line for line in path.read_text().splitlines()
             if not line.startswith(("hubspot_every", "salesforce_every", "reconcile_cron"))]
    if webhooks_port:
        lines += ["", "[webhooks]", f"port = {webhooks_port}", f'path = "{PATH}"',
                  'secret_env = "BENCH_HUBSPOT_APP_SECRET"', ""]
    path.write_text("\n".join(lines) + "\n")
    return path


def steady(store: Store) -> bool:
    """The first sync done, and the hot-loop cycle after it that re-reads its writes."""
    with store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(runs.c.kind).where(runs.c.outcome.in_(("ok", "partial"))))]
    return kinds.count("hubspot") >= 2 and "salesforce" in kinds


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"leadsync-handoff-{mode}-") as tmp:
        directory = Path(tmp)
        sandbox = Sandbox(directory / "sandbox", people=args.people).start()
        try:
            for system in ("hubspot", "salesforce"):
                if args.latency_ms:
                    sandbox.faults.add(FaultRule(system=system, kind="delay", delay=args.latency_ms / 1000, times=0))
            port = free_port() if mode == "webhooks" else None
            config = config_for(sandbox, directory, port)
            secret = sandbox.hubspot.oauth_app["client_secret"]
            env = {**os.environ, **sandbox.env(), "BENCH_HUBSPOT_APP_SECRET": secret}
            if port:
                sandbox.hubspot.subscribe_webhooks(f"http://127.0.0.1:{port}{PATH}", secret, properties=SUBSCRIBED,
                                                   delay_seconds=args.webhook_delay)
            log = open(directory / "daemon.log", "w")
            daemon = subprocess.Popen([LEADSYNC, "--config", str(config), "daemon"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
            store = Store(f"sqlite:///{directory / 'state.db'}")
            try:
                deadline = time.monotonic() + 300
                while not steady(store):
                    if daemon.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"{mode}: the daemon did not reach its steady state; see its log:\n"
                                         + (directory / "daemon.log").read_text()[-3000:])
                    time.sleep(0.2)
                result = measure(sandbox, mode, args)
                if args.show_log:
                    print((directory / "daemon.log").read_text()[-6000:])
                return result
            finally:
                daemon.terminate()
                daemon.wait(timeout=60)
                store.close()
                log.close()
        finally:
            sandbox.hubspot.unsubscribe_webhooks()
            sandbox.close()


def measure(sandbox: Sandbox, mode: str, args: argparse.Namespace) -> dict[str, object]:
    hubspot, salesforce = sandbox.hubspot, sandbox.salesforce
    mark = sandbox.calls.mark()
    created: dict[str, float] = {}
    arrived: dict[str, float] = {}
    started = time.monotonic()
    next_at = started
    n = 0

    def look() -> None:
        for lead in salesforce.records("Lead"):
            hubspot_id = lead.get("HubSpot_Contact_Id__c")
            if hubspot_id in created and hubspot_id not in arrived:
                arrived[hubspot_id] = time.monotonic()

    deadline = None
    while len(arrived) < args.contacts:
        now = time.monotonic()
        if n < args.contacts and now >= next_at:
            contact_id = hubspot.add_contact({
                "email": f"bench.{mode}.{n}@handoff-{n}.example", "firstname": "Bench", "lastname": f"Handoff{n}",
                "company": f"Handoff {n} Inc", "jobtitle": "VP Engineering", "numemployees": "500-1000",
                "industry": "Software", "country": "United States"})
            hubspot.add_demo_request(contact_id)
            hubspot.add_page_view(contact_id, "https://www.example-vendor.com/pricing")
            created[contact_id] = time.monotonic()
            n += 1
            next_at += args.every
            if n == args.contacts:
                deadline = time.monotonic() + 120
        look()
        if deadline and time.monotonic() > deadline:
            break
        time.sleep(0.02)
    latencies = [arrived[c] - created[c] for c in created if c in arrived]
    calls = [c for c in sandbox.calls.since(mark) if c.system == "hubspot"]
    return {"mode": mode, "latencies": latencies, "missing": len(created) - len(latencies),
            "hubspot_calls": len(calls), "seconds": time.monotonic() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20, help="qualifying contacts created per mode")
    parser.add_argument("--every", type=float, default=2.3, help="seconds between two of them")
    parser.add_argument("--people", type=int, default=150, help="contacts in the sandbox portal")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every API call")
    parser.add_argument("--webhook-delay", type=float, default=0.0, help="seconds before HubSpot sends an event")
    parser.add_argument("--modes", default="polling,webhooks")
    parser.add_argument("--show-log", action="store_true", help="print the end of each daemon's log")
    args = parser.parse_args()
    results = [run_mode(mode, args) for mode in args.modes.split(",")]
    print(f"\nHandoff latency, daemon at the default schedule (hot loop 15 s), {args.contacts} qualifying contacts "
          f"{args.every:g} s apart, {args.latency_ms:g} ms per API call, webhook delay {args.webhook_delay:g} s")
    print(f"{'mode':<10} {'handoffs':>8} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'HubSpot calls/handoff':>22}  target p95 <= {TARGET_P95:g} s")
    ok = True
    for r in results:
        lat = r["latencies"]
        if not lat:
            print(f"{r['mode']:<10} {0:>8}  (no Lead arrived)")
            ok = False
            continue
        p95 = percentile(lat, 0.95)
        verdict = "met" if p95 <= TARGET_P95 and not r["missing"] else "MISSED"
        ok = ok and verdict == "met"
        print(f"{r['mode']:<10} {len(lat):>8} {percentile(lat, 0.5):>7.2f} {p95:>7.2f} {max(lat):>7.2f} "
              f"{r['hubspot_calls'] / len(lat):>22.1f}  {verdict}" + (f" ({r['missing']} never arrived)" if r["missing"] else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
