"""Alert rules (a table of facts → conditions), the once-per-condition bookkeeping, the channels
against a local catcher, and the health verdict."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from connector.app import alerts as A
from connector.app.config import ALERT_RULES, AlertsConfig, Secrets, Config
from connector.app.facts import Facts, LastCycle, OpenBreach, gather_facts
from connector.app.health import DEGRADED, DOWN, OK, assess
from tests.alert_catcher import Catcher
from tests.web_fixtures import NOW, ago, runtime, seed

SETTINGS = AlertsConfig(quarantine_above=10, handoffs_stopped_after=timedelta(hours=24))
BREACH = OpenBreach("1", "ann@acme.com", ("first touch after target",))


def cycle(kind: str, outcome: str, message: str | None = None) -> LastCycle:
    return LastCycle(kind, 7, outcome, message, ago(minutes=5))


# -- the rules -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("facts, keys", [
    (Facts(NOW), []),
    (Facts(NOW, open_breaches=(BREACH,)), ["sla_breach"]),
    (Facts(NOW, quarantined=10), []),
    (Facts(NOW, quarantined=11), ["quarantine_growth"]),
    (Facts(NOW, last_cycles={"hubspot": cycle("hubspot", "failed", "boom"), "salesforce": cycle("salesforce", "ok")}),
     ["cycle_failed:hubspot"]),
    (Facts(NOW, last_cycles={"salesforce": cycle("salesforce", "stopped", "daily allocation used up")}),
     ["budget_stopped:salesforce"]),
    (Facts(NOW, review_due=date(2026, 4, 1)), ["definition_overdue"]),
    (Facts(NOW, last_handoff_at=ago(hours=24)), []),
    (Facts(NOW, last_handoff_at=ago(hours=25)), ["handoffs_stopped"]),
    (Facts(NOW, last_handoff_at=None), []),
])
def test_given_facts_when_rules_checked_then_exactly_the_conditions_that_hold(facts, keys):
    assert [c.key for c in A.conditions(facts, SETTINGS)] == keys


def test_given_rule_switched_off_when_checked_then_it_never_fires():
    settings = AlertsConfig(rules=tuple(r for r in ALERT_RULES if r != "sla_breach"))
    assert A.conditions(Facts(NOW, open_breaches=(BREACH,) * 3), settings) == []


def test_given_many_breaches_when_described_then_names_five_and_counts_the_rest():
    breaches = tuple(OpenBreach(str(i), f"p{i}@x.com", ("first touch after target",)) for i in range(8))
    [c] = A.conditions(Facts(NOW, open_breaches=breaches), SETTINGS)
    assert "p0@x.com" in c.message and "p4@x.com" in c.message and "p5@x.com" not in c.message
    assert "and 3 more" in c.message and c.title.startswith("8 ")


# -- once per condition, then resolved --------------------------------------------------------------------

SLA = A.Condition("sla_breach", "sla_breach", "t", "m")


def test_given_new_condition_when_stepped_then_one_firing_notice_per_channel_and_none_again():
    state, outbox = A.step([SLA], {}, ["slack", "webhook"], NOW)
    assert [(ch, n.status) for ch, n in outbox] == [("slack", "firing"), ("webhook", "firing")]
    for ch, n in outbox:
        A.delivered(state, ch, n)
    state, outbox = A.step([SLA], state, ["slack", "webhook"], NOW + timedelta(minutes=1))
    assert outbox == []


def test_given_condition_gone_when_stepped_then_resolved_once_only_where_it_fired_and_closed():
    state, outbox = A.step([SLA], {}, ["slack", "webhook"], NOW)
    A.delivered(state, *outbox[0])                       # slack got it; the webhook was down
    state, outbox = A.step([], state, ["slack", "webhook"], NOW + timedelta(minutes=1))
    assert [(ch, n.status) for ch, n in outbox] == [("slack", "resolved")]
    A.delivered(state, *outbox[0])
    assert state == {}
    assert A.step([], state, ["slack", "webhook"], NOW + timedelta(minutes=2))[1] == []


def test_given_condition_gone_before_anyone_was_told_when_stepped_then_forgotten_silently():
    state, _ = A.step([SLA], {}, ["webhook"], NOW)
    state, outbox = A.step([], state, ["webhook"], NOW)
    assert (state, outbox) == ({}, [])


def test_given_failed_delivery_when_evaluated_again_then_retried_and_never_duplicated(tmp_path):
    rt = runtime(tmp_path)
    with Catcher() as catcher:
        alerter = A.Alerter(rt.store, SETTINGS, [A.WebhookChannel(catcher.url)])
        catcher.refuse = 1
        facts = Facts(NOW, open_breaches=(BREACH,))
        assert alerter.evaluate(facts) == []
        assert [n.status for _, n in alerter.evaluate(facts)] == ["firing"]
        alerter.evaluate(facts)
        alerter.evaluate(Facts(NOW + timedelta(hours=1)))
        alerter.evaluate(Facts(NOW + timedelta(hours=2)))
    assert catcher.statuses() == [("sla_breach", "firing"), ("sla_breach", "resolved")]
    assert rt.store.get(A.STATE_KEY) == {}, "a resolved alert leaves no state behind"
    rt.close()


# -- channels -----------------------------------------------------------------------------------------------

def test_given_slack_and_webhook_when_sent_then_payloads_carry_the_notice_and_pii_is_redacted(tmp_path):
    rt = runtime(tmp_path, redact_pii=True)
    with Catcher() as slack, Catcher() as hook:
        alerter = A.Alerter(rt.store, SETTINGS, [A.SlackChannel(slack.url), A.WebhookChannel(hook.url)], rt.redactor)
        alerter.evaluate(Facts(NOW, open_breaches=(BREACH,)))
    [message] = slack.received
    assert message["text"].startswith("*[leadsync] ALERT: 1 handed-off lead(s)") and "a***@acme.com" in message["text"]
    [notice] = hook.received
    assert (notice["source"], notice["condition"], notice["status"], notice["since"]) == \
        ("leadsync", "sla_breach", "firing", NOW.isoformat())
    assert "ann@acme.com" not in str(notice) and "a***@acme.com" in notice["message"]
    rt.close()


class FakeSMTP:
    sent: list = []

    def __init__(self, host, port, timeout):
        self.host, self.port = host, port
        self.calls = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starttls(self):
        self.calls.append("starttls")

    def login(self, user, password):
        self.calls.append(("login", user, password))

    def send_message(self, message):
        FakeSMTP.sent.append((self.host, self.port, self.calls, message))


def test_given_email_channel_when_sent_then_one_message_with_subject_recipients_and_login(monkeypatch):
    FakeSMTP.sent = []
    monkeypatch.setattr(A.smtplib, "SMTP", FakeSMTP)
    settings = AlertsConfig(email_to=("revops@example.com", "sales-ops@example.com"), smtp_host="mail.internal",
                            smtp_port=587, smtp_starttls=True, smtp_username_env="SMTP_USER", smtp_password_env="SMTP_PASS")
    secrets = Secrets(Config(file="c.toml", alerts=settings), {"SMTP_USER": "leadsync", "SMTP_PASS": "pw-123456"})
    [channel] = A.channels_from_config(settings, secrets)
    channel.send(A.Notice("quarantine_growth", "quarantine_growth", "resolved", "12 records quarantined", "m",
                          NOW.isoformat(), NOW.isoformat()))
    [(host, port, calls, message)] = FakeSMTP.sent
    assert (host, port, calls) == ("mail.internal", 587, ["starttls", ("login", "leadsync", "pw-123456")])
    assert message["Subject"] == "[leadsync] RESOLVED: 12 records quarantined"
    assert message["To"] == "revops@example.com, sales-ops@example.com"


def test_given_no_channel_secret_in_environment_when_configured_then_no_channel():
    settings = AlertsConfig(slack_webhook_env="SLACK_HOOK", webhook_url_env="ALERT_HOOK")
    assert A.channels_from_config(settings, Secrets(Config(file="c.toml", alerts=settings), {})) == []


def test_given_webhook_url_in_environment_when_redacting_then_it_is_a_secret():
    settings = AlertsConfig(webhook_url_env="ALERT_HOOK")
    secrets = Secrets(Config(file="c.toml", alerts=settings), {"ALERT_HOOK": "https://hooks.example.com/T0/B0/xyzsecret"})
    assert "https://hooks.example.com/T0/B0/xyzsecret" in secrets.all_values()


# -- facts from the store, and the health verdict ---------------------------------------------------------------

def test_given_seeded_store_when_facts_gathered_then_counts_match_the_store(tmp_path):
    rt = runtime(tmp_path)
    ids = seed(rt.store)
    facts = gather_facts(rt)
    assert facts.quarantined == 3
    assert {k: (c.run_id, c.outcome) for k, c in facts.last_cycles.items()} == \
        {"hubspot": (ids["ok"], "partial"), "salesforce": (ids["failed"], "failed")}
    assert facts.last_hot_success == ago(minutes=29)
    assert facts.last_handoff_at == ago(days=1)
    assert facts.open_breaches == ()
    rt.close()


EVERY = timedelta(seconds=15)


@pytest.mark.parametrize("facts, status, words", [
    (Facts(NOW, last_hot_success=ago(seconds=20)), OK, "20s ago"),
    (Facts(NOW, last_hot_success=ago(seconds=50)), DEGRADED, "hot loop stale"),
    (Facts(NOW, last_hot_success=ago(seconds=151)), DOWN, "more than 150s"),
    (Facts(NOW, last_hot_success=ago(seconds=20), open_breaches=(BREACH,)), DEGRADED, "1 open SLA breach"),
    (Facts(NOW, last_hot_success=ago(seconds=20), quarantined=26), DEGRADED, "26 records quarantined"),
    (Facts(NOW, last_hot_success=ago(seconds=20), quarantined=25), OK, "20s ago"),
    (Facts(NOW, last_hot_success=ago(seconds=20), last_cycles={"salesforce": cycle("salesforce", "failed", "boom")}),
     DEGRADED, "last salesforce cycle (run 7) failed: boom"),
    (Facts(NOW, last_hot_success=ago(seconds=20), last_cycles={"hubspot": cycle("hubspot", "stopped", "quota")}),
     DEGRADED, "stopped on the API budget"),
])
def test_given_facts_when_assessed_then_status_and_reason(facts, status, words):
    health = assess(facts, started_at=ago(hours=1), hot_every=EVERY, quarantine_above=25)
    assert health.status == status and words in health.body()
    assert health.http_status == (503 if status == DOWN else 200)


def test_given_fresh_start_when_assessed_then_starting_until_ten_intervals_then_down():
    never = Facts(NOW)
    assert assess(never, started_at=ago(seconds=100), hot_every=EVERY, quarantine_above=25).status == OK
    late = assess(never, started_at=ago(seconds=151), hot_every=EVERY, quarantine_above=25)
    assert late.status == DOWN and "since start" in late.reason and late.body().startswith("unhealthy: not syncing")
