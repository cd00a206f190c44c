"""Score only: the engine's verdict without its explanation, for bulk work.

``qualify.evaluate`` builds every gate, contribution and buying signal that ``leadsync explain``
shows and that the handoff reason is written from. Bulk work (``definition simulate`` replays
every stored person week by week under two definitions; a rescoring of the whole store) needs
only the verdict: the stage, the scores, whether the lead qualifies, what blocks it and which
fit rule disqualified it. ``ScorePlan`` compiles a definition once into tuples, dicts and
closures and gives exactly the answers ``evaluate`` gives for those (tests/core/test_fastscore.py
checks it on random leads, activities and definitions):

- a lead's fields are judged once (``facts``); each predicate remembers its verdict per text
  value (titles, industries and countries repeat across leads);
- behavior rules are looked up by activity type, and a type's rule matches are remembered per
  attribute value (form ids and URLs repeat);
- ``prepare`` matches a person's activities once into (instant, rule indices) pairs, instants as
  integer microseconds since the epoch, so scoring them at many moments (a replay) costs a
  bisect and one pass over the window. Microseconds, not float seconds: they are exact, so a
  decayed score is the very float the full path computes from its ``timedelta``.

The full path stays the one for explanations and for writes that carry reasons.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from connector.core import model
from connector.core.definition import Definition
from connector.core.predicate import as_bool, is_missing
from connector.core.qualify import _stage, lead_value

__all__ = ["Facts", "Prepared", "ScorePlan", "Verdict", "micros", "score", "score_plan"]

_MEMO_LIMIT = 20_000          # distinct text values remembered per predicate or activity type
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_FORM = "form_submission"


class Verdict(NamedTuple):
    """What ``qualify.evaluate`` decides for one lead, without the explanation."""

    stage: str
    mql: bool
    score: float
    profile_score: float
    engagement_score: float
    ready: bool
    disqualified_by: str | None     # the first fit rule failing on a present value
    missing: str | None             # near-qualified: the one field to fill in
    blocked_by: tuple[str, ...]     # names of the mql gates that do not pass, in the gates' order
    bant_score: float


class Facts(NamedTuple):
    """What a lead's fields alone decide under one definition (no activities, no moment)."""

    blocked: tuple[str, ...]        # required and fit gates that do not pass
    missing_count: int              # distinct fields missing (required, or unknown to a fit rule)
    lone_missing: str | None        # that field, when it is the only one and no fit rule failed
    disqualified_by: str | None
    profile_score: float
    ready_by_field: bool
    bant_score: float
    bant_met: bool
    more_than_email: bool


class Prepared(NamedTuple):
    """One person's activities matched to the rules once: instants in epoch microseconds."""

    times: tuple[int, ...]          # of the activities some behavior rule matches, in input order
    rules: tuple[tuple[int, ...], ...]
    in_order: bool                  # times ascending: the window is found by bisection
    first_form: int | None          # the earliest form submission, matched or not


def micros(moment: datetime) -> int:
    """An instant as integer microseconds since the epoch (exact, unlike a float timestamp)."""
    return (moment - (_EPOCH if moment.tzinfo is not None else _NAIVE_EPOCH)) // _MICROSECOND


class _Memo(dict):
    """text value → verdict, filled on first use; cleared when it grows past the limit."""

    __slots__ = ("compute",)

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: Any) -> Any:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        found = self[key] = self.compute(key)
        return found


def _rule_matcher(definition: Definition, candidates: tuple[int, ...]) -> Callable[[Mapping[str, Any]], tuple[int, ...]]:
    """attrs → indices of the candidate rules (of one activity type) whose ``where`` all pass."""
    wheres = tuple((i, definition.behavior[i].where) for i in candidates)

    def match(attrs: Mapping[str, Any]) -> tuple[int, ...]:
        return tuple(i for i, where in wheres if all(p.verdict(attrs.get(p.field)) is True for p in where))
    return match


class ScorePlan:
    """One definition compiled for the score-only path. Build it once (``score_plan``) and share it."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.version = definition.version
        memo = _memoised
        self.required = tuple((name, f"Required {name}") for name in definition.required)
        self.fit = tuple((r.name, r.predicate.field, *memo(r.predicate.verdict)) for r in definition.fit)
        self.profile = tuple((r.predicate.field, r.points, *memo(r.predicate.verdict)) for r in definition.profile)
        self.bant = tuple((c.predicate.field, c.weight, *memo(c.predicate.verdict)) for c in definition.bant)
        self.bant_require = definition.bant_require
        self.readiness_field = definition.readiness_field
        self.person_fields = tuple(sorted(definition.fields - {"email", "email_domain", "wants_sales_contact"}))
        read = [f for _, f, *_ in self.fit] + [f for f, *_ in self.profile] + [f for f, *_ in self.bant]
        self.uses_domain = "email_domain" in read or "email_domain" in definition.required
        self.mql_score = definition.thresholds.mql_score
        self.min_engagement = definition.thresholds.min_engagement
        # Behavior: rule lookups by activity type, the window and the decay rate.
        behavior = definition.behavior
        self.points = tuple(r.points for r in behavior)
        self.max_count = tuple(r.max_count for r in behavior)
        self.signal = tuple(r.buying_signal for r in behavior)
        self.rule_count = len(behavior)
        by_type: dict[str, list[int]] = {}
        for index, rule in enumerate(behavior):
            by_type.setdefault(rule.activity, []).append(index)
        # A type whose rules read no attribute matches the same rules every time (``constant``);
        # one whose rules read one attribute is remembered per text value of it (``keyed``).
        self.constant: dict[str, tuple[int, ...]] = {}
        self.keyed: dict[str, tuple[str | None, dict[str, tuple[int, ...]], Callable]] = {}
        for kind, indices in by_type.items():
            read = sorted({p.field for i in indices for p in behavior[i].where})
            if not read:
                self.constant[kind] = tuple(indices)
            else:
                self.keyed[kind] = (read[0] if len(read) == 1 else None, {}, _rule_matcher(definition, tuple(indices)))
        self.window = timedelta(days=definition.engagement.window_days)
        self.window_us = self.window // _MICROSECOND
        half_life = definition.engagement.half_life_days * 86400.0
        self.rate = -1.0 / half_life if half_life > 0 else 0.0    # halvings per second of age
        # The gates computed per moment: (score ok, engagement ok, ready) → names that fail.
        self.dynamic = {(s, e, r): tuple(name for name, ok in (("Score", s), ("Engagement", e), ("Ready", r)) if not ok)
                        for s in (False, True) for e in (False, True) for r in (False, True)}
        self._stages: dict[tuple, str] = {}

    # -- the lead's fields ------------------------------------------------------------------

    def facts(self, lead: Mapping[str, Any]) -> Facts:
        """Judge a lead's fields once; the result holds for any activities and any moment."""
        get = lead.get
        domain = lead_value(lead, "email_domain") if self.uses_domain else None
        blocked: list[str] = []
        missing: set[str] = set()
        for name, gate in self.required:
            value = domain if name == "email_domain" else get(name)
            if is_missing(value):
                missing.add(name)
                blocked.append(gate)
        disqualified_by = None
        for name, field, texts, verdict_of in self.fit:
            value = domain if field == "email_domain" else get(field)
            verdict = texts[value] if value.__class__ is str else verdict_of(value)
            if verdict is True:
                continue
            blocked.append(name)
            if verdict is None or is_missing(value):
                missing.add(field)
            elif disqualified_by is None:
                disqualified_by = name
        profile = 0.0
        for field, points, texts, verdict_of in self.profile:
            value = domain if field == "email_domain" else get(field)
            if (texts[value] if value.__class__ is str else verdict_of(value)) is True:
                profile += points
        bant = 0.0
        for field, weight, texts, verdict_of in self.bant:
            value = get(field)
            if (texts[value] if value.__class__ is str else verdict_of(value)) is True:
                bant += weight
        ready_by_field = self.readiness_field is not None and as_bool(get(self.readiness_field)) is True
        more = False
        for name in self.person_fields:
            value = get(name)
            if value is not None and not is_missing(value):
                more = True
                break
        lone = next(iter(missing)) if len(missing) == 1 and disqualified_by is None else None
        return Facts(tuple(blocked), len(missing), lone, disqualified_by, round(profile, 2), ready_by_field,
                     bant, bant >= self.bant_require if self.bant_require is not None else False, more)

    # -- activities ------------------------------------------------------------------------

    def _rules_of(self, kind: str, attrs: Mapping[str, Any]) -> tuple[int, ...] | None:
        """The rules an activity matches; None when no rule is about its type."""
        found = self.constant.get(kind)
        if found is not None:
            return found
        entry = self.keyed.get(kind)
        if entry is None:
            return None
        field, memo, match = entry
        if field is None:
            return match(attrs)
        value = attrs.get(field)
        if value.__class__ is not str:
            return match(attrs)
        found = memo.get(value)
        if found is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            found = memo[value] = match(attrs)
        return found

    def prepare(self, activities: Iterable[model.Activity]) -> Prepared:
        """Match a person's activities to the rules once, for scoring at any number of moments."""
        times: list[int] = []
        rules: list[tuple[int, ...]] = []
        first_form = None
        for activity in activities:
            kind = activity.type
            found = self._rules_of(kind, activity.attrs)
            if not found and kind != _FORM:
                continue
            at = micros(activity.occurred_at)
            if kind == _FORM and (first_form is None or at < first_form):
                first_form = at
            if found:
                times.append(at)
                rules.append(found)
        in_order = all(a <= b for a, b in zip(times, times[1:]))
        return Prepared(tuple(times), tuple(rules), in_order, first_form)

    # -- the verdict -----------------------------------------------------------------------

    def score(self, lead: Mapping[str, Any], activities: Sequence[model.Activity], now: datetime,
              current_stage: str | None = None) -> Verdict:
        """``qualify.evaluate``'s verdict for one lead, from its activities as they come."""
        facts = self.facts(lead)
        start = now - self.window
        occurrences: list[list[datetime] | None] = [None] * self.rule_count
        submitted = False
        constant, keyed, rules_of = self.constant, self.keyed, self._rules_of
        for activity in activities:
            at = activity.occurred_at
            if at > now:
                continue
            kind = activity.type
            if kind == _FORM:
                submitted = True
            if at < start:
                continue
            found = constant.get(kind)
            if found is None:
                entry = keyed.get(kind)
                if entry is None:
                    continue
                field = entry[0]
                value = activity.attrs.get(field) if field is not None else None
                found = entry[1].get(value) if value.__class__ is str else None
                if found is None:
                    found = rules_of(kind, activity.attrs)
            for index in found:
                seen = occurrences[index]
                if seen is None:
                    occurrences[index] = [at]
                else:
                    seen.append(at)
        if self.rate:
            for seen in occurrences:     # ages in seconds, as the full path computes them
                if seen is not None:
                    seen[:] = [(now - at).total_seconds() for at in seen]
            engagement, signalled = self._decayed(occurrences)
        else:
            engagement, signalled = self._counted(occurrences)
        return self._verdict(facts, engagement, signalled, submitted, current_stage)

    def score_prepared(self, facts: Facts, prepared: Prepared, now: int, current_stage: str | None = None) -> Verdict:
        """The verdict as of ``now`` (epoch microseconds) from ``facts`` and ``prepare``'d activities."""
        times, rules = prepared.times, prepared.rules
        start = now - self.window_us
        if prepared.in_order:
            span: Iterable[int] = range(bisect_left(times, start), bisect_right(times, now))
        else:
            span = [k for k, at in enumerate(times) if start <= at <= now]
        occurrences: list[list[int] | None] = [None] * self.rule_count
        for k in span:
            at = times[k]
            for index in rules[k]:
                seen = occurrences[index]
                if seen is None:
                    occurrences[index] = [at]
                else:
                    seen.append(at)
        if self.rate:
            # As the full path computes them: (now - at).total_seconds() is whole microseconds / 10**6.
            for seen in occurrences:
                if seen is not None:
                    seen[:] = [(now - at) / 1_000_000 for at in seen]
            engagement, signalled = self._decayed(occurrences)
        else:
            engagement, signalled = self._counted(occurrences)
        first_form = prepared.first_form
        return self._verdict(facts, engagement, signalled, first_form is not None and first_form <= now,
                             current_stage)

    def _decayed(self, occurrences: list) -> tuple[float, bool]:
        """Engagement with decay from each rule's occurrence ages (seconds), summed exactly as
        ``engagement.EngagementScorer`` sums it: rule by rule, each rule's occurrences in the order
        met (the ``max_count`` youngest first when capped), each worth ``points × 2^(−age /
        half-life)``, rounded per rule."""
        engagement = 0.0
        signalled = False
        rate, exp2 = self.rate, math.exp2
        for index, seen in enumerate(occurrences):
            if seen is None:
                continue
            cap = self.max_count[index]
            if cap is not None and len(seen) > cap:
                seen = sorted(seen)[:cap]
            total = 0.0
            for age in seen:
                total += exp2(age * rate)
            engagement += round(self.points[index] * total, 2)
            signalled = signalled or self.signal[index]
        return round(engagement, 2), signalled

    def _counted(self, occurrences: list) -> tuple[float, bool]:
        """Engagement without decay: points × occurrences counted, rounded per rule."""
        engagement = 0.0
        signalled = False
        for index, seen in enumerate(occurrences):
            if seen is None:
                continue
            cap = self.max_count[index]
            counted = len(seen) if cap is None or len(seen) <= cap else cap
            engagement += round(self.points[index] * counted, 2)
            signalled = signalled or self.signal[index]
        return round(engagement, 2), signalled

    def _verdict(self, facts: Facts, engagement: float, signalled: bool, submitted: bool,
                 current_stage: str | None) -> Verdict:
        """The gates and the stage, as ``qualify.evaluate`` decides them."""
        profile = facts.profile_score
        score = round(profile + engagement, 2)
        ready = facts.ready_by_field or signalled
        score_ok = score >= self.mql_score
        engagement_ok = engagement >= self.min_engagement
        mql = not facts.missing_count and facts.disqualified_by is None and score_ok and engagement_ok and ready
        is_lead = submitted or facts.more_than_email
        key = (current_stage, facts.disqualified_by, mql, facts.bant_met, is_lead)
        stage = self._stages.get(key)
        if stage is None:
            stage = _stage(current_stage, facts.disqualified_by, mql, facts.bant_met, is_lead)
            if len(self._stages) < _MEMO_LIMIT:
                self._stages[key] = stage
        missing = (facts.lone_missing if facts.lone_missing is not None and score_ok and engagement_ok and ready
                   and stage not in model.HANDED_OFF and stage != "disqualified" else None)
        blocked = facts.blocked + self.dynamic[score_ok, engagement_ok, ready]
        return Verdict(stage, mql, score, profile, engagement, ready, facts.disqualified_by, missing, blocked,
                       facts.bant_score)


def _memoised(verdict: Callable[[Any], bool | None]) -> tuple[_Memo, Callable[[Any], bool | None]]:
    """A predicate's verdict remembered per text value, and the predicate for any other value."""
    return _Memo(verdict), verdict


def score_plan(definition: Definition) -> ScorePlan:
    """The definition's score-only plan, compiled on first use and kept with the definition."""
    plan = definition._cache.get("score_plan")
    if plan is None:
        plan = definition._cache["score_plan"] = ScorePlan(definition)
    return plan


def score(lead: Mapping[str, Any], activities: Sequence[model.Activity], definition: Definition,
          now: datetime, current_stage: str | None = None) -> Verdict:
    """``qualify.evaluate``, score only: the same stage, scores and gates, no explanation."""
    return score_plan(definition).score(lead, activities, now, current_stage)
