"""Score only: the engine's verdict without its explanation, for bulk work.

``qualify.evaluate`` builds every gate, contribution and buying signal that ``leadsync explain``
shows and that the handoff reason is written from. Bulk work (``definition simulate`` replays
every stored person week by week under two definitions; a rescoring of the whole store) needs
only the verdict: the stage, the scores, whether the lead qualifies, what blocks it and which
fit rule disqualified it. ``ScorePlan`` has ``scorecode`` write one definition's rules out as
Python source once, and gives exactly the answers ``evaluate`` gives for those
(tests/core/test_fastscore.py checks it on random leads, activities and definitions):

- ``score`` judges a lead's fields and its activities as they come (``Activity`` objects,
  ``datetime`` instants): bulk rescoring;
- ``facts`` judges a lead's fields once, ``prepare`` matches a person's activities to the rules
  once (each rule's occurrences as integer microseconds since the epoch), and ``score_prepared``
  scores those at any moment with a bisection per rule: a replay (``definition simulate``).
  Microseconds, not float seconds: they are exact, so a decayed score is the very float the
  full path computes from its ``timedelta``.

The full path stays the one for explanations and for writes that carry reasons.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from connector.core import model, scorecode
from connector.core.definition import Definition

__all__ = ["Facts", "Prepared", "ScorePlan", "Verdict", "micros", "score", "score_plan"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


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

    by_rule: tuple[tuple[int, ...] | None, ...]   # per behavior rule, its occurrences in input order
    in_order: bool                  # each rule's instants ascending: its window is found by bisection
    first_form: int | None          # the earliest form submission, matched or not


def micros(moment: datetime) -> int:
    """An instant as integer microseconds since the epoch (exact, unlike a float timestamp)."""
    return (moment - (_EPOCH if moment.tzinfo is not None else _NAIVE_EPOCH)) // _MICROSECOND


class ScorePlan:
    """One definition compiled for the score-only path. Build it once (``score_plan``) and share it.

    Its functions are written for this definition alone (``source`` shows them):
    ``score(lead, activities, now, current_stage=None)``, ``facts(lead)``,
    ``prepare(activities)`` and ``score_prepared(facts, prepared, now_us, current_stage=None)``.
    """

    score: Callable[..., Verdict]
    facts: Callable[[Mapping[str, Any]], Facts]
    prepare: Callable[[Iterable[model.Activity]], Prepared]
    score_prepared: Callable[..., Verdict]

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.version = definition.version
        code = scorecode.write(definition, verdict=Verdict, facts=Facts, prepared=Prepared)
        self.source = code.source
        self.score = code.score
        self.facts = code.facts
        self.prepare = code.prepare
        self.score_prepared = code.score_prepared


def score_plan(definition: Definition) -> ScorePlan:
    """The definition's score-only plan, compiled on first use and kept with the definition."""
    plan = definition._cache.get("score_plan")
    if plan is None:
        plan = definition._cache["score_plan"] = ScorePlan(definition)
    return plan


def score(lead: Mapping[str, Any], activities: Sequence[model.Activity], definition: Definition,
          now: datetime, current_stage: str | None = None) -> Verdict:
    """``qualify.evaluate``, score only: the same stage, scores and gates, no explanation."""
    plan = definition._cache.get("score_plan") or score_plan(definition)
    return plan.score(lead, activities, now, current_stage)
