"""The reports as data, from the state store: SLA follow-ups (the daemon's SLA check and
``sync``'s summary), and the funnel, SLA and queue documents behind ``leadsync report --json``,
the review page and the alerts. Reads the store, computes with ``connector.core.sla``; the CLI
and the page only render what comes back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from connector.core import sla as S
from connector.core.durations import parse_duration
from connector.core.errors import ConfigError, Problem
from connector.state.store import Store


def follow_ups(store: Store, definition: Any, since: datetime, now: datetime) -> list[S.FollowUp]:
    """Every handoff since ``since`` with its SLA verdicts, from the store."""
    people = list(store.handed_off_since(since).values())
    ids = [p["hubspot_id"] for p in people]
    touches = store.activities(ids, since=since) if ids else {}
    transitions = store.transitions(since=since, hubspot_ids=ids) if ids else []
    return S.follow_ups(people, touches, transitions, definition.sla, now, since=since)


def sla_breaches(store: Store, definition: Any, now: datetime, since: timedelta = timedelta(days=30)) -> list[S.FollowUp]:
    """Handoffs of the last ``since`` with at least one breach (the daemon's SLA check)."""
    return [r for r in follow_ups(store, definition, now - since, now) if r.breaches]


TOO_FEW = S.TOO_FEW_TOUCHES


VALUE_NOTE = "opportunity amounts are not recorded in the state store; value cannot be summed"


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
