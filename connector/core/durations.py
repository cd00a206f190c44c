"""Durations as people write them in config and definitions: '30s', '15m', '2h', '90d'."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'15s', '2m', '1d', '90d' → timedelta. Raises ValueError with a readable reason."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like '30s', '15m', '2h' or '90d'")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
