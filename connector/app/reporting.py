"""SLA follow-ups from the state store: what the daemon's SLA check, ``sync``'s summary and the
reports share. Reads the store, computes with ``connector.core.sla``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connector.core import sla as S
from connector.state.store import Store


def follow_ups(store: Store, definition: Any, since: datetime, now: datetime) -> list[S.FollowUp]:
    """Every handoff since ``since`` with its SLA verdicts, from the store."""
    people = [p for p in store.people().values() if p.get("handoff_at") and p["handoff_at"] >= since]
    ids = [p["hubspot_id"] for p in people]
    touches = store.activities(ids, since=since) if ids else {}
    transitions = store.transitions(since=since, hubspot_ids=ids) if ids else []
    return S.follow_ups(people, touches, transitions, definition.sla, now, since=since)


def sla_breaches(store: Store, definition: Any, now: datetime, since: timedelta = timedelta(days=30)) -> list[S.FollowUp]:
    """Handoffs of the last ``since`` with at least one breach (the daemon's SLA check)."""
    return [r for r in follow_ups(store, definition, now - since, now) if r.breaches]
