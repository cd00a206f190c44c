"""``leadsync report funnel|sla|queue``: reads the state store, computes with ``connector.core.sla``,
prints rich tables or one JSON document. Emails pass through the redactor like any output."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from connector.core import sla as S
from connector.core.durations import parse_duration
from connector.core.errors import ConfigError, Problem
from connector.app.reporting import follow_ups

TOO_FEW = S.TOO_FEW_TOUCHES
VALUE_NOTE = "opportunity amounts are not recorded in the state store; value cannot be summed"


# -- reading the store ------------------------------------------------------------------------------

def period_start(since: str, now: datetime) -> datetime:
    try:
        return now - parse_duration(since)
    except ValueError as exc:
        raise ConfigError(Problem("command line", "--since", str(exc))) from None


# -- as data -----------------------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def follow_up_dict(r: S.FollowUp, now: datetime, mask: Callable[[Any], str]) -> dict[str, Any]:
    return {"hubspot_id": r.hubspot_id, "email": mask(r.email) if r.email else None, "stage": r.stage,
            "score": r.score, "handoff_at": _iso(r.handoff_at), "age_minutes": round((now - r.handoff_at).total_seconds() / 60),
            "first_touch_at": _iso(r.first_touch_at), "minutes_to_first_touch": r.minutes_to_first_touch,
            "within_target": r.within_target, "within_deadline": r.within_deadline,
            "calls": r.calls, "emails": r.emails, "touches_met": r.touches_met,
            "breaches": list(r.breaches), "status": r.status}


def sla_dict(rows: Sequence[S.FollowUp], definition: Any, now: datetime, mask: Callable[[Any], str]) -> dict[str, Any]:
    c, sla = S.compliance(rows), definition.sla
    return {"report": "sla", "generated_at": now.isoformat(),
            "agreement": {"first_touch_target_minutes": _minutes(sla.first_touch_target),
                          "first_touch_deadline_minutes": _minutes(sla.first_touch_deadline),
                          "touches": {"calls": sla.touch_calls, "emails": sla.touch_emails,
                                      "within_days": sla.touch_within.total_seconds() / 86400 if sla.touch_within else None}},
            "compliance": {"handed_off": c.handed_off, "touched": c.touched,
                           "median_minutes_to_first_touch": c.median_minutes_to_first_touch,
                           "within_target_pct": _pct(c.within_target), "within_deadline_pct": _pct(c.within_deadline),
                           "touches_met_pct": _pct(c.touches_met), "overall_pct": _pct(c.overall),
                           "breaches": c.breaches},
            "leads": [follow_up_dict(r, now, mask) for r in rows]}


def _minutes(value: timedelta | None) -> float | None:
    return value.total_seconds() / 60 if value else None


def queue_dict(rows: Sequence[S.FollowUp], now: datetime, mask: Callable[[Any], str]) -> dict[str, Any]:
    return {"report": "queue", "generated_at": now.isoformat(), "leads": [follow_up_dict(r, now, mask) for r in rows]}


def funnel_dict(f: S.Funnel, now: datetime, since: datetime) -> dict[str, Any]:
    def rated(item: S.Conversion | S.WinRate) -> dict[str, Any]:
        return {"rate_pct": _pct(item.rate), "target_pct": [_pct(b) for b in item.target] if item.target else None,
                "verdict": item.verdict}
    per_week = f.weeks[0].target if f.weeks else None
    return {"report": "funnel", "generated_at": now.isoformat(), "since": since.isoformat(), "stages": f.stages,
            "conversions": [{"step": c.step, "entered": c.entered, "converted": c.converted,
                             "still_waiting": c.still_waiting, **rated(c)} for c in f.conversions],
            "win_rates": [{"segment": w.segment, "won": w.won, "lost": w.lost, **rated(w)} for w in f.win_rates],
            "qualified_pipeline": {"volume": f.pipeline_volume, "value": f.pipeline_value,
                                   "value_note": VALUE_NOTE if f.pipeline_value is None else None,
                                   "velocity_days": f.velocity_days,
                                   "conversion_pct": {c.step: _pct(c.rate) for c in f.conversions}},
            "mqls_per_week": {"target": round(per_week, 2) if per_week is not None else None,
                              "weeks": [{"ends": w.ends.isoformat(), "mqls": w.mqls, "complete": w.complete, "met": w.met}
                                        for w in f.weeks]}}


# -- as tables ------------------------------------------------------------------------------------------

def _fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def _fmt_age(minutes: float) -> str:
    minutes = int(minutes)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 1440:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // 1440}d {minutes // 60 % 24}h"


def _short_time(iso: str | None) -> str:
    return iso[5:16].replace("T", " ") if iso else "—"


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "[red]no[/]")


def render_funnel(console: Console, d: dict[str, Any]) -> None:
    stages = Table(title="Stages now", title_justify="left")
    for name in d["stages"]:
        stages.add_column(name, justify="right")
    stages.add_row(*(str(n) for n in d["stages"].values()))
    console.print(stages)
    rates = Table("step", "entered", "converted", "waiting", "rate", "target", "verdict", title="Conversion",
                  title_justify="left")
    for c in d["conversions"]:
        rates.add_row(c["step"], str(c["entered"]), str(c["converted"]), str(c["still_waiting"]),
                      _fmt_pct(c["rate_pct"]), _target(c), c["verdict"] or "—")
    for w in d["win_rates"]:
        rates.add_row(f"win rate, {w['segment']}", str(w["won"] + w["lost"]), str(w["won"]), "—",
                      _fmt_pct(w["rate_pct"]), _target(w), w["verdict"] or "—")
    console.print(rates)
    p = d["qualified_pipeline"]
    console.print(f"Qualified pipeline: volume {p['volume']} open; value "
                  f"{p['value'] if p['value'] is not None else '— (' + p['value_note'] + ')'}")
    console.print("Velocity (median days): " + ", ".join(
        f"{step} {days if days is not None else '—'}" for step, days in p["velocity_days"].items()))
    weeks = d["mqls_per_week"]
    table = Table("week ending", "MQLs", f"target {weeks['target'] if weeks['target'] is not None else '—'}",
                  title="MQLs per week vs commitment", title_justify="left")
    for w in weeks["weeks"]:
        table.add_row(w["ends"][:10], str(w["mqls"]), _yes_no(w["met"]) if w["complete"] else "(week in progress)")
    console.print(table)


def _target(item: Mapping[str, Any]) -> str:
    bounds = item["target_pct"]
    if not bounds:
        return "—"
    return f"{bounds[0]:g}%" if bounds[0] == bounds[1] else f"{bounds[0]:g}–{bounds[1]:g}%"


def render_sla(console: Console, d: dict[str, Any]) -> None:
    c = d["compliance"]
    console.print(f"{c['handed_off']} handoffs, {c['touched']} touched; median first touch "
                  f"{c['median_minutes_to_first_touch'] if c['median_minutes_to_first_touch'] is not None else '—'} min; "
                  f"within target {_fmt_pct(c['within_target_pct'])}, within deadline {_fmt_pct(c['within_deadline_pct'])}, "
                  f"touches met {_fmt_pct(c['touches_met_pct'])}; compliance {_fmt_pct(c['overall_pct'])}, "
                  f"{c['breaches']} breach(es)")
    table = Table(title="Follow-up of handed-off leads", title_justify="left")
    table.add_column("lead", overflow="fold")
    for name in ("stage", "handed off", "first touch", "calls/emails"):
        table.add_column(name, no_wrap=True)
    table.add_column("SLA", overflow="fold")
    for r in d["leads"]:
        minutes = r["minutes_to_first_touch"]
        touch = "—" if minutes is None else _fmt_age(minutes) + " after"
        sla = r["status"] + (f", {TOO_FEW}" if TOO_FEW in r["breaches"] else "")
        table.add_row(r["email"] or r["hubspot_id"], r["stage"], _short_time(r["handoff_at"]), touch,
                      f"{r['calls']}/{r['emails']}", sla if not r["breaches"] else f"[red]{sla}[/]")
    console.print(table)


def render_queue(console: Console, d: dict[str, Any]) -> None:
    table = Table("#", "lead", "score", "waiting", "SLA", title="Sales' queue: handed off, not yet accepted",
                  title_justify="left")
    for i, r in enumerate(d["leads"], 1):
        status = r["status"] if r["status"] in ("waiting", "touched") else f"[red]{r['status']}[/]"
        table.add_row(str(i), r["email"] or r["hubspot_id"], "—" if r["score"] is None else f"{r['score']:g}",
                      _fmt_age(r["age_minutes"]), status)
    console.print(table if d["leads"] else "The queue is empty: every handed-off lead has been accepted or returned.")


# -- the command ----------------------------------------------------------------------------------------

def build_report(rt: Any, kind: str, since: str) -> dict[str, Any]:
    now = rt.clock()
    start = period_start(since, now)
    mask = rt.redactor
    if kind == "funnel":
        people = rt.store.people()
        f = S.funnel(people, rt.store.transitions(since=start), rt.definition, start, now)
        return funnel_dict(f, now, start)
    rows = follow_ups(rt.store, rt.definition, start, now)
    if kind == "sla":
        return sla_dict(rows, rt.definition, now, mask)
    if kind == "queue":
        return queue_dict(S.queue(rows), now, mask)
    raise ConfigError(Problem("command line", "report", f"unknown report {kind!r} (funnel, sla, queue)"))


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
                plot: str | None = None) -> int:
    report = build_report(rt, kind, since)
    if plot:
        write_plot(kind, report, since, plot)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        RENDER[kind](console or Console(), report)
    return 0
