"""Properties the engine keeps for any lead, any activity history, any current stage."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.explain import explanation_dict
from connector.core.model import FORWARD_ORDER, SALES_OWNED, STAGES, Activity, stage_rank
from connector.core.qualify import evaluate
from tests.core.test_qualify import NOW, definition

DECAYING = definition(half_life=30)
FLAT = definition(half_life=0)
FIT_RULES = {r.name for r in FLAT.fit}

maybe = lambda values: st.one_of(st.none(), st.just(""), st.sampled_from(values))  # noqa: E731

leads = st.fixed_dictionaries({
    "email": st.sampled_from(["a@acme.com", "b@gmail.com", "c@globex.io", ""]),
    "first_name": maybe(["Ann", "Bo"]),
    "last_name": maybe(["Lee"]),
    "company": maybe(["Acme", "Globex"]),
    "title": maybe(["VP Sales", "Director of IT", "Engineer", "Student"]),
    "industry": maybe(["Software", "retail", "FINTECH"]),
    "employees": st.one_of(st.none(), st.integers(0, 5000), st.sampled_from(["1,200", "lots", "80"])),
    "wants_sales_contact": st.one_of(st.none(), st.booleans(), st.sampled_from(["yes", "no"])),
    "bant_budget": st.one_of(st.none(), st.booleans()),
    "bant_need": maybe(["replace spreadsheets"]),
    "bant_timeline": maybe(["0-3 months", "next year"]),
})

ACTIVITY_SHAPES = [
    ("form_submission", {"form_id": "demo-request"}),
    ("form_submission", {"form_id": "whitepaper-download"}),
    ("form_submission", {"form_id": "newsletter-signup"}),
    ("page_view", {"url": "https://www.example-vendor.com/pricing"}),
    ("page_view", {"url": "https://www.example-vendor.com/careers"}),
    ("page_view", {"url": "https://www.example-vendor.com/blog/x"}),
    ("email_open", {}),
    ("sales_touch", {"kind": "call"}),
]

activities = st.lists(
    st.builds(lambda shape, minutes: Activity(shape[0], NOW - timedelta(minutes=minutes), shape[1]),
              st.sampled_from(ACTIVITY_SHAPES), st.integers(-60 * 24 * 5, 60 * 24 * 150)),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(leads, activities, st.sampled_from([None, *STAGES]), st.sampled_from([FLAT, DECAYING]))
def test_given_any_lead_when_evaluated_then_score_equals_sum_of_contributions(lead, acts, stage, rules):
    result = evaluate(lead, acts, rules, NOW, current_stage=stage)
    assert math.isclose(result.score, sum(c.points for c in result.contributions), abs_tol=1e-9)
    assert math.isclose(result.score, result.profile_score + result.engagement_score, abs_tol=0.011)
    assert {c.kind for c in result.contributions} <= {"profile", "behavior"}


@settings(max_examples=300, deadline=None)
@given(leads, activities, st.sampled_from(FORWARD_ORDER + ("recycled",)), st.integers(1, 200))
def test_given_time_passing_when_reevaluated_then_stage_never_moves_back_by_score(lead, acts, stage, days_later):
    """Score only falls as activities age out; the stage must hold unless fit disqualifies."""
    first = evaluate(lead, acts, DECAYING, NOW, current_stage=stage)
    later = evaluate(lead, acts, DECAYING, NOW + timedelta(days=days_later), current_stage=first.stage)
    for before, after in ((stage, first.stage), (first.stage, later.stage)):
        if after == "disqualified":
            assert before not in SALES_OWNED
            continue
        if before == "recycled":
            assert after in ("recycled", "mql")
        else:
            assert stage_rank(after) >= stage_rank(before)


@settings(max_examples=300, deadline=None)
@given(leads, activities)
def test_given_decay_when_evaluated_then_no_rule_earns_more_than_undecayed(lead, acts):
    flat = {c.rule: c for c in evaluate(lead, acts, FLAT, NOW).contributions}
    for contribution in evaluate(lead, acts, DECAYING, NOW).contributions:
        undecayed = flat[contribution.rule]
        assert abs(contribution.points) <= abs(undecayed.points) + 1e-9
        assert contribution.count == undecayed.count


@settings(max_examples=300, deadline=None)
@given(leads, activities, st.sampled_from([None, "subscriber", "lead", "mql", "recycled", "disqualified"]))
def test_given_disqualifying_fit_failure_when_explained_then_rule_is_named(lead, acts, stage):
    result = evaluate(lead, acts, FLAT, NOW, current_stage=stage)
    failed = [g for g in result.gates if g.kind == "fit" and g.verdict is False]
    assert (result.stage == "disqualified") == bool(failed)
    if failed:
        assert result.disqualified_by in FIT_RULES and result.disqualified_by == failed[0].name
        explained = explanation_dict(result, lead)
        assert result.disqualified_by in explained["summary"]
        assert not result.mql and result.missing is None
