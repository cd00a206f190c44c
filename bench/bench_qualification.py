"""How many people the shipped definition qualifies on the brownfield sandbox portal, with its
form rules as shipped (placeholders) and pointed at the portal's own form GUIDs.

    .venv/bin/python bench/bench_qualification.py [--people 2000] [--workdir DIR]

Runs the product's first-day commands against a brownfield sandbox (two years of another
team's use; form submissions name their form by GUID only):
1. ``leadsync setup --apply --json``: creates leadsync's properties and fields, and lists the
   portal's forms by name and GUID;
2. a copy of the shipped ``qualification.toml`` with each placeholder replaced by the GUIDs of
   the forms a marketer would pick from that list (``FORMS_FOR`` below);
3. ``leadsync sync``: the first cycle, which loads the state store (on the sandbox only);
4. ``leadsync definition simulate <pointed copy> --since 90d --json``: both definitions
   replayed week by week over the 90 days of activity the first sync stored (new MQLs in the
   period);
then counts, over the stored people, who qualifies as of now under each definition (the
engine's verdict, ``mql``, from the score-only path), beside the portal's own MQL count from
the seed's manifest.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.cli.commands import main as leadsync  # noqa: E402
from connector.core.definition import load_definition  # noqa: E402
from connector.core.fastscore import Verdict, score_plan  # noqa: E402
from connector.core.lead import activities_that_count, merge_fields  # noqa: E402
from leadsync_sandbox.server import DEFINITION_PATH, Sandbox  # noqa: E402

# Placeholder in the shipped definition → the brownfield forms (by name) a marketer would name.
FORMS_FOR = {
    "demo request": ("Request a demo", "Demo request - pricing page"),
    "free trial": ("Start your free trial",),
    "contact us": ("Contact sales",),
    "datasheet download": ("Datasheet download",),
    "whitepaper download": ("Whitepaper - lead handoff playbook", "Ebook: The RevOps handbook"),
    "webinar registration": ("Webinar registration (Q3 product tour)",),
    "newsletter signup": ("Newsletter signup", "Blog subscription (footer)"),
}
RECENT_DAYS = 90                       # the definition's engagement window
_LISTED = re.compile(r'"([^"]+)" = ([0-9a-fA-F-]{36})')


def run(args: list[str]) -> tuple[int, str]:
    """One ``leadsync`` command in this process: (exit code, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = leadsync(args)
    return code, out.getvalue()


def listed_forms(setup_json: str) -> dict[str, str]:
    """Form name → GUID, from the forms line of ``leadsync setup --json``."""
    report = json.loads(setup_json)
    forms: dict[str, str] = {}
    for finding in report["findings"]:
        if finding["kind"] == "forms":
            forms.update(_LISTED.findall(finding["fix"] + " " + finding["message"]))
    return forms


def pointed_definition(forms: dict[str, str]) -> str:
    text = DEFINITION_PATH.read_text(encoding="utf-8")
    for slug, names in FORMS_FOR.items():
        guids = ", ".join(f'"{forms[name]}"' for name in names)
        text = text.replace(f'"<GUID of your {slug} form>"', f"[{guids}]")
    if "<GUID of your" in text:
        raise SystemExit("a placeholder is left: " + re.findall(r"<GUID of your [^>]+>", text)[0])
    return text


def verdicts_now(rt_store: object, crm_rules: object, definition_file: Path, extra: object,
                 now: object) -> dict[str, Verdict]:
    """HubSpot id → the definition's verdict as of ``now``, each lead built as the sync builds it."""
    definition = load_definition(definition_file, extra_fields=extra)
    plan = score_plan(definition)
    people = rt_store.people()
    activities = rt_store.activities(list(people))
    verdicts = {}
    for pid, person in people.items():
        lead = merge_fields(person.get("fields") or {}, person.get("crm_fields") or {}, crm_rules)
        counted = activities_that_count(person, activities.get(pid, []))
        verdicts[str(person.get("hubspot_id"))] = plan.score(lead, counted, now)
    return verdicts


def why_not(verdict: Verdict, fit_rules: set[str]) -> str:
    """The first reason a verdict is not an MQL, in words a marketer uses."""
    if verdict.mql:
        return "qualified"
    if verdict.disqualified_by or fit_rules & set(verdict.blocked_by):
        return "fails a fit filter"
    if any(gate.startswith("Required ") for gate in verdict.blocked_by):
        return "misses a required field"
    return "score too low now"


def portal_recent_mqls(manifest: object, now: datetime, days: int) -> set[str]:
    """Contacts the portal's own team made MQLs in the last ``days`` (its stage dates)."""
    since = now - timedelta(days=days)
    return {cid for cid, moment in manifest.qualified_at.items()
            if datetime.fromisoformat(moment.replace("Z", "+00:00")) >= since}


def measure(people: int, workdir: Path) -> dict[str, object]:
    from connector.app.runtime import Runtime
    from connector.cli.definition_cmd import mapped_fields
    sandbox = Sandbox(workdir / "sandbox", people=people, portal="brownfield", hubspot_rate_per_10s=100_000)
    sandbox.start()
    try:
        os.environ.update({**sandbox.env(), "REQUESTS_CA_BUNDLE": str(sandbox.certs.ca_path)})
        config = sandbox.write_config(workdir / "leadsync.toml", f"sqlite:///{workdir / 'state.db'}")
        current = config.with_name(config.stem + "-definition.toml")
        current.write_text(DEFINITION_PATH.read_text(encoding="utf-8"), encoding="utf-8")  # as shipped
        code, out = run(["--config", str(config), "setup", "--apply", "--json"])
        forms = listed_forms(out)
        pointed = workdir / "qualification-pointed.toml"
        pointed.write_text(pointed_definition(forms), encoding="utf-8")
        started = time.perf_counter()
        sync_code, _ = run(["--config", str(config), "sync"])
        synced = time.perf_counter() - started
        sim_code, sim_out = run(["--config", str(config), "definition", "simulate", str(pointed),
                                 "--since", f"{RECENT_DAYS}d", "--json"])
        simulation = json.loads(sim_out)
        with Runtime.from_config_path(str(config), connect=False) as rt:
            now = rt.clock()
            extra, rules = mapped_fields(rt.config), rt.write_maps().crm_fields
            placeholders = verdicts_now(rt.store, rules, current, extra, now)
            named = verdicts_now(rt.store, rules, pointed, extra, now)
            fit_rules = {rule.name for rule in load_definition(pointed, extra_fields=extra).fit}
        sandbox.manifest.write(workdir / "brownfield-manifest.json")
        portal_mqls = sum(1 for s in sandbox.manifest.stages.values() if s == "marketingqualifiedlead")
        agreement = {}
        for days in (30, RECENT_DAYS):
            recent = portal_recent_mqls(sandbox.manifest, now, days)
            reasons = Counter(why_not(named[cid], fit_rules) for cid in recent if cid in named)
            agreement[f"{days}d"] = {"portal_mqls": len(recent), **dict(reasons.most_common())}
        qualified = {cid for cid, verdict in named.items() if verdict.mql}
        return {"people": people, "stored": len(named), "setup_exit": code, "forms_listed": len(forms),
                "sync_exit": sync_code, "sync_seconds": round(synced, 1), "simulate_exit": sim_code,
                "qualified_now_placeholders": sum(v.mql for v in placeholders.values()),
                "qualified_now_pointed": len(qualified), "portal_mqls": portal_mqls,
                "portal_mqls_by_age": agreement,
                "pointed_outside_portal_recent": len(qualified - portal_recent_mqls(sandbox.manifest, now, RECENT_DAYS)),
                "simulated_new_mqls": {"placeholders": simulation["conversions"]["current"]["mql"],
                                       "pointed": simulation["conversions"]["candidate"]["mql"],
                                       "already_handed_off": simulation["already_handed_off"]}}
    finally:
        sandbox.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=2_000)
    parser.add_argument("--workdir", type=Path, help="keep the sandbox, config and store here")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        result = measure(args.people, workdir)
    share = lambda n: f"{n:,} ({n / result['stored']:.1%})"  # noqa: E731
    print(f"brownfield portal, {result['people']:,} people ({result['stored']:,} stored after the first sync, "
          f"{result['sync_seconds']} s); setup exit {result['setup_exit']}, {result['forms_listed']} forms listed; "
          f"sync exit {result['sync_exit']}")
    print(f"qualified now, form rules as shipped (placeholders): {share(result['qualified_now_placeholders'])}")
    print(f"qualified now, form rules pointed at the portal's GUIDs: {share(result['qualified_now_pointed'])}")
    print(f"the portal's own MQLs (lifecyclestage = marketingqualifiedlead): {share(result['portal_mqls'])}")
    print("the portal's own recent MQLs (by hs_lifecyclestage_marketingqualifiedlead_date), and what the "
          "pointed definition says of them now:")
    for age, counts in result["portal_mqls_by_age"].items():
        made = counts["portal_mqls"]
        said = ", ".join(f"{reason} {n:,} ({n / max(1, made):.0%})" for reason, n in counts.items()
                         if reason != "portal_mqls")
        print(f"  made in the last {age}: {made:,}; {said}")
    print(f"qualified by the pointed definition outside the portal's last {RECENT_DAYS} days of MQLs: "
          f"{result['pointed_outside_portal_recent']:,}")
    sim = result["simulated_new_mqls"]
    print(f"definition simulate --since {RECENT_DAYS}d (exit {result['simulate_exit']}): new MQLs in the period "
          f"{sim['placeholders']:,} as shipped, {sim['pointed']:,} pointed "
          f"({sim['already_handed_off']:,} already handed off before it)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
