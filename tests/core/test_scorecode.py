"""The written-out score-only plan: its rounding, its edge cases and what it never writes as source.

tests/core/test_fastscore.py compares it with the full path on random definitions; these pin
the cases a random draw meets rarely: every operator on every kind of value, a field absent,
no activities, activities on either side of the window, several rules matching one activity,
rules on two attributes, a history out of order, constants that have no literal, and a
definition whose names and values look like code.
"""

from __future__ import annotations

import math
import random
import re
import struct
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core import scorecode
from connector.core.definition import DEFAULT_BANT_FIELDS, parse_definition
from connector.core.fastscore import micros, score_plan
from connector.core.model import Activity
from connector.core.qualify import evaluate
from tests.core.test_fastscore import verdict_of
from tests.core.test_qualify import NOW

# --- rounding to cents --------------------------------------------------------------------------

def _rounder(**known):
    w = scorecode._Writer()
    with w.block("def round2(value):"):
        scorecode._round2(w, "result", "value", **known)
        w("return result")
    namespace = {"floor": math.floor}
    exec("\n".join(w.lines), namespace)  # noqa: S102 - the writer's own output
    return namespace["round2"]


ROUND2 = _rounder()


def _same(a: float, b: float) -> bool:
    return (a == b and math.copysign(1, a) == math.copysign(1, b)) or (a != a and b != b)


TRICKY = [0.0, -0.0, 0.005, -0.005, 0.015, 0.025, 0.125, -0.125, 2.675, 1.005, 0.29, 1e-300, -1e-300,
          0.0049999999999999999, 123456.785, -123456.785, 9999999.995, 1e9, 1e12, -1e15, 5e-324,
          math.inf, -math.inf, math.nan, 33.3 * 0.1, 30 * 0.5 ** (1 / 3), 10 * (1 - 1e-16)]


@pytest.mark.parametrize("value", TRICKY)
def test_given_ties_near_ties_zeros_and_extremes_when_rounded_to_cents_then_exactly_round(value):
    assert _same(ROUND2(value), round(value, 2))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e7, 1e7),
                 st.integers(-10**9, 10**9).map(lambda n: n / 200), st.integers(-10**7, 10**7).map(lambda n: n / 1000)))
def test_given_any_float_when_rounded_to_cents_then_exactly_round(value):
    assert _same(ROUND2(value), round(value, 2))


@settings(max_examples=2000, deadline=None)
@given(st.floats(0, 30 * 5), st.sampled_from([1.0, 0.5, 1e-3, 1e-12, 0.0]))
def test_given_what_the_writer_knows_of_a_rule_when_rounded_to_cents_then_exactly_round(value, scale):
    """A capped rule's worth is bounded (no magnitude check) and never negative for positive
    points (no zero check): those shortened roundings agree with round too."""
    value *= scale
    assert _same(BOUNDED_UNSIGNED(value), round(value, 2))
    assert _same(BOUNDED(value), round(value, 2)) and _same(BOUNDED(-value), round(-value, 2))


BOUNDED = _rounder(bound=150.0)
BOUNDED_UNSIGNED = _rounder(bound=150.0, signed=False)


def test_given_many_random_doubles_when_rounded_to_cents_then_exactly_round():
    rng = random.Random(11)
    for _ in range(200_000):
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        assert _same(ROUND2(value), round(value, 2))
        value = rng.uniform(-500, 500) * rng.random()
        assert _same(ROUND2(value), round(value, 2))


# --- the plan against the full path -------------------------------------------------------------

def _definition(*, fit="", profile="", behavior="", half_life=30, extra=""):
    text = f"""
[definition]
name = "Edges"
version = 2
effective = 2026-01-01
strict_profile_scale = false
[required]
fields = ["email", "company"]
{fit}
{profile}
{behavior}
[engagement]
window_days = 30
half_life_days = {half_life}
[thresholds]
mql_score = 20
min_engagement = 5
{extra}
"""
    import tomllib
    return parse_definition(tomllib.loads(text), "edges.toml", DEFAULT_BANT_FIELDS)


def _agree(rules, lead, acts, stage=None, now=NOW):
    """Score only, directly and prepared, gives the full path's verdict; returns it."""
    expected = verdict_of(evaluate(lead, acts, rules, now, current_stage=stage))
    plan = score_plan(rules)
    assert plan.score(lead, acts, now, stage) == expected
    assert plan.score_prepared(plan.facts(lead), plan.prepare(acts), micros(now), stage) == expected
    return expected


def act(kind, days_ago, **attrs):
    return Activity(kind, NOW - timedelta(days=days_ago), attrs)


BEHAVIOR = """
[[behavior]]
name = "Pricing"
activity = "page_view"
where = { url = { contains = "/pricing" } }
points = 10
max_count = 2
buying_signal = true
[[behavior]]
name = "Any page"
activity = "page_view"
points = 0.5
[[behavior]]
name = "Product pricing"
activity = "page_view"
where = { url = { pattern = "/product.*pricing" } }
points = 3.3
max_count = 1
[[behavior]]
name = "Demo"
activity = "form_submission"
where = { form_id = ["demo", "Demo request"] }
points = 30
max_count = 1
buying_signal = true
[[behavior]]
name = "Campaign click"
activity = "email_click"
where = { url = { contains = "/pricing" }, campaign = "c1" }
points = 2.5
max_count = 3
"""

# (operator table, values to try it on): strings with case and spaces, numbers as text and
# ranges, booleans spelled out, blanks, lists (multi-select), NaN, and an absent field.
VALUES = [None, "", "  ", "Software", " software ", "VP Sales", "1,200", "80", "100-500", "1000+", "50-100",
          "lots", "yes", "no", "true", 0, 1, 80, 100, 999, 1200, 99.5, 1.0, True, False, math.nan,
          [], ["Software", "Retail"], ("Fintech",)]
OPERATORS = [
    {"equals": "software"}, {"equals": 100}, {"equals": True}, {"not_equals": "Software"},
    {"in": ["software", "fintech"]}, {"in": [1, "yes", True]}, {"not_in": ["software", "80"]},
    {"contains": "soft"}, {"pattern": "(?i)^vp"}, {"not_pattern": "\\d"}, {"min": 100}, {"max": 999},
    {"min": 100, "max": 999}, {"present": True}, {"present": False},
]


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda op: ",".join(f"{k}={v}" for k, v in op.items()))
def test_given_every_operator_as_fit_profile_and_bant_when_scored_then_full_path_verdict(operator):
    table = ", ".join(f"{k} = {_toml(v)}" for k, v in operator.items())
    lines = "\n".join(f"{k} = {_toml(v)}" for k, v in operator.items())
    rules = _definition(
        fit=f'[[fit]]\nname = "Fit"\nfield = "industry"\n{lines}',
        profile=f'[[profile]]\nname = "Profile"\nfield = "industry"\npoints = 5\n{lines}\n'
                f'[[profile]]\nname = "Size"\nfield = "employees"\npoints = 2.5\n{lines}',
        behavior=BEHAVIOR,
        extra=f"[bant]\nrequire = 1\nneed = {{ field = \"bant_need\", {table} }}\n"
              f"budget = {{ field = \"email_domain\", {table} }}")
    acts = [act("page_view", 1, url="https://x.com/pricing")]
    for value in VALUES:
        lead = {"email": "a@acme.com", "company": "Acme", "industry": value, "employees": value, "bant_need": value,
                "email_domain": value}
        _agree(rules, {k: v for k, v in lead.items() if v is not None}, acts)
        _agree(rules, {k: v for k, v in lead.items() if v is not None}, acts, stage="sal")


def _toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


EDGES = _definition(
    fit='[[fit]]\nname = "Size"\nfield = "employees"\nmin = 100\n'
        '[[fit]]\nname = "Business"\nfield = "email_domain"\nnot_in = ["gmail.com"]',
    profile='[[profile]]\nname = "Senior"\nfield = "title"\npattern = "(?i)vp"\npoints = 15',
    behavior=BEHAVIOR, extra='[readiness]\nfield = "wants_sales_contact"')
BUYER = {"email": "ann@acme.com", "company": "Acme", "title": "VP Sales", "employees": 450}


def test_given_a_lead_with_no_fields_and_no_activities_then_full_path_verdict_and_subscriber():
    verdict = _agree(EDGES, {}, [])
    assert verdict.stage == "subscriber" and verdict.score == 0.0 and not verdict.mql
    assert "Required email" in verdict.blocked_by and "Size" in verdict.blocked_by


@pytest.mark.parametrize("missing", ["email", "company", "employees", "title"])
def test_given_one_field_missing_when_otherwise_qualified_then_full_path_verdict(missing):
    lead = {k: v for k, v in BUYER.items() if k != missing}
    acts = [act("page_view", 1, url="https://x.com/pricing"), act("form_submission", 2, form_id="demo")]
    verdict = _agree(EDGES, lead, acts)
    if missing in ("company", "employees"):
        assert verdict.missing == missing          # near-qualified: the one field to fill in


def test_given_activities_only_outside_the_window_or_in_the_future_then_no_engagement_but_a_form_counts():
    acts = [act("page_view", 31, url="https://x.com/pricing"), act("page_view", -1, url="https://x.com/pricing"),
            act("form_submission", 45, form_id="demo"), act("email_click", 30.0001, url="/pricing", campaign="c1")]
    verdict = _agree(EDGES, {"email": "b@acme.com"}, acts)
    assert verdict.engagement_score == 0.0 and not verdict.ready
    assert verdict.stage == "lead"                  # the old form still makes the person a lead


def test_given_activities_exactly_at_the_window_edges_then_full_path_verdict():
    window = timedelta(days=30)
    acts = [Activity("page_view", NOW - window, {"url": "/pricing"}), Activity("page_view", NOW, {"url": "/pricing"}),
            Activity("page_view", NOW - window - timedelta(microseconds=1), {"url": "/pricing"}),
            Activity("page_view", NOW + timedelta(microseconds=1), {"url": "/pricing"})]
    verdict = _agree(EDGES, BUYER, acts)
    assert verdict.ready


def test_given_one_activity_matching_several_rules_of_its_type_then_each_rule_counts_it():
    acts = [act("page_view", d, url="https://x.com/product/a/pricing") for d in (1, 2, 3, 4)]
    acts += [act("page_view", 5, url="https://x.com/blog"), act("page_view", 6, url="https://x.com/pricing")]
    verdict = _agree(EDGES, BUYER, acts)
    # Pricing: 2 youngest of 5 (decayed), Any page: 6 × 0.5 decayed, Product pricing: 1 × 3.3
    assert verdict.engagement_score > 20


def test_given_rules_on_two_attributes_and_odd_attribute_values_then_full_path_verdict():
    acts = [act("email_click", 1, url="https://x.com/pricing", campaign="c1"),
            act("email_click", 2, url="https://x.com/pricing", campaign="C1 "),
            act("email_click", 3, url="https://x.com/pricing"),               # campaign absent
            act("email_click", 4, url=["https://x.com/pricing"], campaign="c1"),  # unhashable value
            act("page_view", 5, url=["a", "b"]), act("form_submission", 6, form_id=None),
            act("form_submission", 7), act("meeting_booked", 1)]
    _agree(EDGES, BUYER, acts)


def test_given_a_history_out_of_time_order_when_prepared_then_each_moment_equals_full_path():
    acts = [act("page_view", d, url="https://x.com/pricing") for d in (3, 1, 20, 2, 40, 0.5)]
    acts += [act("form_submission", 10, form_id="demo"), act("form_submission", 2, form_id="Demo request")]
    plan = score_plan(EDGES)
    prepared = plan.prepare(acts)
    assert not prepared.in_order
    facts = plan.facts(BUYER)
    for days in range(-45, 1, 5):
        moment = NOW + timedelta(days=days)
        seen = [a for a in acts if a.occurred_at <= moment]
        expected = verdict_of(evaluate(BUYER, seen, EDGES, moment))
        assert plan.score_prepared(facts, prepared, micros(moment)) == expected


@pytest.mark.parametrize("half_life", [0, 30])
@pytest.mark.parametrize("stage", [None, "lead", "mql", "sal", "recycled", "disqualified", "not-a-stage"])
def test_given_any_current_stage_with_or_without_decay_then_full_path_verdict(half_life, stage):
    rules = _definition(behavior=BEHAVIOR, half_life=half_life,
                        fit='[[fit]]\nname = "Size"\nfield = "employees"\nmin = 100',
                        extra='[bant]\nrequire = 1\nneed = { field = "bant_need", present = true }')
    acts = [act("page_view", d, url="https://x.com/pricing") for d in (1, 2, 3)] + [act("form_submission", 1, form_id="demo")]
    for lead in (BUYER, {**BUYER, "employees": 20}, {**BUYER, "bant_need": "yes"}, {"email": "x@y.z"}):
        _agree(rules, lead, acts, stage=stage)


def test_given_constants_without_a_literal_then_passed_by_name_and_full_path_verdict():
    import tomllib
    text = """
[definition]
name = "Infinite"
version = 1
effective = 2026-01-01
[required]
fields = []
[[behavior]]
name = "Open"
activity = "email_open"
points = 1
[thresholds]
mql_score = inf
"""
    rules = parse_definition(tomllib.loads(text), "inf.toml")
    plan = score_plan(rules)
    assert re.search(r"score_ok = total >= K_\d+\n", plan.source)     # no literal for inf: passed by name
    verdict = _agree(rules, {"email": "a@b.c"}, [act("email_open", 1)])
    assert not verdict.mql and "Score" in verdict.blocked_by


def test_given_more_distinct_values_than_a_memo_holds_then_still_full_path_verdict(monkeypatch):
    monkeypatch.setattr(scorecode, "_MEMO_LIMIT", 3)
    rules = _definition(behavior=BEHAVIOR, profile='[[profile]]\nname = "Senior"\nfield = "title"\n'
                        'pattern = "(?i)vp"\npoints = 15')
    for n in range(12):
        lead = {**BUYER, "title": f"VP {n}" if n % 2 else f"Engineer {n}", "employees": n * 50}
        _agree(rules, lead, [act("page_view", 1, url=f"https://x.com/pricing?{n}")])


EVIL = 'x"); __import__("os").system("false") #\n\'\'\' \\ {braces}'


def test_given_names_and_values_that_look_like_code_then_they_stay_data():
    import tomllib
    quoted = EVIL.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    text = f"""
[definition]
name = "{quoted}"
version = 1
effective = 2026-01-01
[required]
fields = ["company"]
[[fit]]
name = "{quoted}"
field = "title"
not_in = ["{quoted}"]
[[behavior]]
name = "{quoted} b"
activity = "page_view"
where = {{ url = "{quoted}" }}
points = 10
buying_signal = true
[thresholds]
mql_score = 5
"""
    rules = parse_definition(tomllib.loads(text), "evil.toml")
    plan = score_plan(rules)
    assert EVIL not in plan.source                  # only ever as a repr literal, or by name
    assert repr(EVIL) in plan.source                # the fit rule's name, as the verdict names it
    verdict = _agree(rules, {"company": "Acme", "title": EVIL}, [Activity("page_view", NOW, {"url": EVIL})])
    assert verdict.disqualified_by == EVIL
    _agree(rules, {"company": "Acme", "title": "CTO"}, [Activity("page_view", NOW, {"url": EVIL})])


def _huge(cap):
    """Points so large that one ulp of a decayed sum survives rounding to cents: the order the
    occurrences are summed in shows in the verdict."""
    import tomllib
    capped = f"max_count = {cap}" if cap else ""
    text = f"""
[definition]
name = "Order"
version = 1
effective = 2026-01-01
[required]
fields = []
[[behavior]]
name = "Pages"
activity = "page_view"
points = 3.3333333333333335e15
{capped}
[[behavior]]
name = "Opens"
activity = "email_open"
points = 1.1e15
[engagement]
window_days = 60
half_life_days = 7.3
[thresholds]
mql_score = 1
"""
    return parse_definition(tomllib.loads(text), "order.toml")


ORDERED = {cap: _huge(cap) for cap in (None, 1, 3)}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([None, 1, 3]),
       st.lists(st.tuples(st.sampled_from(["page_view", "email_open"]), st.integers(0, 59 * 86400 * 10**6)),
                min_size=2, max_size=9),
       st.booleans())
def test_given_huge_points_when_occurrences_are_summed_then_in_the_full_paths_order(cap, shape, in_order):
    rules = ORDERED[cap]
    acts = [Activity(kind, NOW - timedelta(microseconds=age), {"url": "/"}) for kind, age in shape]
    if in_order:
        acts.sort(key=lambda a: a.occurred_at)
    _agree(rules, {}, acts)
