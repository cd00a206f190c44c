"""``leadsync definition simulate``: replay stored history under a candidate definition.

Before signing a stricter (or looser) definition, marketing and sales want to know how many
leads it would have handed off, week by week, who would newly qualify or drop out, how those
leads actually converted, and whether marketing could still meet its quarterly commitment.

Pure: people, both definitions and the period in, a report out. Each person is evaluated as of
each week's end with only the activities that had happened by then, on the score-only path
(``fastscore``: the engine's verdict without its explanation). Lead fields are as known
today (the store keeps no field history), so a replay is an estimate for profile changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from connector.core import model
from connector.core.definition import Definition
from connector.core.durations import week_ends
from connector.core.fastscore import micros, score_plan

Person = tuple[Mapping[str, Any], Sequence[model.Activity], Sequence[tuple[str, datetime]]]

_QUARTER_DAYS = 365.25 / 4
_REACHED_SAL = frozenset({"sal", "sql", "opportunity", "customer"})
_REACHED_SQL = frozenset({"sql", "opportunity", "customer"})


@dataclass(frozen=True, slots=True)
class Week:
    start: datetime
    end: datetime
    mql_current: int           # people first crossing mql this week under the current definition
    mql_candidate: int
    near_current: int          # near-qualified at the week's end
    near_candidate: int


@dataclass(frozen=True, slots=True)
class Conversions:
    """Of the people a definition qualifies, how far they really went with sales."""

    mql: int                   # qualified under this definition in the period
    observed: int              # of those, actually handed off (so sales had a chance to act)
    sal: int
    sql: int

    @property
    def mql_to_sal(self) -> float | None:
        return self.sal / self.observed if self.observed else None

    @property
    def sal_to_sql(self) -> float | None:
        return self.sql / self.sal if self.sal else None


@dataclass(frozen=True, slots=True)
class Projection:
    per_quarter_current: float
    per_quarter_candidate: float
    commitment: int | None     # sla.qualified_per_quarter of the candidate
    enough: bool | None        # None when there is no commitment to compare with
    verdict: str
    enough_current: bool | None = None    # the same question asked of the current definition
    verdict_current: str = ""


@dataclass(frozen=True, slots=True)
class SimulationReport:
    since: datetime
    now: datetime
    current_version: int
    candidate_version: int
    people: int
    already_handed_off: int    # handed off before ``since``: not counted as new mqls
    weeks: tuple[Week, ...]
    newly_qualify: tuple[str, ...]   # emails qualified by the candidate only
    drop_out: tuple[str, ...]        # emails qualified by the current definition only
    current: Conversions
    candidate: Conversions
    projection: Projection
    targets: Mapping[str, tuple[float, float]]


def _stage_at(history: Sequence[tuple[str, datetime]], moment: datetime) -> str | None:
    stage = None
    for name, at in sorted(history, key=lambda h: h[1]):
        if at > moment:
            break
        stage = name
    return stage


def _first_crossing(lead: Mapping[str, Any], acts: Sequence[model.Activity], definition: Definition,
                    start_stage: str | None, ends: Sequence[int], near: list[int]) -> int | None:
    """The week index where the person first becomes mql; counts near-qualified weeks on the way.

    Each week's end sees only the activities that had happened by then. Score only: the verdict
    is ``qualify.evaluate``'s, without the explanation nobody reads in a replay; the person's
    fields are judged once and the activities matched to the rules once, for every week."""
    plan = score_plan(definition)
    facts = plan.facts(lead)
    prepared = plan.prepare(acts)
    stage = start_stage
    for week, end in enumerate(ends):
        result = plan.score_prepared(facts, prepared, end, current_stage=stage)
        if result.mql:
            return week
        if result.missing is not None:
            near[week] += 1
        stage = result.stage
    return None


def _conversion(crossed: Iterable[tuple[str, frozenset[str]]]) -> Conversions:
    mql = observed = sal = sql = 0
    for _email, reached in crossed:
        mql += 1
        if reached & model.HANDED_OFF:
            observed += 1
            sal += bool(reached & _REACHED_SAL)
            sql += bool(reached & _REACHED_SQL)
    return Conversions(mql, observed, sal, sql)


def simulate(people: Iterable[Person], current: Definition, candidate: Definition,
             since: datetime, now: datetime) -> SimulationReport:
    """Replay ``people`` week by week from ``since`` to ``now`` under both definitions."""
    ends = week_ends(since, now)
    end_micros = [micros(end) for end in ends]
    mql = {"current": [0] * len(ends), "candidate": [0] * len(ends)}
    near = {"current": [0] * len(ends), "candidate": [0] * len(ends)}
    crossed: dict[str, list[tuple[str, frozenset[str]]]] = {"current": [], "candidate": []}
    count = already = 0
    for lead, activities, history in people:
        count += 1
        start_stage = _stage_at(history, since)
        if start_stage in model.HANDED_OFF:
            already += 1
            continue
        acts = sorted(activities, key=lambda a: a.occurred_at)
        reached = frozenset(stage for stage, at in history if at >= since)
        email = str(lead.get("email") or "")
        for which, definition in (("current", current), ("candidate", candidate)):
            week = _first_crossing(lead, acts, definition, start_stage, end_micros, near[which])
            if week is not None:
                mql[which][week] += 1
                crossed[which].append((email, reached))
    starts = [since, *ends[:-1]]
    weeks = tuple(Week(s, e, mql["current"][i], mql["candidate"][i], near["current"][i], near["candidate"][i])
                  for i, (s, e) in enumerate(zip(starts, ends)))
    current_emails = {e for e, _ in crossed["current"]}
    candidate_emails = {e for e, _ in crossed["candidate"]}
    return SimulationReport(
        since=since, now=now, current_version=current.version, candidate_version=candidate.version,
        people=count, already_handed_off=already, weeks=weeks,
        newly_qualify=tuple(sorted(candidate_emails - current_emails)),
        drop_out=tuple(sorted(current_emails - candidate_emails)),
        current=_conversion(crossed["current"]), candidate=_conversion(crossed["candidate"]),
        projection=_projection(len(crossed["current"]), len(crossed["candidate"]), now - since,
                               candidate.sla.qualified_per_quarter),
        targets=candidate.targets,
    )


def _projection(current: int, candidate: int, period: timedelta, commitment: int | None) -> Projection:
    """Scale the period's new mqls to a quarter and compare each definition with marketing's commitment."""
    scale = _QUARTER_DAYS / (period.total_seconds() / 86400)
    per_current, per_candidate = round(current * scale, 1), round(candidate * scale, 1)
    enough_current, verdict_current = _deliver(per_current, commitment)
    enough, verdict = _deliver(per_candidate, commitment)
    return Projection(per_current, per_candidate, commitment, enough, verdict, enough_current, verdict_current)


def _deliver(per_quarter: float, commitment: int | None) -> tuple[bool | None, str]:
    if commitment is None:
        return None, f"about {per_quarter:g} qualified leads a quarter; [sla] sets no commitment to compare"
    if per_quarter >= commitment:
        return True, f"yes: about {per_quarter:g} qualified leads a quarter against a commitment of {commitment}"
    return False, (f"no: about {per_quarter:g} qualified leads a quarter, {commitment - per_quarter:g} short "
                   f"of the {commitment} committed; broaden the definition or generate more demand")


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def simulation_dict(report: SimulationReport) -> dict[str, Any]:
    """``leadsync definition simulate --json``: plain JSON-ready values."""
    def conversions(c: Conversions) -> dict[str, Any]:
        return {"mql": c.mql, "observed": c.observed, "sal": c.sal, "sql": c.sql,
                "mql_to_sal": _rate(c.mql_to_sal), "sal_to_sql": _rate(c.sal_to_sql)}
    return {
        "since": report.since.isoformat(), "now": report.now.isoformat(),
        "current_version": report.current_version, "candidate_version": report.candidate_version,
        "people": report.people, "already_handed_off": report.already_handed_off,
        "weeks": [{"start": w.start.isoformat(), "end": w.end.isoformat(),
                   "mql_current": w.mql_current, "mql_candidate": w.mql_candidate,
                   "near_current": w.near_current, "near_candidate": w.near_candidate} for w in report.weeks],
        "newly_qualify": list(report.newly_qualify), "drop_out": list(report.drop_out),
        "conversions": {"current": conversions(report.current), "candidate": conversions(report.candidate)},
        "projection": {"per_quarter_current": report.projection.per_quarter_current,
                       "per_quarter_candidate": report.projection.per_quarter_candidate,
                       "commitment": report.projection.commitment, "enough": report.projection.enough,
                       "verdict": report.projection.verdict, "enough_current": report.projection.enough_current,
                       "verdict_current": report.projection.verdict_current},
        "version_bumped": report.candidate_version != report.current_version,
        "targets": {k: list(v) for k, v in report.targets.items()},
    }


def _weeks_table(report: SimulationReport) -> Table:
    table = Table(title=f"New MQLs per week: {versions(report)}", title_justify="left", show_footer=True)
    totals = [sum(getattr(w, f) for w in report.weeks) for f in ("mql_current", "mql_candidate")]
    table.add_column("week ending", footer="total")
    table.add_column("MQL now", justify="right", footer=str(totals[0]))
    table.add_column("MQL cand.", justify="right", footer=str(totals[1]))
    table.add_column("Δ", justify="right", footer=f"{totals[1] - totals[0]:+d}")
    table.add_column("near now", justify="right")
    table.add_column("near cand.", justify="right")
    for w in report.weeks:
        delta = w.mql_candidate - w.mql_current
        table.add_row(w.end.date().isoformat(), str(w.mql_current), str(w.mql_candidate),
                      Text(f"{delta:+d}", style="green" if delta > 0 else "red" if delta < 0 else ""),
                      str(w.near_current), str(w.near_candidate))
    return table


def _conversions_table(report: SimulationReport) -> Table:
    table = Table(title="Conversions (of qualified leads actually handed off)", title_justify="left")
    for column in ("Definition", "MQL", "Handed off", "SAL", "SQL", "MQL→SAL", "SAL→SQL"):
        table.add_column(column, justify="left" if column == "Definition" else "right")
    low_high = report.targets.get("mql_to_sal")
    for label, c in (("current", report.current), ("candidate", report.candidate)):
        shown = [("–" if r is None else f"{r:.0%}") for r in (c.mql_to_sal, c.sal_to_sql)]
        table.add_row(label, str(c.mql), str(c.observed), str(c.sal), str(c.sql), *shown)
    if low_high:
        table.caption = f"target MQL→SAL {low_high[0]:.0%}–{low_high[1]:.0%}"
    return table


def versions(report: SimulationReport) -> str:
    """``v1 (current) vs v2 (candidate)``; the same number twice is called out: a published
    change must bump [definition] version, or leads would carry a version that means two things."""
    return f"v{report.current_version} (current) vs v{report.candidate_version} (candidate)"


def version_note(report: SimulationReport) -> Text | None:
    if report.candidate_version != report.current_version:
        return None
    return Text(f"The candidate keeps version {report.current_version}: the version was not bumped. Set [definition] "
                f"version = {report.current_version + 1} before publishing it.", style="yellow")


def _names(label: str, emails: Sequence[str]) -> Text:
    """Every name: whoever drops out or newly qualifies is someone marketing will ask about."""
    return Text(f"{label}: {len(emails)}" + (f"\n  {', '.join(emails)}" if emails else ""))


def _verdict(label: str, enough: bool | None, text: str) -> Text:
    return Text(f"{label}: {text}", style="green" if enough else "red" if enough is False else "")


def render_simulation(report: SimulationReport) -> RenderableType:
    """The ``leadsync definition simulate`` screen."""
    header = Text(f"Replayed {report.people} people from {report.since.date()} to {report.now.date()} "
                  f"({report.already_handed_off} already handed off before the period)", style="bold")
    p = report.projection
    note = version_note(report)
    return Group(header, *([note] if note else []), _weeks_table(report),
                 _names("Would newly qualify", report.newly_qualify),
                 _names("Would drop out", report.drop_out),
                 _conversions_table(report),
                 Text("Can marketing still deliver enough?", style="bold"),
                 _verdict(f"  current v{report.current_version}", p.enough_current, p.verdict_current),
                 _verdict(f"  candidate v{report.candidate_version}", p.enough, p.verdict))
