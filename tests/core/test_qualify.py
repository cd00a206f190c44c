"""Hand-worked examples for every rule of SPEC §4, against a small definition with round numbers.

Test definition (no decay unless a test says so):
profile: Senior title 15, Target industry 10, Ideal size (≤ 999 employees) 15 → 40 at most;
behavior: Demo request 30 (max 1, signal), Pricing page 10 (max 3, signal), White paper 10,
Email open 1 (max 5), Careers page −10; mql at 50 with engagement ≥ 10 and readiness.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone

import pytest

from connector.core.definition import DEFAULT_BANT_FIELDS, load_definition, parse_definition
from connector.core.model import Activity
from connector.core.qualify import evaluate, handoff_reason
from tests.core.test_definition import REPO

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)

DEFINITION = """
[definition]
name = "Test"
version = 3
effective = 2026-01-01
[required]
fields = ["email", "first_name", "last_name", "company"]
[[fit]]
name = "Company size"
field = "employees"
min = 100
[[fit]]
name = "Business email"
field = "email_domain"
not_in = ["gmail.com"]
[[profile]]
name = "Senior title"
field = "title"
pattern = "(?i)\\\\b(vp|director)\\\\b"
points = 15
[[profile]]
name = "Target industry"
field = "industry"
in = ["software", "fintech"]
points = 10
[[profile]]
name = "Ideal size"
field = "employees"
max = 999
points = 15
[[behavior]]
name = "Demo request"
activity = "form_submission"
where = { form_id = "demo-request" }
points = 30
max_count = 1
buying_signal = true
[[behavior]]
name = "Pricing page"
activity = "page_view"
where = { url = { contains = "/pricing" } }
points = 10
max_count = 3
buying_signal = true
[[behavior]]
name = "White paper"
activity = "form_submission"
where = { form_id = "whitepaper-download" }
points = 10
[[behavior]]
name = "Email open"
activity = "email_open"
points = 1
max_count = 5
[[behavior]]
name = "Careers page"
activity = "page_view"
where = { url = { contains = "/careers" } }
points = -10
[engagement]
window_days = 90
half_life_days = HALF_LIFE
[readiness]
field = "wants_sales_contact"
[thresholds]
mql_score = 50
min_engagement = 10
[bant]
require = 3
budget = { field = "bant_budget", equals = true, weight = 2 }
authority = { field = "title", pattern = "(?i)director|vp", weight = 1 }
need = { field = "bant_need", present = true, weight = 1 }
timeline = { field = "bant_timeline", in = ["0-3 months", "3-6 months"], weight = 1 }
"""


def definition(half_life: float = 0, min_engagement: float = 10, mql_score: float = 50, extra: str = "",
               version: int = 3):
    text = DEFINITION.replace("HALF_LIFE", str(half_life)).replace("version = 3", f"version = {version}")
    text = text.replace("min_engagement = 10", f"min_engagement = {min_engagement}")
    data = tomllib.loads(text.replace("mql_score = 50", f"mql_score = {mql_score}") + extra)
    return parse_definition(data, "test.toml", DEFAULT_BANT_FIELDS)


DEF = definition()


def person(**overrides):
    """A senior software buyer at a 450-person company: 40 profile points."""
    lead = {"email": "ann@acme.com", "first_name": "Ann", "last_name": "Lee", "company": "Acme",
            "title": "VP Engineering", "industry": "Software", "employees": 450}
    lead.update(overrides)
    return {k: v for k, v in lead.items() if v is not None}


def act(kind, days_ago, **attrs):
    return Activity(kind, NOW - timedelta(days=days_ago), attrs)


def demo(days_ago=1):
    return act("form_submission", days_ago, form_id="demo-request")


def pricing(days_ago=1):
    return act("page_view", days_ago, url="https://www.example-vendor.com/pricing")


def points(result, rule):
    return next(c.points for c in result.contributions if c.rule == rule)


def gate(result, name):
    return next(g for g in result.gates if g.name == name)


# --- rule 1: fit -------------------------------------------------------------------------------

def test_given_fit_failure_on_present_value_when_evaluated_then_disqualified_by_that_rule():
    result = evaluate(person(employees=40), [demo()], DEF, NOW)
    assert result.stage == "disqualified" and result.disqualified_by == "Company size"
    assert gate(result, "Company size").verdict is False
    assert "40" in gate(result, "Company size").detail
    assert not result.mql and result.missing is None


def test_given_free_mail_address_when_evaluated_then_derived_domain_disqualifies():
    result = evaluate(person(email="ann@Gmail.com"), [demo()], DEF, NOW)
    assert result.disqualified_by == "Business email"


def test_given_explicit_email_domain_when_evaluated_then_it_wins_over_the_email():
    result = evaluate(person(email="ann@gmail.com", email_domain="acme.com"), [demo()], DEF, NOW)
    assert result.disqualified_by is None and result.mql


def test_given_missing_employee_count_when_evaluated_then_near_qualified_names_employees():
    # profile 25 (title + industry; size unknown) + demo 30 = 55 ≥ 50, ready by demo request
    result = evaluate(person(employees=None), [demo()], DEF, NOW)
    assert (result.score, result.mql, result.stage) == (55, False, "lead")
    assert result.missing == "employees" and result.near_qualified
    assert gate(result, "Company size").verdict is None


def test_given_non_numeric_employee_count_when_evaluated_then_treated_as_missing():
    result = evaluate(person(employees="lots"), [demo()], DEF, NOW)
    assert result.missing == "employees" and result.disqualified_by is None
    assert "not a number" in gate(result, "Company size").detail


def test_given_employee_count_with_thousands_separator_when_evaluated_then_read_as_number():
    result = evaluate(person(employees="1,200"), [demo()], DEF, NOW)
    assert gate(result, "Company size").verdict is True and points(result, "Ideal size") == 0


def test_given_two_fields_missing_when_evaluated_then_not_near_qualified():
    result = evaluate(person(employees=None, first_name=""), [demo()], DEF, NOW)
    assert result.missing is None and result.missing_required == ("first_name",)


def test_given_required_field_missing_when_evaluated_then_not_mql_and_near_qualified_names_it():
    result = evaluate(person(company="   "), [demo()], DEF, NOW)
    assert result.score == 70 and not result.mql
    assert result.missing_required == ("company",) and result.missing == "company"


def test_given_missing_field_but_score_short_when_evaluated_then_not_near_qualified():
    result = evaluate(person(employees=None), [pricing()], DEF, NOW)  # 25 + 10 = 35 < 50
    assert result.missing is None
    # The same person with the score (a demo request) is near-qualified on that one field:
    # only the score kept the flag off above.
    strong = evaluate(person(employees=None), [demo()], DEF, NOW)
    assert (strong.missing, strong.mql) == ("employees", False)


# --- rules 2 and 3: score, engagement, readiness ---------------------------------------------

def test_given_strong_profile_and_demo_request_when_evaluated_then_mql():
    result = evaluate(person(), [demo()], DEF, NOW)
    assert (result.stage, result.mql, result.score) == ("mql", True, 70)
    assert (result.profile_score, result.engagement_score) == (40, 30)
    assert result.definition_version == 3


def test_given_score_reached_but_engagement_below_minimum_when_evaluated_then_engagement_gate_blocks():
    strict = definition(min_engagement=15)
    paper = act("form_submission", 1, form_id="whitepaper-download")
    result = evaluate(person(wants_sales_contact=True), [paper], strict, NOW)  # 40 + 10
    assert result.score == 50 and gate(result, "Score").verdict is True
    assert gate(result, "Engagement").verdict is False and not result.mql
    opens = [act("email_open", d) for d in (1, 2, 3, 4, 5)]
    result = evaluate(person(wants_sales_contact=True), [paper, *opens], strict, NOW)  # engagement 15
    assert result.score == 55 and result.mql


def test_given_sales_contact_requested_when_evaluated_then_ready_without_buying_signal():
    paper = act("form_submission", 2, form_id="whitepaper-download")
    assert not evaluate(person(), [paper], DEF, NOW).ready
    for answer in (True, "true", "Yes", 1):
        result = evaluate(person(wants_sales_contact=answer), [paper], DEF, NOW)
        assert result.ready and result.mql and result.buying_signals == ()
    assert not evaluate(person(wants_sales_contact="no"), [paper], DEF, NOW).ready


def test_given_pricing_page_visit_when_evaluated_then_ready_by_buying_signal():
    result = evaluate(person(), [pricing(3)], DEF, NOW)
    assert result.ready and "Pricing page" in gate(result, "Ready").detail
    assert result.buying_signals[0].rule == "Pricing page"
    assert result.buying_signals[0].latest == NOW - timedelta(days=3)


def test_given_buying_signal_outside_window_when_evaluated_then_not_ready():
    result = evaluate(person(), [demo(days_ago=120)], DEF, NOW)
    assert not result.ready and result.engagement_score == 0


def test_given_five_pricing_visits_when_evaluated_then_only_max_count_three_score():
    result = evaluate(person(), [pricing(d) for d in range(1, 6)], DEF, NOW)
    contribution = next(c for c in result.contributions if c.rule == "Pricing page")
    assert (contribution.points, contribution.count) == (30, 3)
    assert result.buying_signals[0].count == 5


def test_given_activities_at_window_edges_when_evaluated_then_only_inside_count():
    papers = [act("form_submission", d, form_id="whitepaper-download") for d in (0, 90, 91)]
    future = Activity("form_submission", NOW + timedelta(hours=1), {"form_id": "whitepaper-download"})
    result = evaluate(person(), [*papers, future], DEF, NOW)
    assert points(result, "White paper") == 20


def test_given_half_life_when_evaluated_then_points_halve_per_half_life():
    decaying = definition(half_life=30)
    result = evaluate(person(), [demo(days_ago=30)], decaying, NOW)
    assert points(result, "Demo request") == 15
    result = evaluate(person(), [demo(days_ago=60)], decaying, NOW)
    assert points(result, "Demo request") == 7.5


def test_given_max_count_with_decay_when_evaluated_then_most_recent_occurrences_count():
    decaying = definition(half_life=30)
    result = evaluate(person(), [pricing(60), pricing(0), pricing(30), pricing(90)], decaying, NOW)
    assert points(result, "Pricing page") == 10 + 5 + 2.5


def test_given_careers_page_visits_when_evaluated_then_negative_points_lower_the_score():
    visits = [act("page_view", d, url="https://x.example/careers/engineer") for d in (1, 2)]
    result = evaluate(person(), [demo(), *visits], DEF, NOW)
    assert points(result, "Careers page") == -20 and result.score == 50
    assert result.score == round(sum(c.points for c in result.contributions), 2)


def test_given_mixed_case_industry_when_evaluated_then_matches_case_insensitively():
    result = evaluate(person(industry="  FINTECH "), [], DEF, NOW)
    assert points(result, "Target industry") == 10


# --- rule 5: lead or subscriber --------------------------------------------------------------

def test_given_only_an_email_when_evaluated_then_subscriber():
    result = evaluate({"email": "a@b.com"}, [act("email_open", 1)], DEF, NOW)
    assert result.stage == "subscriber"


def test_given_only_an_email_and_a_form_when_evaluated_then_lead():
    newsletter = act("form_submission", 200, form_id="newsletter-signup")  # any form, ever
    assert evaluate({"email": "a@b.com"}, [newsletter], DEF, NOW).stage == "lead"


def test_given_more_than_an_email_when_evaluated_then_lead():
    assert evaluate({"email": "a@b.com", "first_name": "Al"}, [], DEF, NOW).stage == "lead"


# --- rule 6: stages never move backwards by score alone ----------------------------------------

def test_given_mql_whose_score_fell_when_evaluated_then_stays_mql():
    result = evaluate(person(), [], DEF, NOW, current_stage="mql")
    assert result.stage == "mql" and not result.mql


def test_given_lead_that_lost_its_fields_when_evaluated_then_never_drops_to_subscriber():
    assert evaluate({"email": "a@b.com"}, [], DEF, NOW, current_stage="lead").stage == "lead"


def test_given_recycled_lead_not_qualifying_when_evaluated_then_stays_recycled():
    assert evaluate(person(), [], DEF, NOW, current_stage="recycled").stage == "recycled"


def test_given_recycled_lead_qualifying_again_when_evaluated_then_fresh_mql():
    assert evaluate(person(), [demo()], DEF, NOW, current_stage="recycled").stage == "mql"


def test_given_mql_failing_fit_before_sales_accepts_when_evaluated_then_disqualified():
    assert evaluate(person(employees=20), [demo()], DEF, NOW, current_stage="mql").stage == "disqualified"


@pytest.mark.parametrize("stage", ["sal", "sql", "opportunity", "customer"])
def test_given_sales_owned_lead_failing_fit_when_evaluated_then_never_disqualified(stage):
    result = evaluate(person(employees=20, email="x@gmail.com"), [], DEF, NOW, current_stage=stage)
    assert result.stage == stage


def test_given_disqualified_lead_whose_fit_now_passes_when_evaluated_then_evaluated_afresh():
    assert evaluate(person(), [demo()], DEF, NOW, current_stage="disqualified").stage == "mql"
    assert evaluate(person(), [], DEF, NOW, current_stage="disqualified").stage == "lead"


# --- rule 7: BANT ------------------------------------------------------------------------------

@pytest.mark.parametrize("answers, passes, stage", [
    ({"bant_budget": True, "bant_need": "replace spreadsheets"}, 4, "sql"),     # 2 + authority 1 + 1
    ({"bant_budget": "yes", "title": "Engineer"}, 2, "sal"),                       # budget counts double
    ({"bant_need": "x", "bant_timeline": "0-3 Months", "title": "Engineer"}, 2, "sal"),
    ({"bant_need": "x", "bant_timeline": "3-6 months"}, 3, "sql"),                 # authority from title
    ({"bant_timeline": "next year"}, 1, "sal"),
])
def test_given_sales_accepted_lead_when_bant_weighed_then_sql_at_require(answers, passes, stage):
    result = evaluate(person(**answers), [], DEF, NOW, current_stage="sal")
    assert (result.bant_score, result.stage) == (passes, stage)
    assert [b.criterion for b in result.bant] == ["budget", "authority", "need", "timeline"]


def test_given_bant_met_but_lead_not_yet_accepted_when_evaluated_then_no_sql():
    answers = {"bant_budget": True, "bant_need": "x"}
    assert evaluate(person(**answers), [demo()], DEF, NOW, current_stage="mql").stage == "mql"
    assert evaluate(person(**answers), [], DEF, NOW, current_stage="opportunity").stage == "opportunity"


# --- explanation ----------------------------------------------------------------------------

def test_given_qualified_lead_when_handoff_reason_built_then_reads_like_the_example():
    lead = person(title="VP Engineering", employees=450, industry="Software")
    result = evaluate(lead, [demo(days_ago=4), pricing(1), pricing(2), pricing(3)], DEF, NOW)
    assert handoff_reason(result, lead) == (
        "Pricing page ×3; Demo request 2026-11-20; VP Engineering at a 450-person Software company "
        "(score 100, definition v3)")


def test_given_huge_profile_values_when_handoff_reason_built_then_at_most_255_chars():
    lead = person(title="Director " * 60)
    result = evaluate(lead, [demo(), pricing()], DEF, NOW)
    reason = handoff_reason(result, lead)
    assert len(reason) <= 255 and reason.endswith("(score 80, definition v3)")


def shipped_with_forms_named(tmp_path):
    """The shipped definition once a team has put its demo form's id in (here "demo-request")."""
    text = (REPO / "mappings" / "qualification.toml").read_text(encoding="utf-8")
    path = tmp_path / "qualification.toml"
    path.write_text(text.replace("<GUID of your demo request form>", "demo-request"), encoding="utf-8")
    return load_definition(path, DEFAULT_BANT_FIELDS)


def test_given_shipped_definition_when_its_form_rules_are_placeholders_then_a_demo_form_counts_nothing():
    shipped = load_definition(REPO / "mappings" / "qualification.toml", DEFAULT_BANT_FIELDS)
    result = evaluate(person(country="United States"), [demo(days_ago=0)], shipped, NOW)
    assert not result.mql and result.score == 40
    # A buying signal every portal has still makes a senior buyer ready.
    assert evaluate(person(country="United States"), [pricing(0), pricing(0), pricing(0)], shipped, NOW).mql


def test_given_default_definition_when_vp_requests_demo_today_then_mql(tmp_path):
    shipped = shipped_with_forms_named(tmp_path)
    lead = person(country="United States")
    result = evaluate(lead, [demo(days_ago=0)], shipped, NOW)
    assert result.mql and result.score == 70
    student = evaluate(person(title="Graduate student"), [demo(0)], shipped, NOW)
    assert student.disqualified_by == "Not a student"


def test_given_default_definition_when_company_domain_hides_free_mail_then_still_disqualified(tmp_path):
    shipped = shipped_with_forms_named(tmp_path)
    lead = person(email="ann@gmail.com", email_domain="acme.com", country="US")
    assert evaluate(lead, [demo(0)], shipped, NOW).disqualified_by == "Business email"
    competitor = person(email="spy@rivalsync.com", country="US")
    assert evaluate(competitor, [demo(0)], shipped, NOW).disqualified_by == "Not a competitor"
