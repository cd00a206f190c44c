"""A cycle for named people only: the ones a HubSpot webhook said changed.

The same steps as the hot loop's, for these people and no one else: read them by id, skip the
ones whose only change is leadsync's own write (an echo), take in their activities, adopt the
new ones, qualify and write back. No cursor moves: the polling loops still read everything
changed since their own cursors, so anything a webhook missed or came too early for is caught
there (and what was handled here is then unchanged, so nothing is written twice).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from connector.engine.cycle import ACTIVITY_CURSOR, AHEAD
from connector.engine.summary import Summary

KIND = "webhook"
# Up to this many people, each one's activities are read by id (two calls a person); beyond,
# everyone's since the hot loop's last activity pull, by type (a few calls in all).
PER_PERSON_MAX = 5


def people_cycle(engine: Any, ids: Sequence[str], kind: str = KIND) -> Summary:
    """Run one recorded cycle of ``engine`` (connector.engine.cycle.Engine) for ``ids``."""
    wanted = sorted({str(i) for i in ids})

    def body(now: datetime, summary: Summary) -> None:
        if not wanted:
            return
        if not engine.dry_run and not engine._schema_ready:
            engine.marketing.ensure_schema()
            engine._schema_ready = True
        people = engine.marketing.people(wanted)
        summary.add("pulled_hubspot", len(people))
        echoes = engine._echoes(people) if people else set()
        live = [p for p in people if p.id not in echoes]
        summary.add("echoes", len(people) - len(live))
        if not live:
            return
        _activities(engine, live, now, summary)
        engine._adopt_people(live, now, summary)
        engine._process(live, now, summary)

    return engine._run(kind, body)


def _activities(engine: Any, people: Sequence[Any], now: datetime, summary: Summary) -> None:
    if len(people) <= PER_PERSON_MAX:
        engine._pull_activities(people, now, summary)
        return
    # The hot loop stores everyone's activities up to its last pull: only what came since is new.
    last = engine.store.cursor(ACTIVITY_CURSOR)
    window = timedelta(days=engine.definition.engagement.window_days)
    since = last - engine.lookback if last else now - window
    ids = {p.id for p in people}
    for found in engine.marketing.activities_between(since, now + AHEAD):
        summary.add("activities", engine._add_activities({k: v for k, v in found.items() if k in ids}))
