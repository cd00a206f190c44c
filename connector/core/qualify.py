"""The qualification engine: lead + activities + definition + now → stage, score and why.

Pure and deterministic: no I/O, no clock reads, no globals. Follows SPEC §4:
1. a fit rule failing on a present value disqualifies (unless sales owns the lead); a missing fit
   field neither passes nor fails but blocks the handoff;
2. score = profile points + engagement points (inside the window, ``max_count`` most recent
   occurrences per rule, decayed by half-life);
3. mql = every fit rule passes, required fields present, score and engagement thresholds met,
   and the lead is ready (readiness field or a buying signal in the window);
4. near-qualified = not mql, exactly one required/fit field missing, every other gate passing;
5. otherwise lead (submitted a form or has more than an email) or subscriber;
6. stages never move backwards by score alone;
7. sal becomes sql once the weighted BANT passes reach ``require``.

The hot path works on objects compiled once per definition (``_Plan``): static gates and zero
contributions are shared, and activities go through ``engagement.EngagementScorer``, so a lead
costs one pass over its activities and one predicate per rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, NamedTuple, Sequence

from connector.core import model
from connector.core.definition import Definition
from connector.core.engagement import BuyingSignal, Contribution, EngagementScorer
from connector.core.predicate import as_bool, as_number, is_missing

__all__ = ["BantVerdict", "BuyingSignal", "Contribution", "Gate", "Qualification", "evaluate",
           "handoff_reason", "lead_value"]


class Gate(NamedTuple):
    """One condition of the mql decision. verdict: True passes, False fails, None unknown."""

    name: str
    verdict: bool | None
    detail: str
    kind: str = ""            # required | fit | score | engagement | readiness
    field: str = ""           # the lead field the gate reads, when it reads one


class BantVerdict(NamedTuple):
    criterion: str
    verdict: bool | None
    weight: float


@dataclass(frozen=True, slots=True)
class Qualification:
    """The engine's answer for one lead, with its whole explanation."""

    stage: str                              # proposed canonical stage
    mql: bool                               # every mql gate passes now
    score: float                            # == sum of contributions' points
    profile_score: float                    # written to HubSpot as leadsync_fit_score
    engagement_score: float
    ready: bool
    gates: tuple[Gate, ...]
    contributions: tuple[Contribution, ...]
    disqualified_by: str | None             # the fit rule that failed on a present value
    missing: str | None                     # near-qualified: the one field to fill in
    missing_required: tuple[str, ...]
    bant_score: float                       # weighted BANT passes
    bant_required: float | None
    bant: tuple[BantVerdict, ...]
    buying_signals: tuple[BuyingSignal, ...]   # most recent first
    definition_version: int

    @property
    def near_qualified(self) -> bool:
        return self.missing is not None


class _Fit(NamedTuple):
    name: str
    field: str
    verdict: Any              # Predicate.verdict
    predicate: Any
    passed: Gate
    missing: Gate


class _Profile(NamedTuple):
    field: str
    verdict: Any
    hit: Contribution
    no_match: Contribution
    unknown: Contribution


class _Plan:
    """Everything about a definition the hot path needs, computed once and shared."""

    def __init__(self, definition: Definition) -> None:
        self.required = tuple((name, Gate(f"Required {name}", True, "present", "required", name),
                               Gate(f"Required {name}", False, "missing", "required", name))
                              for name in definition.required)
        self.fit = tuple(_Fit(r.name, r.predicate.field, r.predicate.verdict, r.predicate,
                              Gate(r.name, True, r.predicate.text, "fit", r.predicate.field),
                              Gate(r.name, None, f"{r.predicate.field} missing", "fit", r.predicate.field))
                         for r in definition.fit)
        self.profile = tuple(_Profile(
            r.predicate.field, r.predicate.verdict,
            Contribution(r.name, "profile", r.points, 1, r.predicate.text),
            Contribution(r.name, "profile", 0.0, 0, f"no match ({r.predicate.text})"),
            Contribution(r.name, "profile", 0.0, 0, f"{r.predicate.field} missing"),
        ) for r in definition.profile)
        self.engagement = EngagementScorer(definition)
        self.bant = tuple((c.predicate.field, c.predicate.verdict, c.weight,
                           {v: BantVerdict(c.name, v, c.weight) for v in (True, False, None)})
                          for c in definition.bant)
        self.readiness_field = definition.readiness_field
        self.mql_score = definition.thresholds.mql_score
        self.min_engagement = definition.thresholds.min_engagement
        self.person_fields = tuple(sorted(definition.fields - {"email", "email_domain", "wants_sales_contact"}))
        self.uses_domain = any(f == "email_domain" for f in self._fields_read(definition))

    @staticmethod
    def _fields_read(definition: Definition) -> list[str]:
        predicates = [r.predicate for r in (*definition.fit, *definition.profile)]
        predicates += [c.predicate for c in definition.bant]
        return [p.field for p in predicates] + list(definition.required)


def _plan(definition: Definition) -> _Plan:
    plan = definition._cache.get("plan")
    if plan is None:
        plan = definition._cache["plan"] = _Plan(definition)
    return plan


def lead_value(lead: Mapping[str, Any], field: str) -> Any:
    """A canonical field's value as the engine sees it (``email_domain`` derived from ``email``)."""
    return _email_domain(lead) if field == "email_domain" else lead.get(field)


def _email_domain(lead: Mapping[str, Any]) -> Any:
    domain = lead.get("email_domain")
    if is_missing(domain):
        email = lead.get("email")
        if isinstance(email, str) and "@" in email:
            return email.rpartition("@")[2].strip().lower()
    return domain


def evaluate(lead: Mapping[str, Any], activities: Sequence[model.Activity], definition: Definition,
             now: datetime, current_stage: str | None = None) -> Qualification:
    """Qualify one lead as of ``now``. ``current_stage`` is the stage it holds today."""
    plan = _plan(definition)
    get = lead.get
    domain = _email_domain(lead) if plan.uses_domain else None
    missing_fields: set[str] = set()
    gates: list[Gate] = []
    missing_required = _check_required(plan, get, domain, gates, missing_fields)
    disqualified_by = _check_fit(plan, get, domain, gates, missing_fields)
    fit_failed = disqualified_by is not None
    contributions: list[Contribution] = []
    profile_score = _score_profile(plan, get, domain, contributions)
    engagement_score, signals, submitted_form = plan.engagement.score(activities, now, contributions)
    profile_score = round(profile_score, 2)
    score = round(profile_score + engagement_score, 2)  # == the sum of contributions (tested)

    ready_by_field = plan.readiness_field is not None and as_bool(get(plan.readiness_field)) is True
    ready = ready_by_field or bool(signals)
    score_ok = score >= plan.mql_score
    engagement_ok = engagement_score >= plan.min_engagement
    gates.append(Gate("Score", score_ok, f"{score:g} {'≥' if score_ok else '<'} {plan.mql_score:g}", "score"))
    gates.append(Gate("Engagement", engagement_ok,
                      f"{engagement_score:g} {'≥' if engagement_ok else '<'} {plan.min_engagement:g}", "engagement"))
    gates.append(_readiness_gate(plan, ready_by_field, signals))
    mql = not missing_fields and not fit_failed and score_ok and engagement_ok and ready

    bant, bant_score = _bant(plan, get)
    stage = _stage(current_stage, disqualified_by, mql,
                   bant_score >= definition.bant_require if definition.bant_require is not None else False,
                   submitted_form or _more_than_email(plan, get))
    missing = None
    if (len(missing_fields) == 1 and not mql and not fit_failed and score_ok and engagement_ok and ready
            and stage not in model.HANDED_OFF and stage != "disqualified"):
        missing = next(iter(missing_fields))

    return Qualification(
        stage=stage, mql=mql, score=score, profile_score=profile_score, engagement_score=engagement_score,
        ready=ready, gates=tuple(gates), contributions=tuple(contributions), disqualified_by=disqualified_by,
        missing=missing, missing_required=tuple(missing_required), bant_score=bant_score,
        bant_required=definition.bant_require, bant=bant, buying_signals=signals,
        definition_version=definition.version,
    )


def _check_required(plan: _Plan, get: Any, domain: Any, gates: list[Gate], missing_fields: set[str]) -> list[str]:
    missing = []
    for name, present_gate, missing_gate in plan.required:
        value = domain if name == "email_domain" else get(name)
        if is_missing(value):
            missing.append(name)
            missing_fields.add(name)
            gates.append(missing_gate)
        else:
            gates.append(present_gate)
    return missing


def _check_fit(plan: _Plan, get: Any, domain: Any, gates: list[Gate], missing_fields: set[str]) -> str | None:
    """Add each fit rule's gate; return the first rule failing on a present value."""
    disqualified_by = None
    for fit in plan.fit:
        value = domain if fit.field == "email_domain" else get(fit.field)
        verdict = fit.verdict(value)
        if verdict is True:
            gates.append(fit.passed)
        elif verdict is None or is_missing(value):
            # Missing (or not a number): neither passes nor fails, but blocks the handoff.
            missing_fields.add(fit.field)
            gates.append(fit.missing if value is None or value == "" else
                         Gate(fit.name, None, fit.predicate.explain(value), "fit", fit.field))
        else:
            disqualified_by = disqualified_by or fit.name
            gates.append(Gate(fit.name, False, fit.predicate.explain(value), "fit", fit.field))
    return disqualified_by


def _score_profile(plan: _Plan, get: Any, domain: Any, contributions: list[Contribution]) -> float:
    score = 0.0
    for rule in plan.profile:
        verdict = rule.verdict(domain if rule.field == "email_domain" else get(rule.field))
        if verdict is True:
            contributions.append(rule.hit)
            score += rule.hit.points
        else:
            contributions.append(rule.no_match if verdict is False else rule.unknown)
    return score


def _readiness_gate(plan: _Plan, by_field: bool, signals: tuple[BuyingSignal, ...]) -> Gate:
    if by_field:
        return Gate("Ready", True, f"{plan.readiness_field} = yes", "readiness", plan.readiness_field)
    if signals:
        latest = signals[0]
        return Gate("Ready", True, f"buying signal: {latest.rule} {latest.latest.date().isoformat()}", "readiness")
    asked = f"{plan.readiness_field} not yes and " if plan.readiness_field else ""
    return Gate("Ready", False, f"{asked}no buying signal in the window", "readiness", plan.readiness_field or "")


def _bant(plan: _Plan, get: Any) -> tuple[tuple[BantVerdict, ...], float]:
    verdicts = []
    passed = 0.0
    for field, verdict_of, weight, by_verdict in plan.bant:
        verdict = verdict_of(get(field))
        if verdict is True:
            passed += weight
        verdicts.append(by_verdict[verdict])
    return tuple(verdicts), passed


def _more_than_email(plan: _Plan, get: Any) -> bool:
    for name in plan.person_fields:
        value = get(name)
        if not is_missing(value):
            return True
    return False


def _stage(current: str | None, disqualified_by: str | None, mql: bool, bant_met: bool,
           is_lead: bool) -> str:
    """The proposed stage, honouring who owns the lead and that score never moves it back."""
    if current in model.SALES_OWNED:
        # Sales' stages move on sales' feedback only; BANT is the one promotion the engine makes.
        return "sql" if current == "sal" and bant_met else current
    if disqualified_by is not None:
        return "disqualified"
    if mql:
        return "mql"
    if current in ("mql", "recycled"):
        return current
    fresh = "lead" if is_lead else "subscriber"
    if current == "disqualified":
        return fresh  # fit passes again (e.g. corrected data): evaluated afresh
    return fresh if model.stage_rank(fresh) >= model.stage_rank(current) else current


REASON_LIMIT = 255            # the CRM's reason field is a 255-character text field


def handoff_reason(result: Qualification, lead: Mapping[str, Any]) -> str:
    """The sentence a sales rep reads before the first call: what they did, who they are, why.

    e.g. ``Demo request 2026-11-20; Pricing page ×3; VP Engineering at a 450-person Software
    company (score 85, definition v1)``. Never longer than 255 characters.
    """
    actions = [f"{s.rule} {s.latest.date().isoformat()}" if s.count == 1 else f"{s.rule} ×{s.count}"
               for s in result.buying_signals]
    signalled = {s.rule for s in result.buying_signals}
    others = sorted((c for c in result.contributions
                     if c.kind == "behavior" and c.points > 0 and c.rule not in signalled),
                    key=lambda c: -c.points)
    actions += [c.rule if c.count == 1 else f"{c.rule} ×{c.count}" for c in others[:3]]
    # A whole-number score: with decay the exact value drifts by the minute, and a reason that
    # changed every cycle would be rewritten (and re-read) every cycle.
    tail = f"(score {round(result.score)}, definition v{result.definition_version})"
    persona = _persona(lead)
    while True:
        text = "; ".join(part for part in (*actions, persona) if part)
        reason = f"{text} {tail}" if text else tail
        if len(reason) <= REASON_LIMIT or not actions:
            break
        actions.pop()  # least important last: drop it and try again
    if len(reason) > REASON_LIMIT:
        reason = reason[: REASON_LIMIT - len(tail) - 2] + "… " + tail
    return reason


def _persona(lead: Mapping[str, Any]) -> str:
    """``VP Engineering at a 450-person Software company`` from whatever profile is known."""
    title = lead.get("title")
    who = str(title).strip() if not is_missing(title) else "Someone"
    size = as_number(lead.get("employees")) if not is_missing(lead.get("employees")) else None
    industry = lead.get("industry")
    industry = str(industry).strip() if not is_missing(industry) else ""
    if size is not None or industry:
        sized = f"{int(size):,}-person " if size is not None else ""
        article = "an" if (sized or industry)[:1].lower() in ("a", "e", "i", "o", "u", "8") else "a"
        return f"{who} at {article} {sized}{industry + ' ' if industry else ''}company"
    company = lead.get("company")
    if not is_missing(company):
        return f"{who} at {str(company).strip()}"
    return "" if who == "Someone" else who
