"""What the health check and the alert rules look at, read once from the state store.

Reading is here; judging is not: ``health.assess`` and ``alerts.conditions`` are pure functions
of the ``Facts`` gathered below, so they are tested without a store or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from connector.state import schema as s
from connector.state.store import Store, utc

HOT_KINDS = ("hubspot", "sync")                   # the hot loop: HubSpot changes → qualify → hand off
CYCLE_KINDS = ("hubspot", "salesforce", "sync", "reconcile")
SUCCESS = ("ok", "partial")
SLA_LOOKBACK = timedelta(days=30)


@dataclass(frozen=True)
class LastCycle:
    kind: str
    run_id: int
    outcome: str
    message: str | None
    finished_at: datetime


@dataclass(frozen=True)
class OpenBreach:
    hubspot_id: str
    email: str | None
    breaches: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    now: datetime
    open_breaches: tuple[OpenBreach, ...] = ()
    quarantined: int = 0
    last_cycles: dict[str, LastCycle] = field(default_factory=dict)   # by kind, finished ones only
    last_hot_success: datetime | None = None
    review_due: date | None = None
    last_handoff_at: datetime | None = None


def open_breaches(follow_ups: Any) -> tuple[OpenBreach, ...]:
    """Breaches sales can still act on: the lead has had no first touch yet. A late touch is a
    breach that happened (the SLA report keeps it); it is no longer open."""
    return tuple(OpenBreach(r.hubspot_id, r.email, r.breaches) for r in follow_ups
                 if r.breaches and r.first_touch_at is None and r.stage == "mql")


def last_cycles(store: Store) -> dict[str, LastCycle]:
    r = s.runs.c
    newest = (select(r.kind, func.max(r.id).label("id")).where(r.outcome != "running", r.kind.in_(CYCLE_KINDS))
              .group_by(r.kind).subquery())
    query = select(s.runs).join(newest, s.runs.c.id == newest.c.id)
    with store.engine.connect() as conn:
        return {row.kind: LastCycle(row.kind, row.id, row.outcome, row.message, utc(row.finished_at))
                for row in conn.execute(query)}


def last_hot_success(store: Store) -> datetime | None:
    r = s.runs.c
    query = select(func.max(r.finished_at)).where(r.kind.in_(HOT_KINDS), r.outcome.in_(SUCCESS))
    with store.engine.connect() as conn:
        return utc(conn.execute(query).scalar())


def last_handoff_at(store: Store) -> datetime | None:
    t = s.transitions.c
    with store.engine.connect() as conn:
        return utc(conn.execute(select(func.max(t.at)).where(t.to_stage == "mql")).scalar())


def quarantined(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(s.quarantine)).scalar() or 0


def gather_facts(rt: Any) -> Facts:
    """Everything the rules judge, from the runtime's store and definition, at the runtime's now."""
    from connector.app.reporting import follow_ups
    now = rt.clock()
    rows = follow_ups(rt.store, rt.definition, now - SLA_LOOKBACK, now)
    return Facts(now=now, open_breaches=open_breaches(rows), quarantined=quarantined(rt.store),
                 last_cycles=last_cycles(rt.store), last_hot_success=last_hot_success(rt.store),
                 review_due=rt.review_due(), last_handoff_at=last_handoff_at(rt.store))
