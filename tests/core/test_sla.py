"""SLA and funnel computations, worked by hand: rows in, numbers out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connector.core import sla as S
from connector.core.definition import Sla
from connector.core.model import Activity
from tests.core.test_qualify import definition

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
SLA = Sla(first_touch_target=timedelta(minutes=30), first_touch_deadline=timedelta(days=1),
          touch_calls=3, touch_emails=3, touch_within=timedelta(days=14), qualified_per_quarter=26)
DEF = definition(extra="""
[sla]
first_touch_target = "30m"
first_touch_deadline = "1d"
touches = { calls = 3, emails = 3, within = "14d" }
qualified_per_quarter = 26
[targets]
mql_to_sal = [0.20, 0.40]
sal_to_sql = [0.80, 0.90]
win_rate_new = 0.30
win_rate_existing = 0.75
""")


def ago(**kw) -> datetime:
    return NOW - timedelta(**kw)


def touch(at: datetime, kind: str = "call") -> Activity:
    return Activity("sales_touch", at, {"kind": kind}, "salesforce", f"{kind}@{at.isoformat()}")


def person(hid: str, handoff_at: datetime | None, stage: str = "mql", score: float = 70, **extra):
    return {"hubspot_id": hid, "email": f"{hid}@acme.com", "stage": stage, "score": score,
            "handoff_at": handoff_at, **extra}


def moved(hid: str, to_stage: str, at: datetime, cause: str = "definition"):
    return {"hubspot_id": hid, "to_stage": to_stage, "at": at, "cause": cause}


# -- first touch ---------------------------------------------------------------------------------

def test_given_touches_before_and_after_handoff_when_first_touch_then_earliest_after_handoff_wins():
    handoff = ago(hours=5)
    touches = [touch(ago(days=30)), touch(ago(hours=3)), touch(ago(hours=4, minutes=40))]
    assert S.first_touch(handoff, touches, []) == ago(hours=4, minutes=40)


def test_given_acceptance_before_any_touch_when_first_touch_then_acceptance_counts():
    handoff = ago(hours=5)
    assert S.first_touch(handoff, [touch(ago(hours=2))], [ago(hours=4)]) == ago(hours=4)


def test_given_only_marketing_activities_when_first_touch_then_none():
    handoff = ago(hours=5)
    assert S.first_touch(handoff, [Activity("email_open", ago(hours=1), {})], []) is None


# -- follow-up verdicts --------------------------------------------------------------------------

def test_given_touch_after_20_minutes_when_followed_up_then_target_and_deadline_kept():
    row = S.follow_up(person("a", ago(hours=2)), [touch(ago(hours=1, minutes=40))], [], SLA, NOW)
    assert row.minutes_to_first_touch == 20.0
    assert (row.within_target, row.within_deadline) == (True, True)
    assert row.touches_met is None            # 1 call of 3 but 14 days are not over
    assert row.breaches == () and row.status == "touched"


def test_given_touch_after_two_hours_when_followed_up_then_target_missed_deadline_kept():
    row = S.follow_up(person("a", ago(hours=3)), [touch(ago(hours=1))], [], SLA, NOW)
    assert row.minutes_to_first_touch == 120.0
    assert (row.within_target, row.within_deadline) == (False, True)
    assert row.breaches == (S.TARGET_MISSED,) and row.status == "target missed"


def test_given_no_touch_after_ten_minutes_when_followed_up_then_still_waiting():
    row = S.follow_up(person("a", ago(minutes=10)), [], [], SLA, NOW)
    assert (row.within_target, row.within_deadline, row.touches_met) == (None, None, None)
    assert row.status == "waiting"


def test_given_no_touch_after_two_hours_when_followed_up_then_late_but_deadline_open():
    row = S.follow_up(person("a", ago(hours=2)), [], [], SLA, NOW)
    assert (row.within_target, row.within_deadline) == (False, None)
    assert row.status == "late: not touched"


def test_given_no_touch_after_two_days_when_followed_up_then_both_missed():
    row = S.follow_up(person("a", ago(days=2)), [], [], SLA, NOW)
    assert row.breaches == (S.TARGET_MISSED, S.DEADLINE_MISSED) and row.status == "deadline missed"


def test_given_15_days_with_3_calls_and_2_emails_when_followed_up_then_too_few_touches():
    handoff = ago(days=15)
    touches = [touch(handoff + timedelta(minutes=10)), touch(handoff + timedelta(days=2)),
               touch(handoff + timedelta(days=3), "meeting"),               # a meeting counts as a call
               touch(handoff + timedelta(days=4), "email"), touch(handoff + timedelta(days=5), "email"),
               touch(handoff + timedelta(days=14, hours=1), "email")]       # after the period: not counted
    row = S.follow_up(person("a", handoff, stage="sal"), touches, [], SLA, NOW)
    assert (row.calls, row.emails) == (3, 2)
    assert row.touches_met is False and row.breaches == (S.TOO_FEW_TOUCHES,)


def test_given_three_and_three_touches_within_days_when_followed_up_then_met_early():
    handoff = ago(days=3)
    touches = [touch(handoff + timedelta(hours=h), k) for h, k in
               ((0.2, "call"), (1, "email"), (5, "call"), (7, "email"), (30, "call"), (31, "email"))]
    row = S.follow_up(person("a", handoff, stage="sal"), touches, [], SLA, NOW)
    assert row.touches_met is True and row.breaches == ()


def test_given_recycled_lead_when_followed_up_then_touches_not_owed():
    row = S.follow_up(person("a", ago(days=20), stage="recycled"), [touch(ago(days=20) + timedelta(minutes=5))],
                      [], SLA, NOW)
    assert row.touches_met is None and row.breaches == ()


def test_given_definition_without_sla_when_followed_up_then_no_verdicts():
    row = S.follow_up(person("a", ago(days=20)), [], [], Sla(), NOW)
    assert (row.within_target, row.within_deadline, row.touches_met, row.breaches) == (None, None, None, ())


# -- compliance and the queue ---------------------------------------------------------------------

PEOPLE = [
    person("fast", ago(hours=3), stage="sal", score=80),         # touched after 10 min
    person("slow", ago(hours=5), score=90),                      # touched after 2 h
    person("never", ago(days=2), score=65),                      # untouched for 2 days
    person("new", ago(minutes=5), score=90),                     # just handed off
    person("old", ago(days=200), stage="customer"),              # before the period
    person("lead", None, stage="lead"),                          # never handed off
]
TOUCHES = {"fast": [touch(ago(hours=2, minutes=50))], "slow": [touch(ago(hours=3))]}


def rows():
    return S.follow_ups(PEOPLE, TOUCHES, [moved("fast", "sal", ago(hours=2))], SLA, NOW, since=ago(days=90))


def test_given_four_handoffs_when_assessed_then_oldest_first_and_earlier_ones_left_out():
    assert [r.hubspot_id for r in rows()] == ["never", "slow", "fast", "new"]


def test_given_four_handoffs_when_compliance_then_shares_of_decided_verdicts():
    c = S.compliance(rows())
    assert (c.handed_off, c.touched) == (4, 2)
    assert c.median_minutes_to_first_touch == 65.0          # median of 10 and 120
    assert c.within_target == pytest.approx(1 / 3)          # fast yes; slow, never no; new undecided
    assert c.within_deadline == pytest.approx(2 / 3)        # fast, slow yes; never no
    assert c.touches_met is None                            # nobody's 14 days are over
    assert c.overall == pytest.approx(1 / 3)                # judged: never, slow, fast; only fast clean
    assert c.breaches == 3                                  # slow: target; never: target + deadline


def test_given_handoffs_when_queued_then_unaccepted_highest_score_first_then_oldest():
    assert [r.hubspot_id for r in S.queue(rows())] == ["slow", "new", "never"]


# -- funnel ----------------------------------------------------------------------------------------

def test_given_stage_skipped_when_converting_then_later_stage_counts_as_reached():
    reached = S.first_reached([moved("a", "mql", ago(days=9)), moved("a", "sql", ago(days=5), "gate_violation")])
    c = S.conversion(reached, "mql", "sal", (0.2, 0.4))
    assert (c.entered, c.converted, c.rate, c.verdict) == (1, 1, 1.0, "above target")


def test_given_ten_mqls_three_accepted_when_converting_then_30_percent_on_target():
    ts = [moved(f"p{i}", "mql", ago(days=20)) for i in range(10)]
    ts += [moved(f"p{i}", "sal", ago(days=19), "sales") for i in range(3)]
    ts += [moved("p9", "sal", ago(days=25), "sales")]       # accepted before this handoff: not a conversion
    c = S.conversion(S.first_reached(ts), "mql", "sal", DEF.targets["mql_to_sal"])
    assert (c.entered, c.converted, c.verdict) == (10, 3, "on target")


def test_given_fresh_handoffs_when_converting_then_those_still_waiting_are_counted():
    ts = [moved(p, "mql", ago(hours=1)) for p in ("a", "b", "c")] + [moved("c", "recycled", ago(minutes=5), "sales")]
    c = S.conversion(S.first_reached(ts), "mql", "sal", (0.2, 0.4), {"a": "mql", "b": "mql", "c": "recycled"})
    assert (c.entered, c.converted, c.still_waiting, c.verdict) == (3, 0, 2, "below target")


def test_given_no_cohort_when_converting_then_rate_unknown():
    c = S.conversion({}, "sal", "sql", (0.8, 0.9))
    assert c.rate is None and c.verdict is None


def test_given_closed_opportunities_when_win_rates_then_split_by_existing_customer():
    people = {"n1": {}, "n2": {}, "n3": {}, "e1": {"existing_customer": True}, "e2": {"existing_customer": True}}
    ts = [moved("n1", "customer", ago(days=3), "opportunity"),
          moved("n2", "recycled", ago(days=3), "opportunity"),
          moved("n3", "recycled", ago(days=3), "sales"),       # rejected as a lead: no opportunity closed
          moved("e1", "customer", ago(days=3), "opportunity"),
          moved("e2", "recycled", ago(days=9), "opportunity"), moved("e2", "customer", ago(days=2), "opportunity")]
    new, existing = S.win_rates(people, ts, DEF.targets)
    assert (new.won, new.lost, new.rate, new.verdict) == (1, 1, 0.5, "above target")
    assert (existing.won, existing.lost, existing.rate, existing.verdict) == (2, 0, 1.0, "above target")


def test_given_stage_times_when_velocity_then_median_days_per_step():
    ts = [moved("a", "mql", ago(days=10)), moved("a", "sal", ago(days=9)), moved("a", "sql", ago(days=4)),
          moved("b", "mql", ago(days=10)), moved("b", "sal", ago(days=7)),
          moved("c", "mql", ago(days=10)), moved("c", "sal", ago(days=5))]
    v = S.velocity(S.first_reached(ts))
    assert v == {"mql → sal": 3.0, "sal → sql": 5.0, "sql → opportunity": None, "opportunity → customer": None}


def test_given_four_weeks_when_counting_mqls_then_calendar_weeks_vs_quarter_over_13_rounded_up():
    since = ago(days=28)                                              # Tue 27 Oct: its week starts Mon 26 Oct
    ts = [moved("a", "mql", since + timedelta(days=1)), moved("b", "mql", since + timedelta(days=2)),
          moved("c", "mql", since + timedelta(days=2, hours=1)), moved("d", "mql", since + timedelta(days=20)),
          moved("e", "sal", since + timedelta(days=3)), moved("f", "mql", since - timedelta(days=1))]
    weeks = S.mqls_per_week(ts, 26, since, NOW)
    assert [w.starts.date().isoformat() for w in weeks] == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16",
                                                            "2026-11-23"]
    assert [w.mqls for w in weeks] == [4, 0, 0, 1, 0]
    assert [w.met for w in weeks] == [True, False, False, False, None]  # 26 / 13 = 2 per week; this week runs
    assert weeks[0].target == 2 and S.weekly_target(300) == 24          # 300 / 13 = 23.08: 24 a week


def test_given_different_since_when_counting_mqls_then_the_same_week_gets_the_same_verdict():
    ts = [moved("a", "mql", ago(days=9)), moved("b", "mql", ago(days=10))]
    verdicts = [{w.starts: (w.mqls, w.complete, w.met) for w in S.mqls_per_week(ts, 26, ago(days=d), NOW)}
                for d in (9, 10, 14, 30)]
    week = S.week_start(ago(days=9))
    assert {v[week] for v in verdicts} == {(2, True, True)}


def test_given_period_ending_mid_week_when_counting_mqls_then_running_week_not_judged():
    since = ago(days=10)
    weeks = S.mqls_per_week([moved("a", "mql", ago(days=1))], 26, since, NOW)
    assert [(w.mqls, w.complete, w.met) for w in weeks] == [(0, True, False), (0, True, False), (1, False, None)]


def test_given_handoffs_this_quarter_when_quarter_to_date_then_total_pace_and_weekly_running_total():
    ts = [moved("a", "mql", datetime(2026, 10, 5, 9, tzinfo=timezone.utc)),
          moved("b", "mql", datetime(2026, 11, 20, 9, tzinfo=timezone.utc)),
          moved("c", "mql", datetime(2026, 9, 30, 9, tzinfo=timezone.utc))]        # last quarter
    q = S.quarter_to_date(ts, 300, NOW)
    assert (q.starts.date().isoformat(), q.ends.date().isoformat(), q.qualified) == ("2026-10-01", "2027-01-01", 2)
    assert q.expected_by_now == 177 and q.on_track is False                        # 54.5 of 92 days gone
    assert q.weeks[0].starts.date().isoformat() == "2026-10-01" and q.weeks[-1].cumulative == 2
    assert [w.mqls for w in q.weeks].count(1) == 2 and q.weeks[-1].complete is False


def test_given_store_rows_when_funnel_then_stages_pipeline_and_conversions():
    people = {p["hubspot_id"]: p for p in [person("a", ago(days=9), stage="sql"), person("b", ago(days=9), stage="opportunity"),
                                           person("c", None, stage="lead"), person("d", None, stage="lead", deleted=True)]}
    ts = [moved("a", "mql", ago(days=9)), moved("a", "sal", ago(days=8)), moved("a", "sql", ago(days=6)),
          moved("b", "mql", ago(days=9)), moved("b", "sal", ago(days=8)), moved("b", "sql", ago(days=7)),
          moved("b", "opportunity", ago(days=5))]
    f = S.funnel(people, ts, DEF, ago(days=14), NOW)
    assert f.stages == {"sql": 1, "opportunity": 1, "lead": 1}
    assert f.pipeline_volume == 2 and f.pipeline_value is None
    assert [(c.step, c.entered, c.converted, c.still_waiting, c.verdict) for c in f.conversions] == [
        ("mql → sal", 2, 2, 0, "above target"), ("sal → sql", 2, 2, 0, "above target"), ("sql → customer", 2, 0, 1, None)]
    assert f.velocity_days["sal → sql"] == 1.5
    assert [w.mqls for w in f.weeks] == [2, 0, 0]          # 9 days ago is Sunday 15 Nov: the first of three weeks


def test_given_deal_won_straight_from_sql_when_velocity_then_last_step_timed_from_sql_not_left_blank():
    ts = [moved("a", "mql", ago(days=10)), moved("a", "sal", ago(days=9)), moved("a", "sql", ago(days=6)),
          moved("a", "customer", ago(days=2))]
    v = S.velocity(S.first_reached(ts))
    assert v["opportunity → customer"] == 4.0 and v["sql → opportunity"] is None


def test_given_handoff_followed_up_in_minutes_when_velocity_then_not_rounded_to_zero_days():
    ts = [moved("a", "mql", ago(minutes=50)), moved("a", "sal", ago(minutes=20))]
    assert S.velocity(S.first_reached(ts))["mql → sal"] == pytest.approx(30 / 1440, abs=0.001)
