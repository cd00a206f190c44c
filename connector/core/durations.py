"""Durations as people write them ('30s', '15m', '2h', '90d') and instants as the vendors do."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'15s', '2m', '1d', '90d' → timedelta. Raises ValueError with a readable reason."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like '30s', '15m', '2h' or '90d'")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_instant(text: str, *, assume_utc: bool = True) -> datetime:
    """An ISO-8601 instant as the vendors write it ('2026-01-01T10:00:00Z', '…+0000', '…+00:00',
    with or without milliseconds) → an aware UTC datetime. No zone means UTC, or with
    ``assume_utc=False`` is not an instant. ValueError for anything else."""
    moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        if not assume_utc:
            raise ValueError(f"{text!r} has no time zone")
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def week_ends(since: datetime, now: datetime) -> list[datetime]:
    """Week boundaries from ``since``; the last (possibly partial) week ends at ``now``."""
    if now <= since:
        raise ValueError("the period must end after it starts")
    ends, end = [], since
    while end < now:
        end = min(end + timedelta(days=7), now)
        ends.append(end)
    return ends
