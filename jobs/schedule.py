"""The daemon's timetable, from ``[schedule]`` and ``[logging]``: which job runs when, on which
executor. Data only; ``jobs/daemon.py`` binds each job id to what it does.

Cycles share one single-worker executor so they run one after another in this process (the
cycle lock also keeps them apart from ``leadsync sync`` / ``resync`` in other processes); the
light jobs (SLA check, pruning, review reminder) have their own so a long cycle never delays them.
Cron expressions are read as standard crontab in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.app.config import Config
from connector.core.errors import ConfigError, Problem

CYCLES, LIGHT = "cycles", "light"
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
# crontab counts weekdays from Sunday = 0 (7 too); APScheduler 3 from Monday = 0. Names are
# unambiguous in both, so numeric weekdays are translated to names.
CRONTAB_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class JobSpec:
    id: str
    name: str
    trigger: BaseTrigger
    executor: str
    run_at_start: bool          # a daemon that just started should not wait a whole period
    misfire_grace: int          # seconds late a run may still start; later ones are dropped (coalesced)


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (``1-5``, ``0,6``, ``*/2``, ``mon``) as APScheduler weekday names."""
    if field == "*" or not any(ch.isdigit() for ch in field):
        return field
    days: list[str] = []
    for term in field.split(","):
        span, _, step = term.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low, high = (int(x) for x in span.split("-"))
        else:
            low = high = int(span)
        if not (0 <= low <= high <= 7) or (step and int(step) < 1):
            raise ValueError(f"day of week {term!r} is outside 0-7")
        days += [CRONTAB_WEEKDAYS[d] for d in range(low, high + 1, int(step or 1))]
    return ",".join(dict.fromkeys(days))


def cron_trigger(expression: str, file: str, key: str) -> CronTrigger:
    try:
        minute, hour, day, month, weekday = expression.split()
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=crontab_weekdays(weekday), timezone="UTC")
    except ValueError as exc:
        raise ConfigError(Problem(file, key, f"{expression!r} is not a valid cron expression: {exc}")) from None


def _every(period: timedelta) -> IntervalTrigger:
    return IntervalTrigger(seconds=max(period.total_seconds(), 1), timezone="UTC")


def _grace(period: timedelta) -> int:
    # Cycles wait in one queue, so a run is often late by the length of the cycle before it; it
    # must still run then (the feedback loop must not starve behind a long hot loop). Coalescing
    # keeps it to one late run. Only after a suspended host (an hour or a period) is it dropped.
    return int(max(period, HOUR).total_seconds())


def job_specs(config: Config) -> list[JobSpec]:
    s = config.schedule
    return [
        JobSpec("hubspot", "HubSpot hot loop", _every(s.hubspot_every), CYCLES, True, _grace(s.hubspot_every)),
        JobSpec("salesforce", "Salesforce feedback loop", _every(s.salesforce_every), CYCLES, True,
                _grace(s.salesforce_every)),
        JobSpec("reconcile", "nightly reconciliation", cron_trigger(s.reconcile_cron, config.file, "schedule.reconcile_cron"),
                CYCLES, False, _grace(HOUR)),
        JobSpec("sla", "SLA check", _every(s.sla_every), LIGHT, True, _grace(s.sla_every)),
        JobSpec("prune", f"pruning logs older than {config.logging.retain_days} days", _every(DAY), LIGHT, True, _grace(DAY)),
        JobSpec("review", "definition review reminder", _every(DAY), LIGHT, False, _grace(DAY)),
    ]
