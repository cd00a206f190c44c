"""Alerts: rules over ``Facts``, each condition announced once, and once more when it resolves.

- ``conditions`` (pure): which of the configured rules hold now, each as a ``Condition`` with a
  stable key (``sla_breach``, ``cycle_failed:hubspot`` …) and a message in the domain's words.
- ``step`` (pure): given the conditions now and the alerts already open (kept in the state store
  under ``alerts.open``), what to announce on which channel: a firing notice for a new condition,
  a resolved notice for one that no longer holds, nothing for one already announced. Delivery is
  tracked per channel, so a channel that was down gets its notice on the next evaluation and a
  channel that already has it never gets it twice.
- Channels: a Slack incoming webhook, a generic JSON webhook, email over SMTP. Their URLs and
  passwords are secrets, read from the environment; every text passes through the redactor.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Callable, Mapping, Protocol, Sequence

import requests

from connector.app.facts import Facts

log = logging.getLogger("leadsync.alerts")

STATE_KEY = "alerts.open"
FIRING, RESOLVED = "firing", "resolved"
SAMPLE = 5                      # leads named in a message; the page has the rest


@dataclass(frozen=True)
class Condition:
    key: str
    rule: str
    title: str
    message: str


@dataclass(frozen=True)
class Notice:
    key: str
    rule: str
    status: str                 # firing | resolved
    title: str
    message: str
    since: str                  # when the condition was first seen (ISO)
    at: str                     # when this notice was decided (ISO)


# -- the rules (pure) --------------------------------------------------------------------------------

def _sla(facts: Facts, _settings: Any) -> list[Condition]:
    if not facts.open_breaches:
        return []
    named = ", ".join(b.email or b.hubspot_id for b in facts.open_breaches[:SAMPLE])
    more = len(facts.open_breaches) - SAMPLE
    return [Condition("sla_breach", "sla_breach", f"{len(facts.open_breaches)} handed-off lead(s) past the SLA, untouched",
                      f"Sales has not touched these leads within the agreed time: {named}"
                      + (f" and {more} more" if more > 0 else "") + ".")]


def _quarantine(facts: Facts, settings: Any) -> list[Condition]:
    if facts.quarantined <= settings.quarantine_above:
        return []
    return [Condition("quarantine_growth", "quarantine_growth", f"{facts.quarantined} records quarantined",
                      f"The quarantine holds {facts.quarantined} records, more than {settings.quarantine_above}: "
                      "they are not synced until fixed (see the review page's Errors view or `leadsync quarantine list`).")]


def _cycles(outcome: str, rule: str, words: str) -> Callable[[Facts, Any], list[Condition]]:
    def check(facts: Facts, _settings: Any) -> list[Condition]:
        return [Condition(f"{rule}:{kind}", rule, f"the {kind} cycle {words}",
                          f"Run {c.run_id} ({kind}) {words} at {c.finished_at:%Y-%m-%d %H:%M} UTC: {c.message or 'no message'}.")
                for kind, c in sorted(facts.last_cycles.items()) if c.outcome == outcome]
    return check


def _review(facts: Facts, _settings: Any) -> list[Condition]:
    if facts.review_due is None:
        return []
    return [Condition("definition_overdue", "definition_overdue", "the qualification definition is overdue for review",
                      f"The qualified-lead definition was due for its review on {facts.review_due.isoformat()}: "
                      "marketing and sales should review it, sign it and publish the new version.")]


def _handoffs(facts: Facts, settings: Any) -> list[Condition]:
    last, limit = facts.last_handoff_at, settings.handoffs_stopped_after
    if last is None or facts.now - last <= limit:
        return []
    hours = (facts.now - last).total_seconds() / 3600
    return [Condition("handoffs_stopped", "handoffs_stopped", f"no handoff for {hours:.0f} hours",
                      f"No lead has been handed off to sales since {last:%Y-%m-%d %H:%M} UTC "
                      f"(limit {limit.total_seconds() / 3600:g} hours).")]


RULES: dict[str, Callable[[Facts, Any], list[Condition]]] = {
    "sla_breach": _sla,
    "quarantine_growth": _quarantine,
    "cycle_failed": _cycles("failed", "cycle_failed", "failed"),
    "budget_stopped": _cycles("stopped", "budget_stopped", "stopped on the API budget"),
    "definition_overdue": _review,
    "handoffs_stopped": _handoffs,
}


def conditions(facts: Facts, settings: Any) -> list[Condition]:
    """The configured rules that hold now (``settings`` is an ``AlertsConfig``)."""
    return [c for rule in settings.rules for c in RULES[rule](facts, settings)]


# -- deciding what to send (pure) -------------------------------------------------------------------------

def step(now_conditions: Sequence[Condition], open_alerts: Mapping[str, Mapping[str, Any]], channels: Sequence[str],
         now: datetime) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Notice]]]:
    """(the open alerts after this evaluation, before delivery; (channel, notice) to deliver).

    An open alert is ``{rule, title, message, since, fired: [channels], resolved_at, resolved_sent}``.
    """
    at = now.isoformat()
    active = {c.key: c for c in now_conditions}
    state: dict[str, dict[str, Any]] = {k: {**v, "fired": list(v.get("fired", [])),
                                            "resolved_sent": list(v.get("resolved_sent", []))}
                                        for k, v in open_alerts.items()}
    for key, c in active.items():
        if key not in state:
            state[key] = {"rule": c.rule, "title": c.title, "message": c.message, "since": at, "fired": [],
                          "resolved_at": None, "resolved_sent": []}
        elif state[key].get("resolved_at") and not state[key]["resolved_sent"]:
            state[key]["resolved_at"] = None     # back before anyone was told it had gone
    for key, alert in list(state.items()):
        if key in active or alert.get("resolved_at"):
            continue
        if not alert["fired"]:
            del state[key]                       # gone before anyone heard of it
        else:
            alert["resolved_at"] = at
    outbox = []
    for key, alert in state.items():
        if alert.get("resolved_at"):
            targets, status = [ch for ch in alert["fired"] if ch not in alert["resolved_sent"]], RESOLVED
        else:
            targets, status = [ch for ch in channels if ch not in alert["fired"]], FIRING
        notice = Notice(key, alert["rule"], status, alert["title"], alert["message"], alert["since"],
                        alert["resolved_at"] or at)
        outbox += [(ch, notice) for ch in targets]
    return state, outbox


def delivered(state: dict[str, dict[str, Any]], channel: str, notice: Notice) -> None:
    """Record one successful delivery; an alert resolved on every channel it reached is closed."""
    alert = state.get(notice.key)
    if alert is None:
        return
    if notice.status == FIRING:
        alert["fired"].append(channel)
        return
    alert["resolved_sent"].append(channel)
    if set(alert["fired"]) <= set(alert["resolved_sent"]):
        del state[notice.key]


# -- channels -----------------------------------------------------------------------------------------------

class Channel(Protocol):
    name: str

    def send(self, notice: Notice) -> None: ...


def _headline(notice: Notice) -> str:
    return f"[leadsync] {'RESOLVED' if notice.status == RESOLVED else 'ALERT'}: {notice.title}"


def _post(url: str, payload: dict[str, Any], what: str, timeout: float) -> None:
    try:
        response = requests.post(url, json=payload, timeout=timeout)
    except requests.RequestException as exc:
        raise OSError(f"{what}: {type(exc).__name__}") from None     # never the URL: it is a secret
    if response.status_code >= 300:
        raise OSError(f"{what}: HTTP {response.status_code}")


@dataclass
class SlackChannel:
    url: str
    timeout: float = 10.0
    name: str = "slack"

    def send(self, notice: Notice) -> None:
        text = f"*{_headline(notice)}*\n{notice.message}"
        if notice.status == RESOLVED:
            text = f"*{_headline(notice)}*\nResolved at {notice.at} (first seen {notice.since})."
        _post(self.url, {"text": text}, "Slack webhook", self.timeout)


@dataclass
class WebhookChannel:
    url: str
    timeout: float = 10.0
    name: str = "webhook"

    def send(self, notice: Notice) -> None:
        _post(self.url, {"source": "leadsync", "condition": notice.key, "rule": notice.rule, "status": notice.status,
                         "title": notice.title, "message": notice.message, "since": notice.since, "at": notice.at},
              "alert webhook", self.timeout)


@dataclass
class EmailChannel:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    name: str = "email"

    def send(self, notice: Notice) -> None:
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = _headline(notice), self.sender, ", ".join(self.to)
        body = notice.message if notice.status == FIRING else f"Resolved at {notice.at} (first seen {notice.since})."
        message.set_content(f"{body}\n\ncondition: {notice.key}\n")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class Redacted:
    """A channel whose every text passes through the redactor first."""

    def __init__(self, channel: Any, redact: Callable[[Any], str]) -> None:
        self.channel, self.redact, self.name = channel, redact, channel.name

    def send(self, notice: Notice) -> None:
        self.channel.send(Notice(notice.key, notice.rule, notice.status, self.redact(notice.title),
                                 self.redact(notice.message), notice.since, notice.at))


def channels_from_config(settings: Any, secrets: Any) -> list[Any]:
    """The configured channels whose secret is present (``settings``: AlertsConfig, ``secrets``: Secrets)."""
    found: list[Any] = []
    slack = secrets.optional(settings.slack_webhook_env)
    if slack:
        found.append(SlackChannel(slack))
    hook = secrets.optional(settings.webhook_url_env)
    if hook:
        found.append(WebhookChannel(hook))
    if settings.email_to:
        found.append(EmailChannel(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.email_to,
                                  settings.smtp_starttls, secrets.optional(settings.smtp_username_env),
                                  secrets.optional(settings.smtp_password_env)))
    return found


# -- evaluating -----------------------------------------------------------------------------------------------

class Alerter:
    """Evaluates the rules and delivers what ``step`` decides; the open alerts live in the store."""

    def __init__(self, store: Any, settings: Any, channels: Sequence[Any], redact: Callable[[Any], str] = str) -> None:
        self.store, self.settings = store, settings
        self.channels = {ch.name: Redacted(ch, redact) for ch in channels}

    def evaluate(self, facts: Facts) -> list[tuple[str, Notice]]:
        """One evaluation; returns what was delivered."""
        state, outbox = step(conditions(facts, self.settings), self.store.get(STATE_KEY) or {},
                             list(self.channels), facts.now)
        sent = []
        for channel, notice in outbox:
            try:
                self.channels[channel].send(notice)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("alert %s (%s) not delivered to %s: %s; retried after the next cycle",
                            notice.key, notice.status, channel, exc, extra={"alert": notice.key, "channel": channel})
                continue
            delivered(state, channel, notice)
            sent.append((channel, notice))
            log.info("alert %s %s sent to %s", notice.key, notice.status, channel,
                     extra={"alert": notice.key, "status": notice.status, "channel": channel})
        self.store.put(STATE_KEY, state)
        return sent


def alerter_for(rt: Any) -> Alerter | None:
    """The runtime's alerter, or None when no channel is configured."""
    from connector.app.config import Secrets
    channels = channels_from_config(rt.config.alerts, Secrets(rt.config, rt.environ))
    if not channels:
        return None
    return Alerter(rt.store, rt.config.alerts, channels, rt.redactor)
