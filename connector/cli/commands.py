"""The ``leadsync`` command line. Parses arguments, loads config, calls the right module.

Exit codes: 0 done; 1 fatal runtime error (cycle aborted, state not advanced past the last
committed batch); 2 bad usage, config, mapping or definition (message names file, key, reason).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from connector import __version__
from connector.app.allocator import limit_arenas
from connector.core.errors import ConfigError, LeadsyncError, Problem

EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2
JSON_HELP = "print one JSON document (shapes: docs/json-shapes.md)"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadsync", description="Keep HubSpot and Salesforce agreeing on which leads are qualified.")
    parser.add_argument("--config", help="config file (default: $LEADSYNC_CONFIG, or built-ins)")
    parser.add_argument("--version", action="version", version=f"leadsync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("sync", help="one full cycle now: pull, qualify, write back, check SLAs")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--dry-run", action="store_true",
                   help="the same cycle read only: write nothing anywhere, print the planned changes")
    p.add_argument("--csv", metavar="FILE",
                   help="write every planned (or, without --dry-run, applied) change to FILE: "
                        "system, record id, email, field, current, planned, rule")

    p = sub.add_parser("setup", help="check both systems against the mappings and the definition")
    p.add_argument("--apply", action="store_true", help="create what is missing (properties, custom fields)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")

    sub.add_parser("daemon", help="run the scheduled jobs until SIGTERM/SIGINT")

    p = sub.add_parser("resync", help="re-pull and re-qualify every person of one account")
    p.add_argument("--account", required=True,
                   help="company domain (a URL or www. is fine), Salesforce Account Id or HubSpot company id")
    p.add_argument("--dry-run", action="store_true", help="print the planned field changes; write nothing")
    p.add_argument("--json", action="store_true", help=JSON_HELP)

    p = sub.add_parser("logs", help="review sync runs, per-record changes and errors")
    p.add_argument("--run", type=int, help="one run's changes and errors")
    p.add_argument("--account", help="company domain, HubSpot company id or Salesforce Account Id")
    p.add_argument("--lead", help="one person's email")
    p.add_argument("--errors", action="store_true", help="errors only")
    p.add_argument("--since", help="e.g. 2h, 3d")
    p.add_argument("--limit", type=int, default=50, help="newest N rows per section (default 50)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--follow", action="store_true", help="keep printing new entries (JSON lines with --json)")
    p.add_argument("--detail", action="store_true", help="show errors' internal detail")
    p.add_argument("--type", metavar="TYPE", help="errors of one type: a kind or a code (see --errors)")
    p.add_argument("--csv", metavar="FILE", help="write every matching row (no --limit) to FILE")

    p = sub.add_parser("explain", help="who a lead is, why it qualifies (or not), its activity")
    p.add_argument("email")
    p.add_argument("--json", action="store_true", help=JSON_HELP)

    p = sub.add_parser("definition", help="check or simulate a qualification definition")
    dsub = p.add_subparsers(dest="action", required=True)
    c = dsub.add_parser("check", help="validate a definition (default: the configured one)")
    c.add_argument("file", nargs="?")
    c.add_argument("--against-portal", action="store_true",
                   help="also flag rules that can never match on the connected HubSpot portal")
    c = dsub.add_parser("simulate", help="replay stored history under a candidate definition")
    c.add_argument("file")
    c.add_argument("--since", default="90d")
    c.add_argument("--json", action="store_true", help=JSON_HELP)

    p = sub.add_parser("report", help="funnel and pipeline, SLA compliance, sales' queue")
    p.add_argument("kind", choices=["funnel", "sla", "queue"],
                   help="funnel: stages, conversion, pipeline, MQLs vs commitment; sla: follow-up met, breached, "
                        "pending; queue: handed off, not yet accepted")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--since", default="90d", help="e.g. 30d, 12w, or 1q (this quarter from its first day)")
    p.add_argument("--csv", metavar="FILE", help="also write the report's rows to FILE")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the report as a PNG chart (funnel, sla)")

    p = sub.add_parser("web", help="serve the read-only review page (runs, errors, funnel)")
    p.add_argument("--port", type=int, help="default: [web] port, else 8078")
    p.add_argument("--host", help="default: [web] host (127.0.0.1); off loopback a token is required")

    p = sub.add_parser("quarantine", help="records held back with their reason")
    qsub = p.add_subparsers(dest="action", required=True)
    q = qsub.add_parser("list", help="list quarantined records")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q = qsub.add_parser("retry", help="retry on the next cycle (also undoes a drop)")
    q.add_argument("ids", nargs="*", type=int, help="entry ids (default: all)")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q = qsub.add_parser("drop", help="give up on records: never written or retried again")
    q.add_argument("ids", nargs="*", type=int, help="entry ids (or --all --yes)")
    q.add_argument("--all", action="store_true", help="every quarantined record (needs --yes)")
    q.add_argument("--yes", action="store_true", help="confirm --all")
    q.add_argument("--json", action="store_true", help=JSON_HELP)

    p = sub.add_parser("sandbox", help="serve the HubSpot and Salesforce emulators locally")
    p.add_argument("--crm", choices=("salesforce", "sugarcrm"), default="salesforce",
                   help="which CRM to emulate beside HubSpot")
    p.add_argument("--portal", choices=("greenfield", "brownfield"), default="greenfield",
                   help="greenfield: a fresh portal and org; brownfield: two years of someone else's use")
    p.add_argument("--people", type=int, default=None,
                   help="how many people to seed (default 300; brownfield 20000)")
    p.add_argument("--search-lag", type=float, default=None, metavar="SECONDS",
                   help="how long a HubSpot write takes to reach search (default 2.5 on brownfield, else 0)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dir", default=".leadsync/sandbox", help="where certificates and the config go")

    p = sub.add_parser("demo", help="run the whole product against the sandbox, narrated")
    p.add_argument("--crm", choices=("salesforce", "sugarcrm"), default="salesforce",
                   help="which CRM the story is told in")
    p.add_argument("--people", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dir", default=".leadsync/demo")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    limit_arenas()   # (before any thread allocates)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except BrokenPipeError:
        return _closed_pipe()
    except ConfigError as exc:
        print(f"leadsync: configuration error:\n{_indent(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except LeadsyncError as exc:
        print(f"leadsync: {exc}", file=sys.stderr)
        return EXIT_FATAL


def _closed_pipe() -> int:
    """The reader went away (``leadsync logs | head``): stop quietly, as any Unix filter does.
    Later writes (and the interpreter's final flush) go to /dev/null instead of raising again."""
    import os
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _runtime(args: argparse.Namespace, **kwargs: Any):
    from connector.app.runtime import Runtime
    return Runtime.from_config_path(args.config, **kwargs)


def _reading(args: argparse.Namespace):
    """A runtime for the commands that only read the state store (logs, report, explain,
    quarantine, simulate): a missing SQLite file is a wrong --config, not an empty history, so
    it is refused instead of being created empty."""
    rt = _runtime(args, connect=False)
    path = sqlite_file(rt.config.state_url)
    if path is not None and not path.exists():
        rt.close()
        raise ConfigError(Problem(rt.config.file, "state.url",
                                  f"no state store at {path}: pass --config (or set LEADSYNC_CONFIG) for the store "
                                  "leadsync syncs into, or run `leadsync sync` first"))
    return rt


def sqlite_file(url: str):
    """The database file of a sqlite:/// URL (None for other stores and in-memory SQLite)."""
    from pathlib import Path
    if not url.startswith("sqlite"):
        return None
    database = url.split(":///", 1)[1] if ":///" in url else ""
    database = database.split("?", 1)[0]
    return Path(database).resolve() if database and database != ":memory:" else None


def cmd_sync(args: argparse.Namespace) -> int:
    from connector.cli.progress import count_pulls, progress
    from connector.cli.sync_plan import change_rows, plan_document, print_plan_document, write_csv
    with _runtime(args) as rt, progress() as shown:
        rt.warn_if_review_due()
        if getattr(args, "dry_run", False):
            summary, engine = rt.dry_run_sync()
            rows = change_rows(engine.planned_changes)
            document = plan_document(engine, summary)
        else:
            count_pulls(rt.engine(), shown)
            summary, engine = rt.sync(), None
            rows = change_rows(rt.store.changes_of_run(summary.run_id))
    if getattr(args, "csv", None):
        write_csv(args.csv, rows)
    if engine is not None:
        print_plan_document(document, as_json=args.json)
    else:
        from connector.cli.render import print_summary
        print_summary(summary, as_json=args.json)
    return EXIT_OK if summary.outcome in ("ok", "partial", "stopped") else EXIT_FATAL


def cmd_resync(args: argparse.Namespace) -> int:
    from connector.cli.resync_cmd import resync_command
    with _runtime(args) as rt:
        return resync_command(rt, args.account, dry_run=args.dry_run, as_json=args.json)


def cmd_setup(args: argparse.Namespace) -> int:
    from connector.cli.setup_cmd import setup_command
    with _runtime(args) as rt:
        return setup_command(rt, apply=args.apply, as_json=args.json)


def cmd_daemon(args: argparse.Namespace) -> int:
    from jobs.daemon import run_daemon
    return run_daemon(args.config)


def cmd_logs(args: argparse.Namespace) -> int:
    from connector.cli.logs_view import show_logs
    with _reading(args) as rt:
        return show_logs(rt.store, args, rt.redactor)


def cmd_explain(args: argparse.Namespace) -> int:
    from connector.cli.explain_cmd import explain_email
    with _reading(args) as rt:
        return explain_email(rt, args.email, as_json=args.json)


def cmd_definition(args: argparse.Namespace) -> int:
    from connector.app.config import load_config
    from connector.cli.definition_cmd import check_command, simulate_command
    config = load_config(args.config)
    if args.action == "check":
        code = check_command(config, args.file)
        if code == 0 and args.against_portal:
            from connector.cli.definition_cmd import against_portal_command
            with _runtime(args) as rt:
                return against_portal_command(rt, args.file)
        return code
    with _reading(args) as rt:
        return simulate_command(rt, args.file, args.since, as_json=args.json)


def cmd_report(args: argparse.Namespace) -> int:
    from connector.cli.reports import show_report
    if args.plot and args.kind == "queue":   # a usage mistake: said before the store is opened
        raise ConfigError(Problem("command line", "--plot", "the queue is a list, not a chart (funnel, sla)"))
    with _reading(args) as rt:
        return show_report(rt, args.kind, as_json=args.json, since=args.since, csv_path=args.csv, plot=args.plot)


def cmd_web(args: argparse.Namespace) -> int:
    from connector.cli.web_cmd import run_web
    with _runtime(args, connect=False) as rt:
        return run_web(rt, host=args.host, port=args.port)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from connector.cli.render import print_quarantine
    with _reading(args) as rt:
        store = rt.store
        if args.action == "retry":
            n = store.make_due(args.ids or None, _now())
            print(json.dumps({"retry": n}) if args.json else f"{n} quarantined record(s) will be retried on the next cycle")
        elif args.action == "drop":
            ids = _ids_to_drop(args, store)
            n = store.drop_quarantined(ids, _now())
            print(json.dumps({"dropped": n}) if args.json else
                  f"dropped {n} quarantined record(s): leadsync will not write them again "
                  "(`leadsync quarantine retry ID` undoes it)")
        else:
            print_quarantine(store.quarantined(), as_json=args.json, redactor=rt.redactor)
    return EXIT_OK


def _sandbox_installed() -> bool:
    """The emulators come with the ``sandbox`` extra; say how to get it rather than a traceback."""
    import importlib.util
    missing = [name for name in ("flask", "cryptography") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"leadsync: the built-in sandbox needs {' and '.join(missing)}: "
              "pip install 'leadsync[sandbox]'", file=sys.stderr)
    return not missing
def _ids_to_drop(args: argparse.Namespace, store: Any) -> list[int]:
    """Dropping is not undone by the next cycle, so it names its records or says --all --yes."""
    if args.ids and args.all:
        raise ConfigError(Problem("command line", "quarantine drop", "give entry ids or --all, not both"))
    if args.all and not args.yes:
        raise ConfigError(Problem("command line", "quarantine drop --all",
                                  "drops every quarantined record; add --yes to confirm"))
    if not args.ids and not args.all:
        raise ConfigError(Problem("command line", "quarantine drop",
                                  "name the entry ids to drop (see `leadsync quarantine list`), or --all --yes"))
    if args.all:
        return [q.id for q in store.quarantined()]
    known = {q.id for q in store.quarantined(ids=args.ids)}
    unknown = sorted(set(args.ids) - known)
    if unknown:
        raise ConfigError(Problem("command line", "quarantine drop",
                                  f"no quarantined entry with id {', '.join(map(str, unknown))}"))
    return list(args.ids)


def cmd_sandbox(args: argparse.Namespace) -> int:
    if not _sandbox_installed():
        return EXIT_CONFIG
    from pathlib import Path
    from leadsync_sandbox.server import Sandbox
    if args.people is not None and not 1 <= args.people <= 200_000:
        print(f"leadsync sandbox: --people must be between 1 and 200000, got {args.people}", file=sys.stderr)
        return EXIT_CONFIG
    if args.search_lag is not None and args.search_lag < 0:
        print(f"leadsync sandbox: --search-lag must be 0 or more seconds, got {args.search_lag}", file=sys.stderr)
        return EXIT_CONFIG
    Sandbox(Path(args.dir), seed=args.seed, people=args.people, portal=args.portal,
            search_lag_seconds=args.search_lag, crm=args.crm).run_forever()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    if not _sandbox_installed():
        return EXIT_CONFIG
    from connector.cli.demo import run_demo
    return run_demo(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "sync": cmd_sync, "setup": cmd_setup, "daemon": cmd_daemon, "resync": cmd_resync, "logs": cmd_logs, "explain": cmd_explain,
    "definition": cmd_definition, "report": cmd_report, "quarantine": cmd_quarantine, "sandbox": cmd_sandbox,
    "demo": cmd_demo, "web": cmd_web,
}

if __name__ == "__main__":
    raise SystemExit(main())
