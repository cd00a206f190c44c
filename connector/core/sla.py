"""Service levels and the funnel, computed from stored facts. Pure: rows + definition + now in,
plain values out; no store, no clock, no printing (reports.py does the I/O).

Sales' side of the agreement (LEAD-PROCESS §6): every handed-off lead is followed up within the
target (30 minutes), never later than the deadline (one day), and gets a minimum of calls and
emails over a period. Marketing's side: qualified leads per week against the quarterly commitment.
The funnel (§7): stage-to-stage conversion against the definition's targets, win rates for new
and existing customers, and the qualified pipeline's volume, value, velocity and conversion.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from statistics import median
from typing import Any, Iterable, Mapping, Sequence

from connector.core.definition import Definition, Sla
from connector.core.model import FORWARD_ORDER, HANDED_OFF, STAGES, Activity, stage_rank

SALES_TOUCH = "sales_touch"
TARGET_MISSED, DEADLINE_MISSED, TOO_FEW_TOUCHES = "first touch after target", "first touch after deadline", "too few touches"
MET, BREACHED, PENDING = "met", "breached", "pending"
QUALIFIED_PIPELINE = ("sql", "opportunity")
VELOCITY_STEPS = (("mql", "sal"), ("sal", "sql"), ("sql", "opportunity"), ("opportunity", "customer"))
WEEKS_PER_QUARTER = 13


# -- sales' follow-up of each handoff ----------------------------------------------------------

@dataclass(frozen=True)
class FollowUp:
    """How sales followed up one handoff. A verdict is None while it cannot be known yet."""

    hubspot_id: str
    email: str | None
    stage: str
    score: float | None
    handoff_at: datetime
    first_touch_at: datetime | None
    within_target: bool | None
    within_deadline: bool | None
    calls: int
    emails: int
    touches_met: bool | None
    breaches: tuple[str, ...]
    owner_id: str | None = None

    @property
    def verdict(self) -> str:
        """met / breached / pending. An untouched lead still inside its target is pending: it
        has not kept the agreement yet, nor broken it."""
        if self.breaches:
            return BREACHED
        return MET if self.first_touch_at is not None or self.within_target else PENDING

    def next_due(self, sla: Sla, now: datetime) -> tuple[str, datetime] | None:
        """The next promise to keep while the lead is untouched: the target, then the deadline
        (a past deadline is returned too: the queue shows how overdue it is)."""
        if self.first_touch_at is not None:
            return None
        target = self.handoff_at + sla.first_touch_target if sla.first_touch_target else None
        if target is not None and now < target:
            return "first touch", target
        if sla.first_touch_deadline:
            return "deadline", self.handoff_at + sla.first_touch_deadline
        return ("first touch", target) if target else None

    @property
    def minutes_to_first_touch(self) -> float | None:
        if self.first_touch_at is None:
            return None
        return round((self.first_touch_at - self.handoff_at).total_seconds() / 60, 1)

    @property
    def status(self) -> str:
        if DEADLINE_MISSED in self.breaches:
            return "deadline missed"
        if TARGET_MISSED in self.breaches:
            return "target missed" if self.first_touch_at else "late: not touched"
        return "touched" if self.first_touch_at else "waiting"


def first_touch(handoff_at: datetime, touches: Iterable[Activity], accepted_at: Iterable[datetime]) -> datetime | None:
    """The earliest sales response after the handoff: a touch (call, email, meeting) or the
    status change to accepted, whichever came first. Earlier history belongs to an older handoff."""
    moments = [a.occurred_at for a in touches if a.type == SALES_TOUCH] + list(accepted_at)
    after = [m for m in moments if m >= handoff_at]
    return min(after) if after else None


def _kept(handoff_at: datetime, touched_at: datetime | None, limit: timedelta | None, now: datetime) -> bool | None:
    if limit is None:
        return None
    if touched_at is not None:
        return touched_at - handoff_at <= limit
    return False if now - handoff_at > limit else None


def count_touches(handoff_at: datetime, touches: Iterable[Activity], within: timedelta | None) -> tuple[int, int]:
    """(calls, emails) inside the touch period. A meeting is a live conversation, so it counts as
    a call; a Task without a kind was logged as a call by the mapping already."""
    end = handoff_at + within if within else None
    calls = emails = 0
    for a in touches:
        if a.type != SALES_TOUCH or a.occurred_at < handoff_at or (end and a.occurred_at > end):
            continue
        if a.attrs.get("kind") == "email":
            emails += 1
        else:
            calls += 1
    return calls, emails


def _touches_met(sla: Sla, stage: str, handoff_at: datetime, calls: int, emails: int, now: datetime) -> bool | None:
    # A lead sales handed back (recycled, disqualified) owes no more touches.
    if not (sla.touch_calls or sla.touch_emails) or not sla.touch_within or stage not in HANDED_OFF:
        return None
    if calls >= sla.touch_calls and emails >= sla.touch_emails:
        return True
    return False if now - handoff_at > sla.touch_within else None


def follow_up(person: Mapping[str, Any], touches: Sequence[Activity], accepted_at: Iterable[datetime],
              sla: Sla, now: datetime) -> FollowUp:
    handoff_at = person["handoff_at"]
    touched = first_touch(handoff_at, touches, accepted_at)
    calls, emails = count_touches(handoff_at, touches, sla.touch_within)
    target = _kept(handoff_at, touched, sla.first_touch_target, now)
    deadline = _kept(handoff_at, touched, sla.first_touch_deadline, now)
    met = _touches_met(sla, person["stage"], handoff_at, calls, emails, now)
    breaches = tuple(name for name, verdict in ((TARGET_MISSED, target), (DEADLINE_MISSED, deadline),
                                                 (TOO_FEW_TOUCHES, met)) if verdict is False)
    return FollowUp(person["hubspot_id"], person.get("email"), person["stage"], person.get("score"), handoff_at,
                    touched, target, deadline, calls, emails, met, breaches, person.get("owner_id"))


def _accepted_at(transitions: Iterable[Mapping[str, Any]]) -> dict[str, list[datetime]]:
    accepted: dict[str, list[datetime]] = {}
    for t in transitions:
        if t["to_stage"] == "sal":
            accepted.setdefault(t["hubspot_id"], []).append(t["at"])
    return accepted


def follow_ups(people: Iterable[Mapping[str, Any]], touches: Mapping[str, Sequence[Activity]],
               transitions: Iterable[Mapping[str, Any]], sla: Sla, now: datetime,
               since: datetime | None = None) -> list[FollowUp]:
    """Every handoff (since ``since``), oldest first."""
    accepted = _accepted_at(transitions)
    handed = [p for p in people if p.get("handoff_at") and (since is None or p["handoff_at"] >= since)]
    handed.sort(key=lambda p: p["handoff_at"])
    return [follow_up(p, touches.get(p["hubspot_id"], ()), accepted.get(p["hubspot_id"], ()), sla, now)
            for p in handed]


@dataclass(frozen=True)
class Compliance:
    handed_off: int
    touched: int
    median_minutes_to_first_touch: float | None
    within_target: float | None       # share of decided handoffs; None when none is decided yet
    within_deadline: float | None
    touches_met: float | None
    overall: float | None             # met / (met + breached); pending leads are not counted as kept
    breaches: int
    met: int = 0
    breached: int = 0
    pending: int = 0


def _share(verdicts: Iterable[bool | None]) -> float | None:
    decided = [v for v in verdicts if v is not None]
    return sum(decided) / len(decided) if decided else None


def compliance(rows: Sequence[FollowUp]) -> Compliance:
    minutes = [r.minutes_to_first_touch for r in rows if r.minutes_to_first_touch is not None]
    verdicts = Counter(r.verdict for r in rows)
    decided = verdicts[MET] + verdicts[BREACHED]
    return Compliance(
        handed_off=len(rows), touched=len(minutes),
        median_minutes_to_first_touch=round(median(minutes), 1) if minutes else None,
        within_target=_share(r.within_target for r in rows),
        within_deadline=_share(r.within_deadline for r in rows),
        touches_met=_share(r.touches_met for r in rows),
        overall=verdicts[MET] / decided if decided else None,
        breaches=sum(len(r.breaches) for r in rows),
        met=verdicts[MET], breached=verdicts[BREACHED], pending=verdicts[PENDING])


def compliance_by(rows: Sequence[FollowUp], key: Any) -> dict[Any, Compliance]:
    """Compliance per group (per rep: ``lambda r: r.owner_id``; per week: ``week_of``)."""
    groups: dict[Any, list[FollowUp]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {k: compliance(v) for k, v in groups.items()}


def queue(rows: Sequence[FollowUp]) -> list[FollowUp]:
    """Sales' queue: handed off, not yet accepted (still mql); highest score first, then oldest."""
    waiting = [r for r in rows if r.stage == "mql"]
    return sorted(waiting, key=lambda r: (-(r.score or 0), r.handoff_at))


# -- the funnel ------------------------------------------------------------------------------------

def first_reached(transitions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, datetime]]:
    """Per person, when each stage was first entered (transitions in time order)."""
    reached: dict[str, dict[str, datetime]] = {}
    for t in sorted(transitions, key=lambda t: t["at"]):
        reached.setdefault(t["hubspot_id"], {}).setdefault(t["to_stage"], t["at"])
    return reached


def _got_to(stages: Mapping[str, datetime], stage: str, after: datetime) -> bool:
    """Reached ``stage`` or any later forward stage at or after ``after`` (a stage can be skipped,
    e.g. a lead sales converted by hand goes straight to sql)."""
    rank = stage_rank(stage)
    return any(stage_rank(s) >= rank and at >= after for s, at in stages.items() if s in FORWARD_ORDER)


@dataclass(frozen=True)
class Conversion:
    step: str                          # "mql → sal"
    entered: int
    converted: int
    target: tuple[float, float] | None
    still_waiting: int = 0             # entered, still in that stage: no decision yet

    @property
    def rate(self) -> float | None:
        return self.converted / self.entered if self.entered else None

    @property
    def verdict(self) -> str | None:
        return judge(self.rate, self.target)


def judge(rate: float | None, target: tuple[float, float] | None) -> str | None:
    if rate is None or target is None:
        return None
    low, high = target
    return "below target" if rate < low else "above target" if rate > high else "on target"


def conversion(reached: Mapping[str, Mapping[str, datetime]], from_stage: str, to_stage: str,
               target: tuple[float, float] | None = None,
               stage_now: Mapping[str, str] | None = None) -> Conversion:
    """Of the people who entered ``from_stage``, how many went on to ``to_stage`` (or beyond),
    and how many still wait in ``from_stage`` (a young cohort converts below target at first)."""
    cohort = {pid: stages for pid, stages in reached.items() if from_stage in stages}
    converted = sum(_got_to(stages, to_stage, stages[from_stage]) for stages in cohort.values())
    waiting = sum((stage_now or {}).get(pid) == from_stage for pid in cohort)
    return Conversion(f"{from_stage} → {to_stage}", len(cohort), converted, target, waiting)


@dataclass(frozen=True)
class WinRate:
    segment: str                       # "new" | "existing"
    won: int
    lost: int
    target: tuple[float, float] | None

    @property
    def rate(self) -> float | None:
        return self.won / (self.won + self.lost) if self.won + self.lost else None

    @property
    def verdict(self) -> str | None:
        return judge(self.rate, self.target)


def closed_outcomes(transitions: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """Per person, the last closing event of its opportunity: won (customer) or not (recycled by
    the opportunity's feedback: lost, or stalled until marketing took it back)."""
    outcome: dict[str, bool] = {}
    for t in sorted(transitions, key=lambda t: t["at"]):
        if t["to_stage"] == "customer":
            outcome[t["hubspot_id"]] = True
        elif t["to_stage"] == "recycled" and t.get("cause") == "opportunity":
            outcome[t["hubspot_id"]] = False
    return outcome


def win_rates(people: Mapping[str, Mapping[str, Any]], transitions: Iterable[Mapping[str, Any]],
              targets: Mapping[str, tuple[float, float]]) -> list[WinRate]:
    tally = {"new": [0, 0], "existing": [0, 0]}
    for hubspot_id, won in closed_outcomes(transitions).items():
        segment = "existing" if people.get(hubspot_id, {}).get("existing_customer") else "new"
        tally[segment][0 if won else 1] += 1
    return [WinRate(seg, won, lost, targets.get(f"win_rate_{seg}")) for seg, (won, lost) in tally.items()]


def velocity(reached: Mapping[str, Mapping[str, datetime]]) -> dict[str, float | None]:
    """Median days from entering one stage to entering the next, per step. A deal won straight
    from sql skips "opportunity": its last step is timed from the latest stage it did enter."""
    result: dict[str, float | None] = {}
    for a, b in VELOCITY_STEPS:
        days = []
        for s in reached.values():
            start = s.get(a) or _latest_before(s, b)
            if b in s and start is not None and s[b] >= start:
                days.append((s[b] - start).total_seconds() / 86400)
        result[f"{a} → {b}"] = round(median(days), 3) if days else None
    return result


def _latest_before(stages: Mapping[str, datetime], stage: str) -> datetime | None:
    """When the person entered the latest forward stage before ``stage`` (only for the final
    step, so a skipped stage is not counted twice)."""
    if stage != VELOCITY_STEPS[-1][1]:
        return None
    rank = stage_rank(stage)
    earlier = [at for name, at in stages.items() if name in FORWARD_ORDER and stage_rank(name) < rank]
    return max(earlier) if earlier else None


@dataclass(frozen=True)
class WeekOfMqls:
    ends: datetime
    mqls: int
    target: float | None
    complete: bool = True              # the current week is still running: not judged yet
    starts: datetime | None = None

    @property
    def met(self) -> bool | None:
        return None if self.target is None or not self.complete else self.mqls >= self.target


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the calendar week holding ``moment``: weeks do not depend on --since."""
    day = moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def calendar_weeks(since: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """(start, end) of every calendar week from the one holding ``since`` to the one holding ``now``."""
    weeks, start = [], week_start(since)
    while start <= now:
        weeks.append((start, start + timedelta(days=7)))
        start += timedelta(days=7)
    return weeks


def weekly_target(per_quarter: int | None) -> int | None:
    """The quarterly commitment as a whole number of leads per week (13 weeks, rounded up)."""
    return math.ceil(per_quarter / WEEKS_PER_QUARTER) if per_quarter else None


def _mqls_in(transitions: Iterable[Mapping[str, Any]], start: datetime, end: datetime) -> int:
    return sum(1 for t in transitions if t["to_stage"] == "mql" and start <= t["at"] < end)


def mqls_per_week(transitions: Sequence[Mapping[str, Any]], per_quarter: int | None,
                  since: datetime, now: datetime) -> list[WeekOfMqls]:
    """Handoffs (transitions to mql) per calendar week, from the week holding ``since`` (the
    caller passes transitions from that week's Monday). A week is judged once it is over."""
    target = weekly_target(per_quarter)
    return [WeekOfMqls(end, _mqls_in(transitions, start, end), target, end <= now, start)
            for start, end in calendar_weeks(since, now)]


def quarter_start(moment: datetime) -> datetime:
    month = (moment.month - 1) // 3 * 3 + 1
    return moment.astimezone(timezone.utc).replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def next_quarter(start: datetime) -> datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 10 else start.replace(month=start.month + 3)


@dataclass(frozen=True)
class QuarterWeek:
    starts: datetime
    ends: datetime
    mqls: int
    cumulative: int
    pace: int                          # where the quarter-to-date total should be by this week's end
    complete: bool

    @property
    def on_track(self) -> bool | None:
        return self.cumulative >= self.pace if self.complete else None


@dataclass(frozen=True)
class QuarterToDate:
    starts: datetime
    ends: datetime
    qualified: int
    commitment: int | None
    expected_by_now: int | None
    weeks: list[QuarterWeek]

    @property
    def on_track(self) -> bool | None:
        return None if self.expected_by_now is None else self.qualified >= self.expected_by_now


def quarter_to_date(transitions: Sequence[Mapping[str, Any]], per_quarter: int | None, now: datetime) -> QuarterToDate:
    """Qualified leads (handoffs) this calendar quarter against ``qualified_per_quarter``,
    tracked weekly: each week's count, the running total and the pace the commitment needs."""
    start = quarter_start(now)
    end = next_quarter(start)
    span = (end - start).total_seconds()
    weeks, cumulative = [], 0
    for w_start, w_end in calendar_weeks(start, now):
        lo, hi = max(w_start, start), min(w_end, end)
        n = _mqls_in(transitions, lo, hi)
        cumulative += n
        pace = math.ceil(per_quarter * (hi - start).total_seconds() / span) if per_quarter else 0
        weeks.append(QuarterWeek(lo, hi, n, cumulative, pace, hi <= now))
    expected = math.floor(per_quarter * (now - start).total_seconds() / span) if per_quarter else None
    return QuarterToDate(start, end, cumulative, per_quarter, expected, weeks)


@dataclass(frozen=True)
class Funnel:
    stages: dict[str, int]
    conversions: list[Conversion]
    win_rates: list[WinRate]
    pipeline_volume: int
    pipeline_value: float | None       # None: no amounts recorded for the open opportunities
    velocity_days: dict[str, float | None]
    weeks: list[WeekOfMqls]
    quarter: QuarterToDate | None = None


def stage_counts(people: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """People per stage, in funnel order (subscriber … customer, then recycled, disqualified)."""
    counts = Counter(p["stage"] for p in people if not p.get("deleted"))
    return {stage: counts[stage] for stage in STAGES if counts[stage]} | {
        stage: n for stage, n in counts.items() if stage not in STAGES}


def funnel(people: Mapping[str, Mapping[str, Any]], transitions: Sequence[Mapping[str, Any]],
           definition: Definition, since: datetime, now: datetime) -> Funnel:
    """The funnel over ``transitions`` (already limited to the period); ``people`` keyed by id."""
    reached = first_reached(transitions)
    targets = definition.targets
    stage_now = {pid: p["stage"] for pid, p in people.items()}
    conversions = [conversion(reached, "mql", "sal", targets.get("mql_to_sal"), stage_now),
                   conversion(reached, "sal", "sql", targets.get("sal_to_sql"), stage_now),
                   conversion(reached, "sql", "customer", None, stage_now)]
    pipeline = [p for p in people.values() if p["stage"] in QUALIFIED_PIPELINE and not p.get("deleted")]
    amounts = [p["opportunity_amount"] for p in pipeline if p.get("opportunity_amount") is not None]
    return Funnel(stage_counts(people.values()), conversions, win_rates(people, transitions, targets),
                  len(pipeline), sum(amounts) if amounts else None, velocity(reached),
                  mqls_per_week(transitions, definition.sla.qualified_per_quarter, since, now))


def funnel_with_quarter(f: Funnel, quarter_transitions: Sequence[Mapping[str, Any]], definition: Definition,
                        now: datetime) -> Funnel:
    """The funnel plus the quarter to date (which needs transitions from the quarter's start)."""
    from dataclasses import replace
    return replace(f, quarter=quarter_to_date(quarter_transitions, definition.sla.qualified_per_quarter, now))
