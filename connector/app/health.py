"""``/healthz`` that tells the truth. Pure: ``Facts`` + limits in, a verdict with its reasons out.

Three answers, for a load balancer or an uptime check:
- ``ok`` (HTTP 200): the hot loop succeeds on time and nothing needs a person.
- ``degraded`` (HTTP 200, reasons in the body): up, but open SLA breaches, a quarantine above
  the limit, a cycle whose last run failed or stopped on the API budget, or a hot loop whose
  last success is older than 3 intervals. Keep routing to it; page a person.
- ``down`` (HTTP 503): not syncing: no hot-loop cycle has succeeded for 10 intervals (or since
  start, once that long has passed). Take it out of rotation; restart it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.app.facts import Facts

OK, DEGRADED, DOWN = "ok", "degraded", "down"
STALE_INTERVALS, DOWN_INTERVALS = 3, 10


@dataclass(frozen=True)
class Health:
    status: str
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Serving: ok or degraded (HTTP 200)."""
        return self.status != DOWN

    @property
    def http_status(self) -> int:
        return 503 if self.status == DOWN else 200

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def body(self) -> str:
        head = {OK: "ok", DEGRADED: "degraded", DOWN: "unhealthy: not syncing"}[self.status]
        return head + "\n" + "".join(f"- {r}\n" for r in self.reasons)


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.0f}s"


def hot_loop(facts: Facts, started_at: datetime, interval: timedelta) -> tuple[str, str]:
    stale, down = interval * STALE_INTERVALS, interval * DOWN_INTERVALS
    last = facts.last_hot_success
    age = None if last is None else facts.now - last
    if age is None or age > down:
        running_for = facts.now - started_at
        if running_for <= down:
            return OK, "starting: no hot-loop cycle has succeeded yet"
        if age is None:
            return DOWN, f"no hot-loop cycle has succeeded since start {_seconds(running_for)} ago"
        return DOWN, f"last successful hot-loop cycle {_seconds(age)} ago, more than {_seconds(down)}"
    if age > stale:
        return DEGRADED, f"hot loop stale: last successful cycle {_seconds(age)} ago, more than {_seconds(stale)}"
    return OK, f"last successful hot-loop cycle {_seconds(age)} ago"


def problems(facts: Facts, quarantine_above: int) -> list[str]:
    found = []
    if facts.open_breaches:
        found.append(f"{len(facts.open_breaches)} open SLA breach(es): handed-off leads not touched in time")
    if facts.quarantined > quarantine_above:
        found.append(f"{facts.quarantined} records quarantined (more than {quarantine_above})")
    for kind, cycle in sorted(facts.last_cycles.items()):
        if cycle.outcome == "failed":
            found.append(f"last {kind} cycle (run {cycle.run_id}) failed: {cycle.message or 'no message'}")
        elif cycle.outcome == "stopped":
            found.append(f"last {kind} cycle (run {cycle.run_id}) stopped on the API budget: {cycle.message or ''}".rstrip(": "))
    return found


def assess(facts: Facts, *, started_at: datetime, hot_every: timedelta, quarantine_above: int) -> Health:
    loop_status, loop_reason = hot_loop(facts, started_at, hot_every)
    found = problems(facts, quarantine_above)
    if loop_status == DOWN:
        return Health(DOWN, (loop_reason, *found))
    if loop_status == DEGRADED:
        return Health(DEGRADED, (loop_reason, *found))
    return Health(DEGRADED, tuple(found)) if found else Health(OK, (loop_reason,))
