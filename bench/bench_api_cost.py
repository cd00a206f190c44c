"""API cost of leadsync's cycles, measured against the built-in sandbox, projected to a day.

    python bench/bench_api_cost.py [--people 300]

Counts the calls each kind of cycle makes (first full sync, the echo of its own writes, a quiet
hot-loop cycle, a cycle with one new page view, a quiet Salesforce feedback cycle, the nightly
reconciliation) and projects a quiet day at the default schedule (hot loop every 15 s, activity
pull and feedback every 2 min, one reconciliation) against HubSpot's daily cap and a Salesforce org's allocation.
Waits out the lookback once (about 30 s) so the quiet cycles are really quiet.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.app.runtime import Runtime  # noqa: E402
from leadsync_sandbox.server import Sandbox  # noqa: E402

HOT_LOOPS_PER_DAY = 86400 // 15
FEEDBACK_LOOPS_PER_DAY = 86400 // 120
ACTIVITY_PULLS_PER_DAY = 86400 // 120
HUBSPOT_DAILY_CAPS = {"Professional (250,000/day)": 250_000, "Enterprise (500,000/day)": 500_000}
SALESFORCE_DAILY = {"Enterprise, 10 users (115,000/day)": 115_000, "Unlimited, 50 users (300,000/day)": 300_000}


def measure(sandbox: Sandbox, action) -> tuple[dict[str, int], float, object]:
    mark = sandbox.calls.mark()
    started = time.monotonic()
    result = action()
    seconds = time.monotonic() - started
    calls = sandbox.calls.since(mark)
    return {s: sum(1 for c in calls if c.system == s) for s in ("hubspot", "salesforce")}, seconds, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=300)
    args = parser.parse_args()
    console = Console()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "sandbox", people=args.people) as sandbox:
        os.environ.update(sandbox.env())
        config = sandbox.write_config(Path(tmp) / "leadsync.toml", f"sqlite:///{Path(tmp) / 'state.db'}")
        with Runtime.from_config_path(str(config)) as rt:
            lookback = rt.config.sync.lookback.total_seconds()
            rows.append(("first full sync", *measure(sandbox, rt.sync)))
            rows.append(("next cycle (re-reads its own writes)", *measure(sandbox, rt.sync)))
            # A window starts one lookback before the previous cycle began: the writes stay in
            # range for the cycles within that lookback (two, at the default 15 s / 30 s).
            console.print(f"waiting out the {lookback:.0f} s lookback so the next cycles are quiet…")
            time.sleep(lookback + 1.5)
            rows.append(("last cycle within the lookback", *measure(sandbox, rt.sync)))
            quiet_hot = measure(sandbox, lambda: rt.sync(kind="hubspot", legs=("marketing",)))
            rows.append(("quiet hot-loop cycle", *quiet_hot))
            every = rt.engine().activities_every
            rt.engine().activities_every = rt.engine().activities_every * 0   # the timer is due now
            timer_pull = measure(sandbox, lambda: rt.sync(kind="hubspot", legs=("marketing",)))
            rt.engine().activities_every = every
            rows.append((f"quiet hot-loop cycle with the {every.total_seconds():.0f} s activity pull", *timer_pull))
            quiet_feedback = measure(sandbox, lambda: rt.sync(kind="salesforce", legs=("crm",)))
            rows.append(("quiet feedback cycle", *quiet_feedback))
            contact = sandbox.hubspot.contacts()[0]["id"]
            sandbox.hubspot.add_page_view(contact, "https://www.example-vendor.com/pricing")
            rows.append(("hot-loop cycle, one new page view", *measure(sandbox, lambda: rt.sync(legs=("marketing",)))))
            reconcile = measure(sandbox, rt.reconcile)
            rows.append(("nightly reconciliation", *reconcile))

    table = Table(title=f"API calls per cycle ({args.people} contacts in the sandbox)")
    for column in ("cycle", "HubSpot calls", "Salesforce calls", "seconds"):
        table.add_column(column, justify="right" if column != "cycle" else "left")
    for name, calls, seconds, _ in rows:
        table.add_row(name, str(calls["hubspot"]), str(calls["salesforce"]), f"{seconds:.2f}")
    console.print(table)

    day_hubspot = HOT_LOOPS_PER_DAY * quiet_hot[0]["hubspot"] + FEEDBACK_LOOPS_PER_DAY * quiet_feedback[0]["hubspot"] \
        + ACTIVITY_PULLS_PER_DAY * (timer_pull[0]["hubspot"] - quiet_hot[0]["hubspot"]) \
        + reconcile[0]["hubspot"]
    day_salesforce = HOT_LOOPS_PER_DAY * quiet_hot[0]["salesforce"] + FEEDBACK_LOOPS_PER_DAY * quiet_feedback[0]["salesforce"] \
        + reconcile[0]["salesforce"]
    table = Table(title="A quiet day at the default schedule (hot loop 15 s, activities and feedback every 2 min, "
                        "one reconciliation)")
    for column in ("system", "calls per day", "allocation", "share"):
        table.add_column(column)
    for name, cap in HUBSPOT_DAILY_CAPS.items():
        table.add_row("HubSpot", f"{day_hubspot:,}", name, f"{day_hubspot / cap:.1%}")
    for name, cap in SALESFORCE_DAILY.items():
        table.add_row("Salesforce", f"{day_salesforce:,}", name, f"{day_salesforce / cap:.1%}")
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
