"""HubSpot's API limits: a rolling ten-second burst window, a per-second search limit, a
daily cap, and the headers that report them.

Wire behaviour emulated (HubSpot usage-details docs and bodies quoted in HubSpot's client
issue trackers):
- over the burst limit: 429 ``{"status":"error","message":"You have reached your
  ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":…,
  "policyName":"TEN_SECONDLY_ROLLING","groupName":…}``; the search endpoints have their own
  per-second limit (policy ``SECONDLY``); the daily cap answers policy ``DAILY``.
- every admitted non-search response carries ``X-HubSpot-RateLimit-Max``, ``-Remaining``,
  ``-Interval-Milliseconds``, ``X-HubSpot-RateLimit-Daily`` and ``-Daily-Remaining``. Search
  responses carry none of them: a client cannot pace searches from headers.
- no ``Retry-After`` header: clients must back off on their own.

Whether a search also spends a call of the ten-second window is a choice
(``searches_in_burst``): HubSpot's usage guide lists the search limit beside the burst limit
without saying searches count against both. ``True`` (the default, and the stricter reading)
charges both; ``False`` charges a search only to its per-second limit, the reading under which
a client can search at 5/s while it writes at the full burst rate.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Callable

BURST_WINDOW_SECONDS = 10.0
SEARCH_WINDOW_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a call may proceed; when refused, the 429 body; either way, the headers."""

    allowed: bool
    headers: dict[str, str]
    body: dict | None = None


class RateLimiter:
    """Thread-safe accounting of one portal's API budget."""

    def __init__(self, *, per_10s: int = 100, search_per_second: int = 5, daily: int = 250_000,
                 clock: Callable[[], float] = time.monotonic, portal_id: int = 0,
                 searches_in_burst: bool = True) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.per_10s = per_10s
        self.search_per_second = search_per_second
        self.daily = daily
        self.daily_used = 0
        self.searches_in_burst = searches_in_burst
        self._portal_id = portal_id
        self._burst: deque[float] = deque()
        self._search: deque[float] = deque()

    def set_per_10s(self, limit: int) -> None:
        with self._lock:
            self.per_10s = limit
            self._burst.clear()

    def set_daily_remaining(self, remaining: int) -> None:
        with self._lock:
            self.daily_used = max(0, self.daily - remaining)

    def admit(self, *, search: bool) -> Verdict:
        """Count one call if the budget allows it."""
        with self._lock:
            now = self._clock()
            _expire(self._burst, now - BURST_WINDOW_SECONDS)
            _expire(self._search, now - SEARCH_WINDOW_SECONDS)
            refusal = self._refusal(search)
            if refusal is None:
                if not search or self.searches_in_burst:
                    self._burst.append(now)
                self.daily_used += 1
                if search:
                    self._search.append(now)
            headers = {} if search else self._headers()
            return Verdict(refusal is None, headers, refusal)

    def remaining_daily(self) -> int:
        with self._lock:
            return max(0, self.daily - self.daily_used)

    def _refusal(self, search: bool) -> dict | None:
        if self.daily_used >= self.daily:
            return self._body("daily", "DAILY", "api-calls-daily")
        if search and len(self._search) >= self.search_per_second:
            return self._body("secondly", "SECONDLY", "api-calls-secondly")
        if (not search or self.searches_in_burst) and len(self._burst) >= self.per_10s:
            return self._body("ten_secondly_rolling", "TEN_SECONDLY_ROLLING", "api-calls-ten-secondly")
        return None

    def _body(self, limit_name: str, policy: str, group: str) -> dict:
        return {
            "status": "error",
            "message": f"You have reached your {limit_name} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "groupName": f"publicapi:private-app-{group}:{self._portal_id}",
        }

    def _headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.per_10s - len(self._burst))),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(BURST_WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self.daily_used)),
        }


def _expire(window: deque[float], before: float) -> None:
    while window and window[0] <= before:
        window.popleft()
