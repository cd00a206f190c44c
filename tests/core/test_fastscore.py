"""The score-only path gives exactly the full path's verdict, for any definition, lead, history and moment."""

from __future__ import annotations

from bisect import bisect_right
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.definition import DEFAULT_BANT_FIELDS, parse_definition
from connector.core.fastscore import Verdict, micros, score, score_plan
from connector.core.model import ACTIVITY_TYPES, STAGES, Activity
from connector.core.qualify import Qualification, evaluate
from tests.core.test_qualify import NOW, definition
from tests.core.test_qualify_properties import activities as fixed_activities
from tests.core.test_qualify_properties import leads as fixed_leads

TEXTS = ["Software", "software ", "VP Sales", "Director of IT", "Student", "acme.com", "gmail.com", "a@acme.com",
         "b@gmail.com", "yes", "no", "true", "1,200", "80", "100-500", "1000+", "50-100", "0-3 months", "", "  ",
         "United States", "lots"]
NUMBERS = [0, 1, 80, 100, 999, 1200, 5000, 1.0, 99.5, -0.0]
LEAD_FIELDS = ["email", "email_domain", "first_name", "last_name", "company", "title", "industry", "employees",
               "country", "wants_sales_contact", "bant_budget", "bant_need", "bant_timeline"]
PATTERNS = ["(?i)software", "^V", "(?i)\\b(vp|director)\\b", "@gmail\\.com$", "1", "^$", "\\d+"]

field_values = st.one_of(st.none(), st.sampled_from(TEXTS), st.sampled_from(NUMBERS), st.booleans(),
                         st.integers(-10, 6000), st.just(float("nan")),
                         st.lists(st.sampled_from(["Software", "Retail", ""]), max_size=2))
any_leads = st.fixed_dictionaries({}, optional={name: field_values for name in LEAD_FIELDS})


def predicate(operand_texts: list[str]) -> st.SearchStrategy[dict]:
    """One operator table as a definition writes it (``min``/``max`` may pair)."""
    scalar = st.one_of(st.sampled_from(operand_texts), st.sampled_from(NUMBERS), st.booleans())
    return st.one_of(
        st.builds(lambda v: {"equals": v}, scalar),
        st.builds(lambda v: {"not_equals": v}, scalar),
        st.builds(lambda v: {"in": v}, st.lists(scalar, min_size=1, max_size=3)),
        st.builds(lambda v: {"not_in": v}, st.lists(scalar, min_size=1, max_size=3)),
        st.builds(lambda v: {"contains": v}, st.sampled_from(operand_texts)),
        st.builds(lambda v: {"pattern": v}, st.sampled_from(PATTERNS)),
        st.builds(lambda v: {"not_pattern": v}, st.sampled_from(PATTERNS)),
        st.builds(lambda v: {"min": v}, st.sampled_from([0, 80, 100, 1000.5])),
        st.builds(lambda v: {"max": v}, st.sampled_from([0, 100, 999])),
        st.just({"min": 100, "max": 999}),
        st.builds(lambda v: {"present": v}, st.booleans()),
    )


ATTR_TEXTS = {
    "form_id": ["demo", "Demo ", "trial", "guid-1"],
    "form_name": ["Demo request", "Trial"],
    "url": ["https://x.com/pricing", "https://x.com/pricing?a=1", "https://x.com/blog/1", "https://x.com/careers"],
    "campaign": ["c1", "C1", "w2"],
    "kind": ["call", "email"],
}


@st.composite
def behavior_rule(draw: st.DrawFn, index: int) -> dict:
    kind = draw(st.sampled_from(sorted(ACTIVITY_TYPES)))
    attrs = sorted(ACTIVITY_TYPES[kind])
    where = {}
    for attr in draw(st.lists(st.sampled_from(attrs), unique=True, max_size=2)) if attrs else []:
        where[attr] = draw(st.one_of(st.sampled_from(ATTR_TEXTS[attr]),
                                     st.lists(st.sampled_from(ATTR_TEXTS[attr]), min_size=1, max_size=2),
                                     predicate(ATTR_TEXTS[attr])))
    rule = {"name": f"b{index}", "activity": kind, "where": where,
            "points": draw(st.sampled_from([-20, -2.5, 0, 0.1, 1, 3, 10, 33.3])),
            "buying_signal": draw(st.booleans())}
    cap = draw(st.one_of(st.none(), st.integers(1, 4)))
    if cap is not None:
        rule["max_count"] = cap
    return rule


@st.composite
def definitions(draw: st.DrawFn):
    def lead_rule(section: str, index: int, points: bool) -> dict:
        rule = {"name": f"{section}{index}", "field": draw(st.sampled_from(LEAD_FIELDS)), **draw(predicate(TEXTS))}
        if points:
            rule["points"] = draw(st.sampled_from([5, 10, 15, 2.5, 0.1, -5]))
        return rule
    data = {
        "definition": {"name": "Random", "version": draw(st.integers(1, 9)), "effective": "2026-01-01",
                       "strict_profile_scale": False},
        "required": {"fields": draw(st.lists(st.sampled_from(LEAD_FIELDS), unique=True, max_size=4))},
        "fit": [lead_rule("f", i, False) for i in range(draw(st.integers(0, 3)))],
        "profile": [lead_rule("p", i, True) for i in range(draw(st.integers(0, 4)))],
        "behavior": [draw(behavior_rule(i)) for i in range(draw(st.integers(0, 6)))],
        "engagement": {"window_days": draw(st.sampled_from([1, 7.5, 30, 90])),
                       "half_life_days": draw(st.sampled_from([0, 0.5, 7, 30]))},
        "thresholds": {"mql_score": draw(st.sampled_from([0, 10, 25, 60])),
                       "min_engagement": draw(st.sampled_from([0, 5, 10]))},
    }
    if draw(st.booleans()):
        data["readiness"] = {"field": draw(st.sampled_from(["wants_sales_contact", "bant_need"]))}
    criteria = {name: {"field": draw(st.sampled_from(LEAD_FIELDS)), **draw(predicate(TEXTS)),
                       "weight": draw(st.sampled_from([1, 2, 0.5]))}
                for name in draw(st.lists(st.sampled_from(["budget", "authority", "need", "timeline"]),
                                          unique=True, min_size=1, max_size=4))}
    if draw(st.booleans()):
        data["bant"] = {"require": min(sum(c["weight"] for c in criteria.values()), 1.0), **criteria}
    return parse_definition(data, "random.toml", DEFAULT_BANT_FIELDS)


@st.composite
def histories(draw: st.DrawFn, window_days: float) -> list[Activity]:
    """Activities up to five days after and 1.5 windows before NOW, to the microsecond, with
    some exactly at the window's edge or at NOW."""
    window = timedelta(days=window_days)
    ages = st.one_of(st.integers(-5 * 86400 * 10**6, int(window.total_seconds() * 1.5 * 10**6)),
                     st.sampled_from([0, int(window.total_seconds() * 10**6), int(window.total_seconds() * 10**6) + 1]))
    acts = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(sorted(ACTIVITY_TYPES)))
        attrs = {a: draw(st.sampled_from([*ATTR_TEXTS[a], None])) for a in sorted(ACTIVITY_TYPES[kind])
                 if draw(st.booleans())}
        acts.append(Activity(kind, NOW - timedelta(microseconds=draw(ages)), attrs))
    return acts


def verdict_of(result: Qualification) -> Verdict:
    """The full path's answer, in the score-only path's terms."""
    return Verdict(result.stage, result.mql, result.score, result.profile_score, result.engagement_score,
                   result.ready, result.disqualified_by, result.missing,
                   tuple(g.name for g in result.gates if g.verdict is not True), result.bant_score)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_given_any_definition_lead_and_history_then_score_only_equals_full_path(data):
    rules = data.draw(definitions())
    lead = data.draw(any_leads)
    acts = data.draw(histories(rules.engagement.window_days))
    stage = data.draw(st.sampled_from([None, *STAGES]))
    expected = verdict_of(evaluate(lead, acts, rules, NOW, current_stage=stage))
    assert score(lead, acts, rules, NOW, current_stage=stage) == expected
    plan = score_plan(rules)
    assert plan.score_prepared(plan.facts(lead), plan.prepare(acts), micros(NOW), stage) == expected


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_given_a_history_in_time_order_when_replayed_week_by_week_then_each_week_equals_full_path(data):
    """As ``definition simulate`` replays: prepared once, scored at each week's end on what had happened."""
    rules = data.draw(definitions())
    lead = data.draw(any_leads)
    acts = sorted(data.draw(histories(rules.engagement.window_days)), key=lambda a: a.occurred_at)
    times = [a.occurred_at for a in acts]
    plan = score_plan(rules)
    facts, prepared = plan.facts(lead), plan.prepare(acts)
    stage = data.draw(st.sampled_from([None, *STAGES]))
    for days in range(-10, 3):
        end = NOW + timedelta(days=days)
        full = evaluate(lead, acts[: bisect_right(times, end)], rules, end, current_stage=stage)
        fast = plan.score_prepared(facts, prepared, micros(end), stage)
        assert fast == verdict_of(full)
        stage = full.stage


@settings(max_examples=100, deadline=None)
@given(fixed_leads, fixed_activities, st.sampled_from([None, *STAGES]), st.sampled_from([0, 30]))
def test_given_the_hand_worked_definition_then_score_only_equals_full_path(lead, acts, stage, half_life):
    rules = definition(half_life=half_life)
    assert score(lead, acts, rules, NOW, current_stage=stage) == verdict_of(evaluate(lead, acts, rules, NOW, stage))


def test_given_shipped_definition_when_a_qualified_lead_is_scored_then_verdict_names_nothing_blocking():
    from tests.core.test_definition import REPO
    from connector.core.definition import load_definition
    rules = load_definition(REPO / "mappings" / "qualification.toml", DEFAULT_BANT_FIELDS)
    lead = {"email": "dana@acme.com", "first_name": "Dana", "last_name": "Ng", "company": "Acme",
            "title": "VP Engineering", "industry": "Software", "employees": 450, "country": "US"}
    acts = [Activity("page_view", NOW - timedelta(hours=h), {"url": "https://acme.example/pricing"}) for h in (1, 2)]
    acts.append(Activity("meeting_booked", NOW - timedelta(hours=3), {}))
    verdict = score(lead, acts, rules, NOW)
    assert verdict == verdict_of(evaluate(lead, acts, rules, NOW))
    assert (verdict.stage, verdict.mql, verdict.blocked_by) == ("mql", True, ())
    student = score({**lead, "title": "Student"}, acts, rules, NOW)
    assert (student.stage, student.disqualified_by) == ("disqualified", "Not a student")
    assert "Not a student" in student.blocked_by
