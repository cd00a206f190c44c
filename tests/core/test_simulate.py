"""Replaying history under a candidate definition: weekly MQLs, movers, conversions, projection."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rich.console import Console

from connector.core.model import Activity
from connector.core.durations import week_ends
from connector.core.simulate import render_simulation, simulate, simulation_dict
from tests.core.test_qualify import NOW, definition, person

SINCE = NOW - timedelta(days=28)          # four whole weeks
CURRENT = definition(mql_score=50)
STRICTER = definition(mql_score=75, version=4, extra="[sla]\nqualified_per_quarter = 30\n")
LOOSER = definition(mql_score=40, version=5, extra="[sla]\nqualified_per_quarter = 20\n")


def at(days_after_since, kind="form_submission", **attrs):
    return Activity(kind, SINCE + timedelta(days=days_after_since), attrs)


def demo(day):
    return at(day, form_id="demo-request")


def pricing(day):
    return at(day, "page_view", url="https://www.example-vendor.com/pricing")


PEOPLE = [
    # 40 profile + demo in week 2 = 70: qualifies at 50, not at 75.
    (person(email="ann@acme.com"), [demo(10)], []),
    # 40 + demo + three pricing visits = 100 in week 3: qualifies under both; sales took it to sql.
    (person(email="bo@acme.com"), [demo(15), pricing(16), pricing(16), pricing(17)],
     [("mql", SINCE + timedelta(days=17)), ("sal", SINCE + timedelta(days=18)), ("sql", SINCE + timedelta(days=20))]),
    # employees unknown: 25 + demo 30 = 55 from week 1 on: near-qualified (at 50), never mql.
    (person(email="cy@acme.com", employees=None), [demo(3)], []),
    # 40 + white paper 10 = 50 but never ready: no one qualifies it.
    (person(email="di@acme.com"), [at(2, form_id="whitepaper-download")], []),
    # 40 + pricing 10 = 50 in week 4: qualifies at 50 and at 40.
    (person(email="ed@acme.com"), [pricing(25)], [("mql", SINCE + timedelta(days=25))]),
    # 25 profile + pricing 10 + white paper 10 + two opens = 47: only the looser 40 qualifies it.
    (person(email="fa@acme.com", title="Engineer"),
     [pricing(1), at(2, form_id="whitepaper-download"), at(3, "email_open"), at(4, "email_open")], []),
    # handed off before the period: not a new mql.
    (person(email="gus@acme.com"), [demo(-10)], [("mql", SINCE - timedelta(days=9))]),
]


def test_given_four_week_period_when_split_then_weeks_end_every_seven_days():
    assert week_ends(SINCE, NOW) == [SINCE + timedelta(days=7 * i) for i in (1, 2, 3, 4)]
    assert week_ends(SINCE, SINCE + timedelta(days=8))[-1] == SINCE + timedelta(days=8)
    with pytest.raises(ValueError):
        week_ends(NOW, SINCE)


def test_given_stricter_candidate_when_simulated_then_weekly_crossings_follow_activity_dates():
    report = simulate(PEOPLE, CURRENT, STRICTER, SINCE, NOW)
    assert [w.mql_current for w in report.weeks] == [0, 1, 1, 1]     # ann, bo, ed
    assert [w.mql_candidate for w in report.weeks] == [0, 0, 1, 0]   # bo only
    assert [w.near_current for w in report.weeks] == [1, 1, 1, 1]    # cy, every week
    assert [w.near_candidate for w in report.weeks] == [0, 0, 0, 0]
    assert report.drop_out == ("ann@acme.com", "ed@acme.com") and report.newly_qualify == ()
    assert (report.people, report.already_handed_off) == (7, 1)


def test_given_history_when_simulated_then_conversions_count_only_real_handoffs():
    report = simulate(PEOPLE, CURRENT, STRICTER, SINCE, NOW)
    assert (report.current.mql, report.current.observed, report.current.sal, report.current.sql) == (3, 2, 1, 1)
    assert report.current.mql_to_sal == 0.5 and report.current.sal_to_sql == 1.0
    assert (report.candidate.mql, report.candidate.observed, report.candidate.sal) == (1, 1, 1)


def test_given_candidate_short_of_commitment_when_simulated_then_verdict_says_no():
    report = simulate(PEOPLE, CURRENT, STRICTER, SINCE, NOW)
    # one new mql in 28 days → about 3.3 a quarter against 30 committed
    assert report.projection.per_quarter_candidate == pytest.approx(3.3, abs=0.05)
    assert report.projection.enough is False and report.projection.verdict.startswith("no:")


def test_given_looser_candidate_when_simulated_then_newly_qualifying_leads_listed_and_enough():
    report = simulate(PEOPLE, CURRENT, LOOSER, SINCE, NOW)
    assert report.newly_qualify == ("fa@acme.com",) and report.drop_out == ()
    assert report.candidate.mql == 4 and report.candidate.observed == 2
    assert report.projection.per_quarter_candidate == pytest.approx(4 * 91.3125 / 28, abs=0.05)
    assert report.projection.enough is False


def test_given_no_commitment_when_simulated_then_verdict_explains_it():
    report = simulate(PEOPLE, CURRENT, CURRENT, SINCE, NOW)
    assert report.projection.enough is None and "no commitment" in report.projection.verdict
    assert report.newly_qualify == () and report.drop_out == ()


def test_given_report_when_rendered_then_json_and_table_carry_the_same_story():
    report = simulate(PEOPLE, CURRENT, STRICTER, SINCE, NOW)
    data = json.loads(json.dumps(simulation_dict(report)))
    assert data["drop_out"] == ["ann@acme.com", "ed@acme.com"]
    assert data["conversions"]["current"]["mql_to_sal"] == 0.5
    assert data["projection"]["enough"] is False and len(data["weeks"]) == 4
    console = Console(width=120, record=True)
    console.print(render_simulation(report))
    text = console.export_text()
    assert "Would drop out: 2" in text and "Can marketing still deliver enough?" in text
    assert "candidate v4: no: about" in text and "current v3: no: about" in text
    assert data["projection"]["verdict_current"].startswith("no: about") and data["version_bumped"] is True


def test_given_candidate_with_the_current_version_when_rendered_then_it_says_the_version_was_not_bumped():
    same = definition(mql_score=75, version=CURRENT.version)
    text = _rendered(simulate(PEOPLE, CURRENT, same, SINCE, NOW))
    assert f"v{CURRENT.version} (current) vs v{CURRENT.version} (candidate)" in text
    assert "the version was not bumped" in text


def test_given_many_drop_outs_when_rendered_then_every_name_is_listed():
    people = [({"email": f"p{i:02d}@acme.com", **PEOPLE[0][0], "email": f"p{i:02d}@acme.com"}, PEOPLE[0][1], PEOPLE[0][2])
              for i in range(25)]
    report = simulate(people, CURRENT, STRICTER, SINCE, NOW)
    assert len(report.drop_out) == 25
    text = _rendered(report)
    assert all(f"p{i:02d}@acme.com" in text for i in range(25)) and "(+" not in text


def _rendered(report):
    console = Console(width=80, record=True)
    console.print(render_simulation(report))
    return console.export_text()
