"""The explanation behind each mql decision: every gate, profile rule and BANT criterion with its
verdict, as `leadsync explain` shows it (SPEC §4). Each test builds its definition afresh, so the
precomputed plan behind it is built by the test itself."""

from __future__ import annotations

import tomllib

from connector.core.definition import DEFAULT_BANT_FIELDS, parse_definition
from connector.core.qualify import evaluate, handoff_reason, lead_value
from tests.core.test_qualify import DEFINITION, NOW, act, definition, demo, person, pricing


def gates_of(result, kind):
    return [(g.field, g.verdict) for g in result.gates if g.kind == kind]


def test_given_one_required_field_missing_when_evaluated_then_its_gate_fails_and_the_others_pass():
    result = evaluate(person(company=None), [demo()], definition(), NOW)
    assert gates_of(result, "required") == [("email", True), ("first_name", True), ("last_name", True),
                                            ("company", False)]
    assert result.missing_required == ("company",) and result.missing == "company"


def test_given_fit_value_missing_when_evaluated_then_its_gate_is_unknown_not_failed():
    result = evaluate(person(employees=None), [demo()], definition(), NOW)
    assert gates_of(result, "fit") == [("employees", None), ("email_domain", True)]
    assert result.disqualified_by is None and result.missing == "employees"


def test_given_fit_passes_when_evaluated_then_each_fit_gate_passes_on_its_field():
    result = evaluate(person(), [demo()], definition(), NOW)
    assert gates_of(result, "fit") == [("employees", True), ("email_domain", True)]
    assert result.mql


def test_given_any_lead_when_evaluated_then_every_gate_and_contribution_is_named_and_explained():
    for lead in (person(), person(company=None, employees=None, title="Intern", industry=None)):
        result = evaluate(lead, [demo()], definition(), NOW)
        assert all(g.name and g.detail for g in result.gates)
        assert all(c.rule and c.detail for c in result.contributions)


def test_given_profile_rules_hit_missed_and_unknown_when_evaluated_then_the_breakdown_adds_up_to_the_score():
    result = evaluate(person(title="Intern", industry=None), [demo()], definition(), NOW)
    profile = {c.rule: (c.kind, c.points, c.count) for c in result.contributions if c.kind == "profile"}
    assert profile == {"Senior title": ("profile", 0.0, 0), "Target industry": ("profile", 0.0, 0),
                       "Ideal size": ("profile", 15.0, 1)}
    assert result.profile_score == 15.0
    assert sum(c.points for c in result.contributions) == result.score


def test_given_bant_answers_when_evaluated_then_each_criterion_shows_its_verdict_and_weight():
    result = evaluate(person(bant_budget=True, bant_timeline="12 months"), [demo()], definition(), NOW, "sal")
    assert [(b.criterion, b.verdict, b.weight) for b in result.bant] == [
        ("budget", True, 2.0), ("authority", True, 1.0), ("need", False, 1.0), ("timeline", False, 1.0)]
    assert (result.bant_score, result.stage) == (3.0, "sql")


def test_given_only_an_email_and_its_domain_and_a_declined_checkbox_when_evaluated_then_still_a_subscriber():
    lead = {"email": "a@b.com", "email_domain": "b.com", "wants_sales_contact": False}
    assert evaluate(lead, [act("email_open", 1)], definition(), NOW).stage == "subscriber"
    assert evaluate({"email": "a@b.com", "title": "CTO"}, [], definition(), NOW).stage == "lead"


def test_given_email_with_mixed_case_domain_when_domain_read_then_lowercased_from_the_email():
    assert lead_value({"email": "Ann@Acme.COM "}, "email_domain") == "acme.com"
    assert lead_value({"email": "ann@acme.com", "email_domain": "acme.io"}, "email_domain") == "acme.io"
    assert lead_value({}, "email_domain") is None
    assert lead_value({"title": "VP"}, "title") == "VP"


def test_given_free_mail_in_mixed_case_when_evaluated_then_disqualified_by_the_business_email_rule():
    result = evaluate(person(email="Ann@GMAIL.com"), [demo()], definition(), NOW)
    assert (result.disqualified_by, result.stage) == ("Business email", "disqualified")


# --- the handoff reason a rep reads (255 characters at most) -----------------------------------

MORE_BEHAVIOR = "".join(f"""
[[behavior]]
name = "{name}"
activity = "page_view"
where = {{ url = {{ contains = "/{path}" }} }}
points = {points}
""" for name, path, points in (("Case study", "case-study", 5), ("Webinar page", "webinar", 4),
                                ("Docs page", "docs", 3)))


def page(path, days_ago=1):
    return act("page_view", days_ago, url=f"https://www.example-vendor.com/{path}")


def test_given_many_actions_when_reason_built_then_signals_then_the_three_strongest_other_actions():
    lead = person()
    activities = [demo(4), page("case-study"), page("webinar"), page("webinar", 2), page("docs"),
                  act("email_open", 1), act("email_open", 2), page("careers")]
    reason = handoff_reason(evaluate(lead, activities, definition(extra=MORE_BEHAVIOR), NOW), lead)
    actions = reason.split("; ")
    assert actions[:4] == ["Demo request 2026-11-20", "Webinar page ×2", "Case study", "Docs page"]
    assert "Email open" not in reason and "Careers page" not in reason and "Senior title" not in reason


def test_given_only_one_point_actions_when_reason_built_then_they_still_tell_what_the_lead_did():
    lead = person()
    reason = handoff_reason(evaluate(lead, [act("email_open", 1), act("email_open", 2)], definition(), NOW), lead)
    assert reason.startswith("Email open ×2; ")


def _reason_with_title(title_length):
    lead = person(title="T" * title_length)
    result = evaluate(lead, [demo(4), pricing(1)], definition(), NOW)
    return handoff_reason(result, lead)


def test_given_reason_of_exactly_255_characters_when_built_then_kept_whole():
    title_length = 1 + 255 - len(_reason_with_title(1))
    reason = _reason_with_title(title_length)
    assert len(reason) == 255
    assert reason.startswith("Pricing page 2026-11-23; Demo request 2026-11-20; ") and "…" not in reason


def test_given_reason_just_over_255_when_built_then_the_least_important_action_is_dropped_whole():
    reason = _reason_with_title(1 + 256 - len(_reason_with_title(1)))
    assert len(reason) <= 255 and "…" not in reason
    # Buying signals come most recent first: the oldest one goes.
    assert reason.startswith("Pricing page 2026-11-23; T") and "Demo request" not in reason


def test_given_any_lead_when_evaluated_then_the_decision_gates_follow_required_and_fit_in_order():
    result = evaluate(person(), [], definition(), NOW)
    assert [g.kind for g in result.gates] == ["required"] * 4 + ["fit"] * 2 + ["score", "engagement", "readiness"]
    assert [g.verdict for g in result.gates[-3:]] == [False, False, False]


DOMAIN_PROFILE = """
[[profile]]
name = "Target account"
field = "email_domain"
in = ["acme.com"]
points = 5
"""


def test_given_profile_rule_on_the_email_domain_when_evaluated_then_the_domain_is_derived_from_the_email():
    result = evaluate(person(), [demo()], definition(extra=DOMAIN_PROFILE), NOW)
    hit = next(c for c in result.contributions if c.rule == "Target account")
    assert (hit.points, hit.count) == (5.0, 1) and result.profile_score == 45.0


def test_given_fit_value_present_but_failing_or_unreadable_when_evaluated_then_the_gate_names_its_field():
    too_small = evaluate(person(employees=50), [demo()], definition(), NOW)
    unreadable = evaluate(person(employees="lots"), [demo()], definition(), NOW)
    assert gates_of(too_small, "fit") == [("employees", False), ("email_domain", True)]
    assert gates_of(unreadable, "fit") == [("employees", None), ("email_domain", True)]
    assert too_small.stage == "disqualified" and unreadable.disqualified_by is None


def test_given_sales_contact_requested_without_buying_signal_when_evaluated_then_the_ready_gate_passes_on_the_field():
    white_paper = act("form_submission", 1, form_id="whitepaper-download")
    result = evaluate(person(wants_sales_contact=True), [white_paper], definition(), NOW)
    ready = [g for g in result.gates if g.kind == "readiness"]
    assert [(g.field, g.verdict) for g in ready] == [("wants_sales_contact", True)]
    assert ready[0].name and ready[0].detail and result.buying_signals == ()


def test_given_definition_without_bant_when_sales_accepted_lead_evaluated_then_it_stays_sal():
    text = DEFINITION.replace("HALF_LIFE", "0")
    no_bant = parse_definition(tomllib.loads(text[:text.index("[bant]")]), "test.toml", DEFAULT_BANT_FIELDS)
    answers = person(bant_budget=True, bant_need="yes", bant_timeline="0-3 months")
    result = evaluate(answers, [demo()], no_bant, NOW, "sal")
    assert (result.stage, result.bant_required, result.bant) == ("sal", None, ())
    assert evaluate(answers, [demo()], definition(), NOW, "sal").bant_required == 3


def test_given_buying_signal_inside_the_window_then_the_ready_gate_passes_and_outside_it_fails():
    inside = evaluate(person(), [pricing(89)], definition(), NOW)
    outside = evaluate(person(), [pricing(91)], definition(), NOW)
    assert gates_of(inside, "readiness")[0][1] is True and inside.ready
    assert gates_of(outside, "readiness") == [("wants_sales_contact", False)] and not outside.ready
