"""The shared qualified-lead definition: loaded once, validated whole, compiled for speed.

``load_definition`` parses ``mappings/qualification.toml`` and either returns a frozen
``Definition`` whose predicates are already compiled, or raises one ``ConfigError`` listing every
problem found (file, key path, reason), so an operator fixes them all in one pass.
Key paths name rules by their ``name`` when they have one (``behavior["Demo request"].where.form_id``)
and by position otherwise (``fit[2].min``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from connector.core import model
from connector.core.definition_check import (
    DEFAULT_BANT_FIELDS, Reader, parse_duration, parse_predicate, parse_where, rule_path,
)
from connector.core.errors import ConfigError, Problem
from connector.core.predicate import Predicate

__all__ = [
    "DEFAULT_BANT_FIELDS", "BantCriterion", "BehaviorRule", "Definition", "Engagement", "FitRule",
    "ProfileRule", "Sla", "Thresholds", "load_definition", "parse_definition", "parse_duration",
]

PROFILE_SCALE = frozenset({5, 10, 15})
BANT_CRITERIA = ("budget", "authority", "need", "timeline")
TARGET_KEYS = ("mql_to_sal", "sal_to_sql", "win_rate_new", "win_rate_existing")
_SECTIONS = {
    "definition", "required", "fit", "profile", "behavior", "engagement", "readiness",
    "thresholds", "bant", "sla", "targets",
}
_REQUIRED_SECTIONS = ("definition", "required", "thresholds")


@dataclass(frozen=True, slots=True)
class FitRule:
    """A hard filter: failing it on a present value disqualifies (before sales owns the lead)."""

    name: str
    predicate: Predicate


@dataclass(frozen=True, slots=True)
class ProfileRule:
    """Demographic points (5 / 10 / 15) awarded when the predicate passes."""

    name: str
    predicate: Predicate
    points: float


@dataclass(frozen=True, slots=True)
class BehaviorRule:
    """Engagement points for each matching activity inside the window, up to ``max_count``."""

    name: str
    activity: str
    where: tuple[Predicate, ...]     # on activity attributes; all must pass
    points: float
    max_count: int | None            # None = every occurrence counts
    buying_signal: bool


@dataclass(frozen=True, slots=True)
class BantCriterion:
    name: str                        # budget | authority | need | timeline
    predicate: Predicate
    weight: float


@dataclass(frozen=True, slots=True)
class Engagement:
    window_days: float = 90
    half_life_days: float = 0        # 0 = no decay


@dataclass(frozen=True, slots=True)
class Thresholds:
    mql_score: float
    min_engagement: float = 0


@dataclass(frozen=True, slots=True)
class Sla:
    first_touch_target: timedelta | None = None
    first_touch_deadline: timedelta | None = None
    touch_calls: int = 0
    touch_emails: int = 0
    touch_within: timedelta | None = None
    qualified_per_quarter: int | None = None


@dataclass(frozen=True, eq=False)
class Definition:
    """One published version of the qualified-lead definition, ready to evaluate."""

    name: str
    version: int
    effective: date
    required: tuple[str, ...]
    fit: tuple[FitRule, ...]
    profile: tuple[ProfileRule, ...]
    behavior: tuple[BehaviorRule, ...]
    thresholds: Thresholds
    engagement: Engagement = Engagement()
    readiness_field: str | None = None
    bant: tuple[BantCriterion, ...] = ()
    bant_require: float | None = None        # None: no [bant] section, sal never becomes sql here
    sla: Sla = Sla()
    targets: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    signed_by: Mapping[str, str] = field(default_factory=dict)
    review_every_days: int | None = None
    strict_profile_scale: bool = True
    fields: frozenset[str] = model.BASE_LEAD_FIELDS
    file: str = ""
    # Engine-side compiled plan and activity-match memo; derived data, never part of identity.
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def review_due(self, today: date) -> date | None:
        """The date the review fell due, when ``effective + review_every_days`` has been reached."""
        if not self.review_every_days:
            return None
        due = self.effective + timedelta(days=self.review_every_days)
        return due if today >= due else None


def load_definition(path: Any, extra_fields: Iterable[str] = ()) -> Definition:
    """Read and validate a definition file. Raises ConfigError listing every problem."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(Problem(file, "", f"cannot read the definition: {error.strerror or error}")) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(Problem(file, "", f"TOML syntax error: {error}")) from None
    return parse_definition(data, file, extra_fields)


def parse_definition(data: Mapping[str, Any], file: str, extra_fields: Iterable[str] = ()) -> Definition:
    """Validate already-parsed TOML. ``extra_fields`` are canonical fields the mappings add."""
    fields = model.BASE_LEAD_FIELDS | frozenset(extra_fields)
    reader = Reader(file, fields)
    reader.keys(data, _SECTIONS, "")
    for section in _REQUIRED_SECTIONS:
        if section not in data:
            reader.problem(section, f"missing required section [{section}]")
    meta = reader.table(data, "definition", "definition") or {}
    strict = reader.value(meta, "strict_profile_scale", "definition", bool, default=True)
    fit = _fit_rules(reader, data)
    profile = _profile_rules(reader, data, strict is not False)
    behavior = _behavior_rules(reader, data)
    _check_unique_names(reader, data)
    bant, bant_require = _bant(reader, data)
    built = dict(
        name=reader.value(meta, "name", "definition", str, required=True),
        version=_version(reader, meta),
        effective=_effective(reader, meta),
        signed_by=_signed_by(reader, meta),
        review_every_days=_positive(reader, meta, "review_every_days", "definition", int),
        strict_profile_scale=strict is not False,
        required=_required(reader, data),
        fit=fit, profile=profile, behavior=behavior,
        engagement=_engagement(reader, data),
        readiness_field=_readiness(reader, data),
        thresholds=_thresholds(reader, data),
        bant=bant, bant_require=bant_require,
        sla=_sla(reader, data),
        targets=_targets(reader, data),
        fields=fields, file=file,
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return Definition(**built)


def _version(reader: Reader, meta: Mapping[str, Any]) -> int:
    version = reader.value(meta, "version", "definition", int, required=True)
    if isinstance(version, int) and version < 1:
        reader.problem("definition.version", "must be 1 or more")
    return version


def _effective(reader: Reader, meta: Mapping[str, Any]) -> date | None:
    value = reader.value(meta, "effective", "definition", (date, str), required=True)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            reader.problem("definition.effective", f"must be a date like 2026-01-01, got {value!r}")
            return None
    if value is not None and hasattr(value, "date"):  # a TOML datetime: keep its day
        return value.date()
    return value


def _signed_by(reader: Reader, meta: Mapping[str, Any]) -> Mapping[str, str]:
    table = reader.table(meta, "signed_by", "definition.signed_by") or {}
    for role, person in table.items():
        if not isinstance(person, str):
            reader.problem(f"definition.signed_by.{role}", "must be a name (string)")
    return MappingProxyType(dict(table))


def _positive(reader: Reader, table: Mapping[str, Any], key: str, path: str, kind: Any, *,
              default: Any = None, allow_zero: bool = False) -> Any:
    value = reader.value(table, key, path, kind, default=default)
    if isinstance(value, (int, float)) and (value < 0 or (value == 0 and not allow_zero)):
        reader.problem(f"{path}.{key}", "must not be negative" if allow_zero else "must be greater than 0")
    return value


def _required(reader: Reader, data: Mapping[str, Any]) -> tuple[str, ...]:
    table = reader.table(data, "required", "required") or {}
    reader.keys(table, {"fields"}, "required")
    names = reader.value(table, "fields", "required", list, default=[])
    for index, name in enumerate(names or []):
        reader.field(name, f"required.fields[{index}]")
    return tuple(n for n in names or [] if isinstance(n, str))


def _rules(reader: Reader, data: Mapping[str, Any], section: str) -> list[tuple[str, dict]]:
    """(key path, table) for each well-formed rule in an array-of-tables section."""
    rules = data.get(section, [])
    if not isinstance(rules, list):
        reader.problem(section, f"must be an array of tables ([[{section}]])")
        return []
    found = []
    for index, rule in enumerate(rules):
        path = rule_path(section, index, rule)
        if not isinstance(rule, dict):
            reader.problem(path, "must be a table")
            continue
        if not isinstance(rule.get("name"), str) or not rule["name"].strip():
            reader.problem(f"{path}.name", "every rule needs a name (it is what explanations show)")
        found.append((path, rule))
    return found


def _fit_rules(reader: Reader, data: Mapping[str, Any]) -> tuple[FitRule, ...]:
    rules = []
    for path, rule in _rules(reader, data, "fit"):
        predicate = parse_predicate(reader, rule, path, extra_keys={"name"})
        if predicate is not None:
            rules.append(FitRule(str(rule.get("name")), predicate))
    return tuple(rules)


def _profile_rules(reader: Reader, data: Mapping[str, Any], strict: bool) -> tuple[ProfileRule, ...]:
    rules = []
    for path, rule in _rules(reader, data, "profile"):
        predicate = parse_predicate(reader, rule, path, extra_keys={"name", "points"})
        points = reader.value(rule, "points", path, (int, float), required=True)
        if strict and isinstance(points, (int, float)) and points not in PROFILE_SCALE:
            reader.problem(f"{path}.points", "profile points use the 5 / 10 / 15 scale "
                           "(set [definition] strict_profile_scale = false to allow others)")
        if predicate is not None and isinstance(points, (int, float)):
            rules.append(ProfileRule(str(rule.get("name")), predicate, float(points)))
    return tuple(rules)


def _behavior_rules(reader: Reader, data: Mapping[str, Any]) -> tuple[BehaviorRule, ...]:
    rules = []
    allowed = {"name", "activity", "where", "points", "max_count", "buying_signal"}
    for path, rule in _rules(reader, data, "behavior"):
        reader.keys(rule, allowed, path)
        activity = reader.value(rule, "activity", path, str, required=True)
        if isinstance(activity, str) and activity not in model.ACTIVITY_TYPES:
            reader.problem(f"{path}.activity", f"unknown activity type {activity!r} "
                           f"(known: {', '.join(sorted(model.ACTIVITY_TYPES))})")
            activity = None
        where = parse_where(reader, rule.get("where", {}), f"{path}.where", activity)
        points = reader.value(rule, "points", path, (int, float), required=True)
        max_count = _positive(reader, rule, "max_count", path, int)
        signal = reader.value(rule, "buying_signal", path, bool, default=False)
        if activity and where is not None and isinstance(points, (int, float)):
            rules.append(BehaviorRule(str(rule.get("name")), activity, where, float(points), max_count, bool(signal)))
    return tuple(rules)


def _check_unique_names(reader: Reader, data: Mapping[str, Any]) -> None:
    """Rule names label contributions and gates; two rules with one name make explanations lie."""
    seen: dict[str, str] = {}
    for section in ("fit", "profile", "behavior"):
        rules = data.get(section)
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            name = rule.get("name") if isinstance(rule, dict) else None
            if not isinstance(name, str):
                continue
            key = name.strip().casefold()
            if key in seen:
                reader.problem(f"{section}[{index}].name", f"duplicate rule name {name!r} (also {seen[key]})")
            else:
                seen[key] = f"{section}[{index}]"


def _engagement(reader: Reader, data: Mapping[str, Any]) -> Engagement:
    table = reader.table(data, "engagement", "engagement") or {}
    reader.keys(table, {"window_days", "half_life_days"}, "engagement")
    window = _positive(reader, table, "window_days", "engagement", (int, float), default=90)
    half_life = _positive(reader, table, "half_life_days", "engagement", (int, float), default=0, allow_zero=True)
    return Engagement(window, half_life)


def _readiness(reader: Reader, data: Mapping[str, Any]) -> str | None:
    table = reader.table(data, "readiness", "readiness") or {}
    reader.keys(table, {"field"}, "readiness")
    name = reader.value(table, "field", "readiness", str)
    if name is not None:
        reader.field(name, "readiness.field")
    return name


def _thresholds(reader: Reader, data: Mapping[str, Any]) -> Thresholds | None:
    table = reader.table(data, "thresholds", "thresholds") or {}
    reader.keys(table, {"mql_score", "min_engagement"}, "thresholds")
    score = reader.value(table, "mql_score", "thresholds", (int, float), required="thresholds" in data)
    engagement = reader.value(table, "min_engagement", "thresholds", (int, float), default=0)
    if score is None:
        return None
    return Thresholds(float(score), float(engagement or 0))


def _bant(reader: Reader, data: Mapping[str, Any]) -> tuple[tuple[BantCriterion, ...], float | None]:
    if "bant" not in data:
        return (), None
    table = reader.table(data, "bant", "bant") or {}
    reader.keys(table, {"require", *BANT_CRITERIA}, "bant")
    require = _positive(reader, table, "require", "bant", (int, float))
    if require is None and "require" not in table:
        reader.problem("bant.require", "missing: how many weighted passes make a lead sql")
    criteria = []
    for name in BANT_CRITERIA:
        if name not in table:
            continue
        path = f"bant.{name}"
        spec = reader.table(table, name, path)
        if spec is None:
            continue
        predicate = parse_predicate(reader, spec, path, extra_keys={"weight"})
        weight = _positive(reader, spec, "weight", path, (int, float), default=1)
        if predicate is not None and isinstance(weight, (int, float)):
            criteria.append(BantCriterion(name, predicate, float(weight)))
    total = sum(c.weight for c in criteria)
    if isinstance(require, (int, float)) and criteria and require > total:
        reader.problem("bant.require", f"{require} can never be reached: the weights add up to {total:g}")
    return tuple(criteria), (float(require) if isinstance(require, (int, float)) else None)


def _sla(reader: Reader, data: Mapping[str, Any]) -> Sla:
    table = reader.table(data, "sla", "sla") or {}
    reader.keys(table, {"first_touch_target", "first_touch_deadline", "touches", "qualified_per_quarter"}, "sla")
    target = reader.duration(table, "first_touch_target", "sla")
    deadline = reader.duration(table, "first_touch_deadline", "sla")
    if target and deadline and target > deadline:
        reader.problem("sla.first_touch_target", "is later than sla.first_touch_deadline")
    touches = reader.table(table, "touches", "sla.touches") or {}
    reader.keys(touches, {"calls", "emails", "within"}, "sla.touches")
    calls = _positive(reader, touches, "calls", "sla.touches", int, default=0, allow_zero=True)
    emails = _positive(reader, touches, "emails", "sla.touches", int, default=0, allow_zero=True)
    within = reader.duration(touches, "within", "sla.touches")
    per_quarter = _positive(reader, table, "qualified_per_quarter", "sla", int, allow_zero=True)
    return Sla(target, deadline, calls or 0, emails or 0, within, per_quarter)


def _targets(reader: Reader, data: Mapping[str, Any]) -> Mapping[str, tuple[float, float]]:
    table = reader.table(data, "targets", "targets") or {}
    reader.keys(table, set(TARGET_KEYS), "targets")
    targets = {}
    for key, value in table.items():
        if key not in TARGET_KEYS:
            continue
        bounds = value if isinstance(value, list) else [value]
        ok = len(bounds) in (1, 2) and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b <= 1 for b in bounds)
        if not ok:
            reader.problem(f"targets.{key}", "must be a rate in [0, 1] or a range [low, high] within [0, 1]")
        elif bounds[0] > bounds[-1]:
            reader.problem(f"targets.{key}", "range low is greater than high")
        else:
            targets[key] = (float(bounds[0]), float(bounds[-1]))
    return MappingProxyType(targets)
