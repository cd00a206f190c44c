"""``leadsync report funnel|sla|queue``: reads the state store, computes with ``connector.core.sla``,
prints rich tables or one JSON document. Emails pass through the redactor like any output."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from connector.core.errors import ConfigError, Problem
from connector.app.reporting import build_report, period_start


# -- reading the store ------------------------------------------------------------------------------


# -- as data -----------------------------------------------------------------------------------------


# -- as tables ------------------------------------------------------------------------------------------

def _fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def _fmt_age(minutes: float) -> str:
    minutes = int(abs(minutes))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 1440:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // 1440}d {minutes // 60 % 24}h"


def fmt_days(days: float | None) -> str:
    """Velocity as people say it: '35 min', '5.5 h', '3.2 days'."""
    if days is None:
        return "—"
    minutes = days * 1440
    if minutes < 60:
        return f"{max(1, round(minutes))} min"
    if minutes < 1440:
        return f"{minutes / 60:.1f} h"
    return f"{days:.1f} days"


def fmt_money(value: float | None) -> str:
    """An amount in the org's currency, whole units with thousands separators: '217,000'."""
    return "—" if value is None else f"{value:,.0f}"


def _short_time(iso: str | None) -> str:
    return iso[5:16].replace("T", " ") if iso else "—"


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "[red]no[/]")


def countdown(due: Mapping[str, Any] | None) -> str:
    """'touch in 12m' (the first-touch target), 'deadline in 20h 05m', 'deadline overdue 3h 10m'."""
    if not due:
        return "—"
    left, what = due["minutes_left"], {"first touch": "touch"}.get(due["what"], due["what"])
    return f"{what} in {_fmt_age(left)}" if left >= 0 else f"[red]{what} overdue {_fmt_age(left)}[/]"


def render_funnel(console: Console, d: dict[str, Any]) -> None:
    stages = Table("stage", "people", title="Stages now (funnel order)", title_justify="left")
    for name, n in d["stages"].items():
        stages.add_row(name, str(n))
    console.print(stages)
    rates = Table("step", "in", "on", "wait", "rate", "target", "verdict", title="Conversion against the targets",
                  title_justify="left")
    for c in d["conversions"]:
        rates.add_row(c["step"], str(c["entered"]), str(c["converted"]), str(c["still_waiting"]),
                      _fmt_pct(c["rate_pct"]), _target(c), c["verdict"] or "—")
    for w in d["win_rates"]:
        rates.add_row(f"won, {w['segment']}", str(w["won"] + w["lost"]), str(w["won"]), "—",
                      _fmt_pct(w["rate_pct"]), _target(w), w["verdict"] or "—")
    console.print(rates)
    p = d["qualified_pipeline"]
    pipeline = Table.grid(padding=(0, 2))
    pipeline.add_row("volume", f"{p['volume']} open opportunities")
    pipeline.add_row("value", fmt_money(p["value"]) if p["value"] is not None else f"— ({p['value_note']})")
    pipeline.add_row("velocity", ", ".join(f"{step} {fmt_days(days)}" for step, days in p["velocity_days"].items()))
    pipeline.add_row("conversion", ", ".join(f"{step} {_fmt_pct(pct)}" for step, pct in p["conversion_pct"].items()))
    console.print("[bold]Qualified pipeline[/] (the four V's)")
    console.print(pipeline)
    weeks = d["mqls_per_week"]
    target = weeks["target"]
    table = Table("week of", "MQLs", f"≥ {target}/week" if target is not None else "target",
                  title="MQLs per calendar week", title_justify="left")
    for w in weeks["weeks"]:
        table.add_row((w["starts"] or w["ends"])[:10], str(w["mqls"]),
                      _yes_no(w["met"]) if w["complete"] else "(week in progress)")
    console.print(table)
    q = d.get("quarter_to_date")
    if q:
        render_quarter(console, q)


def render_quarter(console: Console, q: Mapping[str, Any]) -> None:
    commitment = q["commitment"]
    head = f"[bold]Quarter to date[/] ({q['starts'][:10]} – {q['ends'][:10]}): {q['qualified']} qualified"
    if commitment:
        verdict = "on track" if q["on_track"] else "[red]behind[/]"
        head += f" of {commitment} committed; {q['expected_by_now']} expected by now: {verdict}"
    console.print(head)
    table = Table("week of", "MQLs", "total", "pace", "on track")
    for w in q["weeks"]:
        table.add_row(w["starts"][:10], str(w["mqls"]), str(w["cumulative"]), str(w["pace"]),
                      _yes_no(w["on_track"]) if w["complete"] else "(in progress)")
    console.print(table)


def _target(item: Mapping[str, Any]) -> str:
    bounds = item["target_pct"]
    if not bounds:
        return "—"
    return f"{bounds[0]:g}%" if bounds[0] == bounds[1] else f"{bounds[0]:g}–{bounds[1]:g}%"


def compliance_line(c: Mapping[str, Any]) -> str:
    return (f"{c['handed_off']} handoffs: {c['met']} met, {c['breached']} breached, {c['pending']} pending "
            f"(untouched, inside the target); compliance {_fmt_pct(c['overall_pct'])} of decided")


def render_sla(console: Console, d: dict[str, Any]) -> None:
    c = d["compliance"]
    console.print(compliance_line(c))
    median = c["median_minutes_to_first_touch"]
    console.print(f"median first touch {_fmt_age(median) if median is not None else '—'}; within target "
                  f"{_fmt_pct(c['within_target_pct'])}, within deadline {_fmt_pct(c['within_deadline_pct'])}, "
                  f"touches met {_fmt_pct(c['touches_met_pct'])}")
    for title, key, rows in (("Per rep", "owner_id", d["by_rep"]), ("Per week of handoff", "week_of", d["by_week"])):
        table = Table("rep" if key == "owner_id" else "week of", "met", "breached", "pending", "compliance",
                      title=title, title_justify="left")
        for r in rows:
            table.add_row(str(r[key]), str(r["met"]), str(r["breached"]), str(r["pending"]), _fmt_pct(r["overall_pct"]))
        console.print(table)
    table = Table(title="Follow-up of handed-off leads", title_justify="left")
    table.add_column("lead", overflow="fold")
    for name in ("owner", "handed off", "touched", "c/e"):
        table.add_column(name, no_wrap=True)
    table.add_column("SLA", overflow="fold")
    for r in d["leads"]:
        minutes = r["minutes_to_first_touch"]
        touch = "—" if minutes is None else _fmt_age(minutes) + " after"
        sla = r["verdict"] + (f": {', '.join(r['breaches'])}" if r["breaches"] else "")
        table.add_row(r["email"] or r["hubspot_id"], r["owner_id"] or "—", _short_time(r["handoff_at"]), touch,
                      f"{r['calls']}/{r['emails']}", f"[red]{sla}[/]" if r["breaches"] else sla)
    console.print(table)


def render_queue(console: Console, d: dict[str, Any]) -> None:
    table = Table("#", "lead", "score", "owner", "waiting", "due", title="Sales' queue: handed off, not yet accepted",
                  title_justify="left")
    table.columns[1].overflow = table.columns[3].overflow = "fold"
    for i, r in enumerate(d["leads"], 1):
        table.add_row(str(i), r["email"] or r["hubspot_id"], "—" if r["score"] is None else f"{r['score']:g}",
                      r["owner_id"] or "—", _fmt_age(r["age_minutes"]),
                      countdown(r["due"]) if r["due"] else ("touched" if r["first_touch_at"] else "—"))
    console.print(table if d["leads"] else "The queue is empty: every handed-off lead has been accepted or returned.")


# -- export ---------------------------------------------------------------------------------------------

def csv_rows(kind: str, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per lead (sla, queue) or per conversion step (funnel), values flattened."""
    if kind == "funnel":
        return [dict(c) for c in report["conversions"]] + [
            {"step": f"won, {w['segment']}", "entered": w["won"] + w["lost"], "converted": w["won"],
             "rate_pct": w["rate_pct"], "target_pct": w["target_pct"], "verdict": w["verdict"]} for w in report["win_rates"]]
    rows = []
    for lead in report["leads"]:
        row = {k: v for k, v in lead.items() if k != "due"}
        due = lead.get("due") or {}
        row.update(due_what=due.get("what"), due_at=due.get("at"), due_minutes_left=due.get("minutes_left"))
        rows.append(row)
    return rows


def write_csv(path: str, rows: Sequence[Mapping[str, Any]]) -> int:
    import csv
    fieldnames = list(dict.fromkeys(k for r in rows for k in r)) or ["none"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    return len(rows)


# -- the command ----------------------------------------------------------------------------------------


RENDER = {"funnel": render_funnel, "sla": render_sla, "queue": render_queue}


def write_plot(kind: str, report: dict[str, Any], since: str, path: str) -> None:
    """``--plot FILE.png``: the chart the review page shows for this report."""
    if kind == "queue":
        raise ConfigError(Problem("command line", "--plot", "the queue is a list, not a chart (funnel, sla)"))
    try:
        from connector.web import charts
    except ImportError:
        raise ConfigError(Problem("command line", "--plot", "charts need the web extra: pip install 'leadsync[web]'")) from None
    now = datetime.fromisoformat(report["generated_at"])
    png = charts.funnel_report_png(report) if kind == "funnel" else charts.sla_png(report, period_start(since, now), now)
    try:
        with open(path, "wb") as out:
            out.write(png)
    except OSError as exc:
        raise ConfigError(Problem("command line", "--plot", f"cannot write {path}: {exc.strerror}")) from None


def show_report(rt: Any, kind: str, as_json: bool = False, since: str = "90d", console: Console | None = None,
                csv_path: str | None = None, plot: str | None = None) -> int:
    report = build_report(rt, kind, since)
    if plot:
        write_plot(kind, report, since, plot)
    if csv_path:
        n = write_csv(csv_path, csv_rows(kind, report))
        print(f"wrote {n:,} rows to {csv_path}", file=sys.stderr)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        RENDER[kind](console or Console(), report)
    return 0
