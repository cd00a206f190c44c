"""Engagement: behavior rules applied to a person's activities (SPEC §4 rule 2).

Only activities inside ``now - window_days .. now`` count; each rule counts at most ``max_count``
occurrences, the most recent first (with decay they are worth the most); with a half-life each
occurrence is worth ``points × 0.5^(age_days / half_life_days)``. Negative points are allowed.

This is the engine's hot loop, so the rules are compiled once per definition: activities are
matched through a memo keyed on the attribute values the rules read (form ids, URLs repeat a
lot), and the contributions that do not depend on time are built once and shared.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from connector.core.definition import BehaviorRule, Definition
from connector.core.model import Activity

_MEMO_LIMIT = 20_000      # distinct attribute values remembered per activity type


class Contribution(NamedTuple):
    """What one profile or behavior rule added to the score."""

    rule: str
    kind: str                 # profile | behavior
    points: float
    count: int                # occurrences counted (profile: 1 when it matched)
    detail: str


class BuyingSignal(NamedTuple):
    rule: str
    count: int                # occurrences inside the window
    latest: datetime


Matcher = Callable[[Mapping[str, Any]], tuple[int, ...]]


def _matcher(rules: Sequence[BehaviorRule], candidates: tuple[int, ...]) -> Matcher:
    """attrs → indices of the candidate rules whose ``where`` all pass, memoised on the values read."""
    read = tuple(sorted({p.field for i in candidates for p in rules[i].where}))
    wheres = tuple((i, rules[i].where) for i in candidates)

    def match(attrs: Mapping[str, Any]) -> tuple[int, ...]:
        return tuple(i for i, where in wheres if all(p.verdict(attrs.get(p.field)) is True for p in where))

    if not read:
        return lambda attrs: candidates   # e.g. email_open: every one matches
    memo: dict[Any, tuple[int, ...]] = {}
    single = read[0] if len(read) == 1 else None

    def memoised(attrs: Mapping[str, Any]) -> tuple[int, ...]:
        key = attrs.get(single) if single else tuple(attrs.get(a) for a in read)
        try:
            return memo[key]
        except KeyError:
            found = memo[key] = match(attrs)
            if len(memo) > _MEMO_LIMIT:
                memo.clear()  # bounded memory over millions of distinct URLs
            return found
        except TypeError:  # an unhashable attribute value: match without the memo
            return match(attrs)
    return memoised


class EngagementScorer:
    """The behavior rules of one definition, compiled."""

    def __init__(self, definition: Definition) -> None:
        self.rules = definition.behavior
        self.window = timedelta(days=definition.engagement.window_days)
        half_life = definition.engagement.half_life_days * 86400.0
        self.decay = 1.0 / half_life if half_life > 0 else 0.0   # per second of age, in halvings
        self.zero = tuple(Contribution(r.name, "behavior", 0.0, 0, "no activity in the window") for r in self.rules)
        by_type: dict[str, list[int]] = {}
        for index, rule in enumerate(self.rules):
            by_type.setdefault(rule.activity, []).append(index)
        self.matchers = {kind: _matcher(self.rules, tuple(ix)) for kind, ix in by_type.items()}
        self._undecayed: dict[tuple[int, int, int], Contribution] = {}
        self._details: dict[tuple[int, int, int], str] = {}

    def score(self, activities: Sequence[Activity], now: datetime,
              contributions: list[Contribution]) -> tuple[float, tuple[BuyingSignal, ...], bool]:
        """Append each rule's contribution; return (engagement, buying signals, submitted a form ever)."""
        occurrences: list[list[datetime] | None] = [None] * len(self.rules)
        submitted_form = False
        start = now - self.window
        matchers = self.matchers
        for activity in activities:
            at = activity.occurred_at
            if at > now:
                continue  # not yet happened as of ``now`` (replays evaluate the past)
            kind = activity.type
            if kind == "form_submission":
                submitted_form = True
            if at < start:
                continue
            match = matchers.get(kind)
            if match is None:
                continue
            for index in match(activity.attrs):
                seen = occurrences[index]
                if seen is None:
                    occurrences[index] = [at]
                else:
                    seen.append(at)
        return self._total(occurrences, now, contributions) + (submitted_form,)

    def _total(self, occurrences: list[list[datetime] | None], now: datetime,
               contributions: list[Contribution]) -> tuple[float, tuple[BuyingSignal, ...]]:
        engagement = 0.0
        signals = []
        for index, seen in enumerate(occurrences):
            if seen is None:
                contributions.append(self.zero[index])
                continue
            rule = self.rules[index]
            contribution = self._contribution(index, rule, seen, now)
            contributions.append(contribution)
            engagement += contribution.points
            if rule.buying_signal:
                signals.append(BuyingSignal(rule.name, len(seen), max(seen)))
        if len(signals) > 1:
            signals.sort(key=lambda s: s.latest, reverse=True)
        return round(engagement, 2), tuple(signals)

    def _contribution(self, index: int, rule: BehaviorRule, seen: list[datetime], now: datetime) -> Contribution:
        found = len(seen)
        counted = seen
        if rule.max_count is not None and found > rule.max_count:
            counted = sorted(seen, reverse=True)[: rule.max_count]  # most recent first
        if not self.decay:
            key = (index, len(counted), found)
            cached = self._undecayed.get(key)
            if cached is None:
                cached = Contribution(rule.name, "behavior", round(rule.points * len(counted), 2), len(counted),
                                      _detail(rule, len(counted), found, decayed=False))
                if len(self._undecayed) < _MEMO_LIMIT:
                    self._undecayed[key] = cached
            return cached
        exp2, rate = math.exp2, -self.decay
        points = rule.points * sum(exp2((now - at).total_seconds() * rate) for at in counted)
        key = (index, len(counted), found)
        detail = self._details.get(key)
        if detail is None:
            detail = _detail(rule, len(counted), found, decayed=True)
            if len(self._details) < _MEMO_LIMIT:
                self._details[key] = detail
        return Contribution(rule.name, "behavior", round(points, 2), len(counted), detail)


def _detail(rule: BehaviorRule, count: int, found: int, decayed: bool) -> str:
    capped = f" ({found} in window, max {rule.max_count})" if count < found else ""
    return f"{count} × {rule.points:g}{', decayed' if decayed else ''}{capped}"
