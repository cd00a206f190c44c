"""Throughput of the qualification engine on synthetic leads, with the shipped definition.

    .venv/bin/python bench/bench_engine.py [--leads 200000] [--activities 20] [--fresh] [--workers 2]

Leads are generated lazily, one at a time, and never kept, so memory stays flat. By default
each lead's activities are a varying slice of a pool of pre-built Activity objects (thousands of
distinct URLs, campaigns and dates), which keeps the generator's own cost out of the way; with
``--fresh`` every lead gets newly built Activity objects.

Each path scores the same leads, and its figure is leads per CPU-second of the scoring alone
(``time.process_time``), so "per core" holds on a machine other work shares:
- ``full``: ``qualify.evaluate``, the explaining path (sync writes, ``leadsync explain``);
- ``score only``: ``fastscore.score``, the same verdict without the explanation;
- ``score only, prepared``: a person's fields judged and activities matched once
  (``ScorePlan.facts``/``prepare``, instants as integer microseconds), then scored at one moment;
  what ``definition simulate`` does at every week's end. The one-off preparation is shown apart.
- with ``--workers N``: the score-only path in N processes, each scoring its own share of the
  leads; per core and in total (wall clock).
Every path is checked to give the same stage mix. Prints each against the 100,000 leads/s
target, the stage mix, and peak RSS.
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
from connector.core.fastscore import micros, score, score_plan  # noqa: E402
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


TARGET = 100_000


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _definition() -> Any:
    return load_definition(Path(__file__).resolve().parents[1] / "mappings" / "qualification.toml",
                           DEFAULT_BANT_FIELDS)


def run_path(path: str, count: int, per_lead: int, fresh: bool, seed: int = 7) -> tuple[float, float, Counter[str]]:
    """Score ``count`` leads on one path: (CPU seconds scoring, CPU seconds preparing, stage mix)."""
    definition = _definition()
    plan = score_plan(definition)
    now_us = micros(NOW)
    stages: Counter[str] = Counter()
    scoring = preparing = 0.0
    cpu = time.process_time
    for lead, acts in people(count, per_lead, fresh, seed):
        if path == "prepared":
            before = cpu()
            facts, prepared = plan.facts(lead), plan.prepare(acts)
            middle = cpu()
            stage = plan.score_prepared(facts, prepared, now_us).stage
            scoring += cpu() - middle
            preparing += middle - before
        else:
            before = cpu()
            stage = (evaluate(lead, acts, definition, NOW) if path == "full" else score(lead, acts, definition, NOW)).stage
            scoring += cpu() - before
        stages[stage] += 1
    return scoring, preparing, stages


def _worker(job: tuple[int, int, bool, int]) -> tuple[int, float, Counter[str]]:
    count, per_lead, fresh, seed = job
    scoring, _, stages = run_path("score", count, per_lead, fresh, seed)
    return count, scoring, stages


def run_pool(workers: int, count: int, per_lead: int, fresh: bool) -> tuple[float, list[tuple[int, float]], Counter[str]]:
    """The score-only path in ``workers`` processes; (wall seconds, per worker (leads, CPU s), mix)."""
    import multiprocessing
    share = [count // workers + (i < count % workers) for i in range(workers)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_worker, [(n, per_lead, fresh, 7 + i) for i, n in enumerate(share)])
    wall = time.perf_counter() - started
    mix: Counter[str] = Counter()
    for _, _, stages in results:
        mix.update(stages)
    return wall, [(n, cpu) for n, cpu, _ in results], mix


def _line(label: str, leads: int, seconds: float) -> str:
    rate = leads / seconds
    return f"{label:<32} {rate:>9,.0f} leads/s  {rate / TARGET:>5.0%} of the {TARGET:,} target"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--activities", type=int, default=20, help="activities per lead")
    parser.add_argument("--fresh", action="store_true", help="build new Activity objects for every lead")
    parser.add_argument("--workers", type=int, default=0, help="also run the score-only path in N processes")
    parser.add_argument("--paths", default="full,score,prepared", help="which one-core paths to run")
    args = parser.parse_args(argv)

    print(f"leads: {args.leads:,} × {args.activities} activities ({'fresh' if args.fresh else 'pooled'}); "
          f"per core = leads per CPU-second of scoring")
    mixes = {}
    for path in args.paths.split(","):
        scoring, preparing, mixes[path] = run_path(path, args.leads, args.activities, args.fresh)
        label = {"full": "full (explained)", "score": "score only", "prepared": "score only, prepared"}[path]
        print(_line(f"{label}, per core", args.leads, scoring), flush=True)
        if path == "prepared":
            print(f"{'  preparing, once':<32} {args.leads / preparing:>9,.0f} leads/s  "
                  f"(fields judged, activities matched; with it {args.leads / (scoring + preparing):,.0f} leads/s)")
    if args.workers:
        wall, shares, mix = run_pool(args.workers, args.leads, args.activities, args.fresh)
        for i, (n, cpu) in enumerate(shares):
            print(_line(f"score only, worker {i + 1}", n, cpu))
        total = sum(n / cpu for n, cpu in shares)
        print(f"{f'score only, {args.workers} processes':<32} {total:>9,.0f} leads/s  scoring, one core each; "
              f"{args.leads / wall:,.0f} leads/s wall clock with generating the leads, on this machine's load")
        mixes["pool"] = mix
    first = next(iter(mixes.values()))
    if any(mix != first for path, mix in mixes.items() if path != "pool"):
        raise SystemExit(f"the paths disagree on the stage mix: {mixes}")
    print(f"peak RSS: {rss_mb():.0f} MiB")
    mix = ", ".join(f"{stage} {count / args.leads:.1%}" for stage, count in first.most_common())
    print(f"stages: {mix}")


if __name__ == "__main__":
    main()
