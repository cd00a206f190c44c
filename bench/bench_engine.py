"""Throughput of the qualification engine on synthetic leads, with the shipped definition.

    .venv/bin/python bench/bench_engine.py [--leads 1000000] [--activities 20] [--fresh]

Leads are generated lazily, one at a time, and never kept, so memory stays flat. By default
each lead's activities are a varying slice of a pool of pre-built Activity objects (thousands of
distinct URLs, campaigns and dates), which keeps the generator's own cost out of the way; with
``--fresh`` every lead gets newly built Activity objects. Prints end-to-end and engine-only
leads/s, the stage mix, and peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.core.definition import DEFAULT_BANT_FIELDS, load_definition  # noqa: E402
from connector.core.model import Activity  # noqa: E402
from connector.core.qualify import evaluate  # noqa: E402

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
SITE = "https://www.example-vendor.com"
FORMS = ["demo-request", "contact-us", "free-trial", "whitepaper-download", "datasheet-download",
         "newsletter-signup", "webinar-registration"]
TITLES = ["VP Engineering", "Director of IT", "Software Engineer", "Marketing Manager", "CTO",
          "Student", "Head of Operations", "Analyst", "", None]
INDUSTRIES = ["Software", "COMPUTER_SOFTWARE", "Fintech", "Retail", "Healthcare", "Manufacturing", None]
DOMAINS = ["acme.com", "globex.io", "initech.com", "umbrella.co", "gmail.com", "yahoo.com", "rivalsync.com"]
COUNTRIES = ["United States", "Germany", "Brazil", "UK", "India", None]


def random_activity(rng: random.Random) -> Activity:
    """One plausible activity from the last 120 days (some fall outside the 90-day window)."""
    at = NOW - timedelta(seconds=rng.randrange(120 * 86400))
    roll = rng.random()
    if roll < 0.40:
        path = rng.choice(["/pricing", "/careers", "/product", f"/blog/post-{rng.randrange(400)}", "/",
                           f"/product/feature-{rng.randrange(40)}", f"/pricing?utm_source=ad{rng.randrange(50)}"])
        return Activity("page_view", at, {"url": SITE + path})
    if roll < 0.55:
        form = rng.choices(FORMS, weights=[1, 1, 1, 3, 2, 4, 2])[0]
        return Activity("form_submission", at, {"form_id": form, "form_name": form.replace("-", " ").title()})
    if roll < 0.75:
        return Activity("email_open", at, {"campaign": f"c{rng.randrange(300)}"})
    if roll < 0.88:
        return Activity("email_click", at, {"url": SITE + "/product", "campaign": f"c{rng.randrange(300)}"})
    if roll < 0.93:
        return Activity("webinar_attended", at, {"campaign": f"w{rng.randrange(30)}"})
    if roll < 0.96:
        return Activity("sales_touch", at, {"kind": rng.choice(["call", "email", "meeting"])})
    if roll < 0.98:
        return Activity("email_unsubscribe", at, {"campaign": f"c{rng.randrange(300)}"})
    return Activity("meeting_booked", at, {})


def random_lead(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "email": f"person{n}@{rng.choice(DOMAINS)}",
        "first_name": rng.choice(["Ann", "Bo", "Cy", None]),
        "last_name": rng.choice(["Lee", "Ng", "Ortiz"]),
        "company": rng.choice(["Acme", "Globex", "Initech", ""]),
        "title": rng.choice(TITLES),
        "industry": rng.choice(INDUSTRIES),
        "employees": rng.choice([None, 20, 80, 150, 450, "1,200", 5000, rng.randrange(10, 3000)]),
        "country": rng.choice(COUNTRIES),
        "wants_sales_contact": rng.random() < 0.05,
    }


def people(count: int, per_lead: int, fresh: bool, seed: int = 7) -> Iterator[tuple[dict, list[Activity]]]:
    """Yield (lead, activities) lazily; nothing is kept once the consumer moves on."""
    rng = random.Random(seed)
    leads = [random_lead(rng, n) for n in range(1000)]
    pool = [random_activity(rng) for _ in range(50_000)]
    span = len(pool) - per_lead
    for n in range(count):
        lead = leads[n % len(leads)]
        if fresh:
            acts = [random_activity(rng) for _ in range(per_lead)]
        else:
            start = (n * 7919) % span        # a different window of the pool for each lead
            acts = pool[start:start + per_lead]
        yield lead, acts


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=20, help="activities per lead")
    parser.add_argument("--fresh", action="store_true", help="build new Activity objects for every lead")
    args = parser.parse_args(argv)

    definition = load_definition(Path(__file__).resolve().parents[1] / "mappings" / "qualification.toml",
                                 DEFAULT_BANT_FIELDS)
    stream = people(args.leads, args.activities, args.fresh)
    stages: Counter[str] = Counter()
    near = 0
    engine = 0.0
    clock = time.perf_counter
    print(f"setup: peak RSS {rss_mb():.0f} MiB", flush=True)
    started = clock()
    for n, (lead, acts) in enumerate(stream, 1):
        before = clock()
        result = evaluate(lead, acts, definition, NOW)
        engine += clock() - before
        stages[result.stage] += 1
        near += result.missing is not None
        if n % 200_000 == 0:
            print(f"  {n:>9,} leads  {n / (clock() - started):>9,.0f} leads/s  peak RSS {rss_mb():.0f} MiB", flush=True)
    total = clock() - started
    print(f"leads: {args.leads:,} × {args.activities} activities ({'fresh' if args.fresh else 'pooled'})")
    print(f"end to end: {total:.2f} s, {args.leads / total:,.0f} leads/s (one core)")
    print(f"engine only: {engine:.2f} s, {args.leads / engine:,.0f} leads/s")
    print(f"peak RSS: {rss_mb():.0f} MiB")
    mix = ", ".join(f"{stage} {count / args.leads:.1%}" for stage, count in stages.most_common())
    print(f"stages: {mix}; near-qualified {near / args.leads:.1%}")


if __name__ == "__main__":
    main()
