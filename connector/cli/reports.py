"""``leadsync report funnel|sla|queue``: reads the state store, computes with ``connector.core.sla``,
prints rich tables or one JSON document. Emails pass through the redactor like any output."""

from __future__ import annotations

import json
import sys
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
    """``--since 30d`` is thirty days back; ``1q`` is this calendar quarter from its first day,
    ``2q`` the previous one as well, and so on."""
    text = (since or "").strip().lower()
    if text.endswith("q") and text[:-1].isdigit() and int(text[:-1]) >= 1:
        start = S.quarter_start(now)
        for _ in range(int(text[:-1]) - 1):
            start = S.quarter_start(start - timedelta(days=1))
        return start
    try:
        return now - parse_duration(since)
    except ValueError as exc:
        raise ConfigError(Problem("command line", "--since", f"{exc}, or a number of quarters like '1q'")) from None


# -- as data -----------------------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def follow_up_dict(r: S.FollowUp, now: datetime, mask: Callable[[Any], str], sla: Any = None) -> dict[str, Any]:
    due = r.next_due(sla, now) if sla is not None else None
    return {"hubspot_id": r.hubspot_id, "email": mask(r.email) if r.email else None, "stage": r.stage,
            "owner_id": r.owner_id, "verdict": r.verdict,
            "due": {"what": due[0], "at": _iso(due[1]), "minutes_left": round((due[1] - now).total_seconds() / 60)}
            if due else None,
            "score": r.score, "handoff_at": _iso(r.handoff_at), "age_minutes": round((now - r.handoff_at).total_seconds() / 60),
            "first_touch_at": _iso(r.first_touch_at), "minutes_to_first_touch": r.minutes_to_first_touch,
            "within_target": r.within_target, "within_deadline": r.within_deadline,
            "calls": r.calls, "emails": r.emails, "touches_met": r.touches_met,
            "breaches": list(r.breaches), "status": r.status}


def _compliance_dict(c: S.Compliance) -> dict[str, Any]:
    return {"handed_off": c.handed_off, "met": c.met, "breached": c.breached, "pending": c.pending,
            "touched": c.touched, "median_minutes_to_first_touch": c.median_minutes_to_first_touch,
            "within_target_pct": _pct(c.within_target), "within_deadline_pct": _pct(c.within_deadline),
            "touches_met_pct": _pct(c.touches_met), "overall_pct": _pct(c.overall), "breaches": c.breaches}


def sla_dict(rows: Sequence[S.FollowUp], definition: Any, now: datetime, mask: Callable[[Any], str]) -> dict[str, Any]:
    c, sla = S.compliance(rows), definition.sla
    by_rep = S.compliance_by(rows, lambda r: r.owner_id or "(no owner)")
    by_week = S.compliance_by(rows, lambda r: S.week_start(r.handoff_at))
    return {"report": "sla", "generated_at": now.isoformat(),
            "agreement": {"first_touch_target_minutes": _minutes(sla.first_touch_target),
                          "first_touch_deadline_minutes": _minutes(sla.first_touch_deadline),
                          "touches": {"calls": sla.touch_calls, "emails": sla.touch_emails,
                                      "within_days": sla.touch_within.total_seconds() / 86400 if sla.touch_within else None}},
            "compliance": _compliance_dict(c),
            "by_rep": [{"owner_id": owner, **_compliance_dict(v)} for owner, v in sorted(by_rep.items())],
            "by_week": [{"week_of": week.date().isoformat(), **_compliance_dict(v)} for week, v in sorted(by_week.items())],
            "leads": [follow_up_dict(r, now, mask, sla) for r in rows]}


def _minutes(value: timedelta | None) -> float | None:
    return value.total_seconds() / 60 if value else None


def queue_dict(rows: Sequence[S.FollowUp], now: datetime, mask: Callable[[Any], str], sla: Any = None) -> dict[str, Any]:
    return {"report": "queue", "generated_at": now.isoformat(),
            "leads": [follow_up_dict(r, now, mask, sla) for r in rows]}


def funnel_dict(f: S.Funnel, now: datetime, since: datetime) -> dict[str, Any]:
    def rated(item: S.Conversion | S.WinRate) -> dict[str, Any]:
        return {"rate_pct": _pct(item.rate), "target_pct": [_pct(b) for b in item.target] if item.target else None,
                "verdict": item.verdict}
    per_week = f.weeks[0].target if f.weeks else None
    q = f.quarter
    return {"report": "funnel", "generated_at": now.isoformat(), "since": since.isoformat(), "stages": f.stages,
            "conversions": [{"step": c.step, "entered": c.entered, "converted": c.converted,
                             "still_waiting": c.still_waiting, **rated(c)} for c in f.conversions],
            "win_rates": [{"segment": w.segment, "won": w.won, "lost": w.lost, **rated(w)} for w in f.win_rates],
            "qualified_pipeline": {"volume": f.pipeline_volume, "value": f.pipeline_value,
                                   "value_note": VALUE_NOTE if f.pipeline_value is None else None,
                                   "velocity_days": f.velocity_days,
                                   "conversion_pct": {c.step: _pct(c.rate) for c in f.conversions}},
            "mqls_per_week": {"target": per_week,
                              "weeks": [{"starts": w.starts.isoformat() if w.starts else None, "ends": w.ends.isoformat(),
                                         "mqls": w.mqls, "complete": w.complete, "met": w.met} for w in f.weeks]},
            "quarter_to_date": None if q is None else {
                "starts": q.starts.isoformat(), "ends": q.ends.isoformat(), "qualified": q.qualified,
                "commitment": q.commitment, "expected_by_now": q.expected_by_now, "on_track": q.on_track,
                "weeks": [{"starts": w.starts.isoformat(), "ends": w.ends.isoformat(), "mqls": w.mqls,
                           "cumulative": w.cumulative, "pace": w.pace, "complete": w.complete, "on_track": w.on_track}
                          for w in q.weeks]}}


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

def build_report(rt: Any, kind: str, since: str) -> dict[str, Any]:
    now = rt.clock()
    start = period_start(since, now)
    mask = rt.redactor
    if kind == "funnel":
        people = rt.store.people()
        # Weekly counts cover whole calendar weeks, so the same week reads the same whatever --since.
        weeks_from = min(start, S.week_start(start))
        f = S.funnel(people, rt.store.transitions(since=weeks_from), rt.definition, start, now)
        f = S.funnel_with_quarter(f, rt.store.transitions(since=S.quarter_start(now)), rt.definition, now)
        return funnel_dict(f, now, start)
    rows = follow_ups(rt.store, rt.definition, start, now)
    if kind == "sla":
        return sla_dict(rows, rt.definition, now, mask)
    if kind == "queue":
        return queue_dict(S.queue(rows), now, mask, rt.definition.sla)
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
