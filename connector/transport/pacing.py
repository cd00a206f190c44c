"""Staying under the vendors' limits so 429s are rare, not routine.

- ``TokenBucket``: a steady pace per system (and per HubSpot search), with a small burst.
- ``Budget``: the daily allocation as the server reports it (Salesforce ``Sforce-Limit-Info``,
  HubSpot ``X-HubSpot-RateLimit-Daily*``); refuses a call that would take leadsync past its
  configured share of the day, so sales' own integrations keep working.

Clock and sleep are injected: tests run instantly on a fake clock.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Callable, Mapping

Clock = Callable[[], float]
Sleep = Callable[[float], None]

_SF_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``. ``acquire`` sleeps until one is free."""

    def __init__(self, rate: float, burst: float, clock: Clock, sleep: Sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = burst
        self._stamp = clock()
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting as needed; returns the seconds waited. Thread-safe: the
        daemon's jobs share one bucket per system, and sleep without holding the lock."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._refill()
                if now < self._hold_until:
                    pause = self._hold_until - now
                elif self._tokens >= 1 - 1e-9:     # (a float a hair short of a token is one)
                    self._tokens -= 1
                    return waited
                else:
                    pause = (1 - self._tokens) / self.rate
            self._sleep(pause)
            waited += pause

    def cap(self, tokens: float) -> None:
        """The server says only this many calls are left in its window: spend no more now
        (the bucket refills at its rate from there)."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, tokens)

    def retune(self, rate: float, burst: float) -> None:
        with self._lock:
            self._refill()
            self.rate, self.burst = rate, burst
            self._tokens = min(self._tokens, burst)

    def hold(self, seconds: float) -> None:
        """The server says the window is spent: take nothing until it rolls over."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)
            self._tokens = 0.0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return now


@dataclass
class Budget:
    """The day's allocation for one system and leadsync's share of it."""

    max_share: float = 1.0
    used: int | None = None         # as last reported by the server
    limit: int | None = None
    calls_since_report: int = 0     # our calls since that report: the server's count lags ours
    observed_at: float | None = None   # clock time of that report
    recheck_after: float = 300.0    # when spent, let one call ask again this often

    def observe(self, used: int, limit: int, at: float | None = None) -> None:
        self.used, self.limit, self.calls_since_report = used, limit, 0
        self.observed_at = at

    def count_call(self) -> None:
        self.calls_since_report += 1

    @property
    def estimated_used(self) -> int | None:
        return None if self.used is None else self.used + self.calls_since_report

    @property
    def remaining(self) -> int | None:
        used = self.estimated_used
        return None if used is None or self.limit is None else max(0, self.limit - used)

    def allows_another_call(self, now: float | None = None) -> bool:
        used = self.estimated_used
        if used is None or not self.limit:
            return True     # nothing reported yet: the first call tells us
        if used + 1 <= self.max_share * self.limit:
            return True
        # Spent as of the last report. The allocation renews without anyone saying so (HubSpot at
        # midnight, Salesforce over a rolling day) and only a response reports it: a long-running
        # daemon that never called again would stay stopped for good. Once the report is old,
        # forget it and let the next answers tell (a few calls, if it is still spent).
        if now is not None and self.observed_at is not None and now - self.observed_at >= self.recheck_after:
            self.used = self.limit = self.observed_at = None
            self.calls_since_report = 0
            return True
        return False


@dataclass(frozen=True, slots=True)
class LimitReport:
    """What one response's headers say about the limits."""

    daily_used: int | None = None
    daily_limit: int | None = None
    window_spent_for: float | None = None   # seconds until the rolling window has room again
    window_max: int | None = None           # calls the rolling window allows (HubSpot's -Max)
    window_left: int | None = None          # calls left in it now (-Remaining)
    window_seconds: float | None = None     # its length


def window_pace(limit: int, seconds: float = 10.0) -> tuple[float, float]:
    """(rate per second, burst) that keep any rolling window of ``seconds`` under ``limit``
    calls: rate × seconds + burst, with a little room left for calls that arrive bunched."""
    burst = max(1.0, round(limit * 0.03))
    return max(0.1, (limit - 2 * burst) / seconds), burst


def read_limit_headers(system: str, headers: Mapping[str, str]) -> LimitReport:
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if system == "salesforce":
        match = _SF_USAGE.search(lowered.get("sforce-limit-info", ""))
        return LimitReport(int(match.group(1)), int(match.group(2))) if match else LimitReport()
    if system == "hubspot":
        return _hubspot_report(lowered)
    return LimitReport()


def _hubspot_report(headers: Mapping[str, str]) -> LimitReport:
    daily = _int(headers.get("x-hubspot-ratelimit-daily"))
    daily_left = _int(headers.get("x-hubspot-ratelimit-daily-remaining"))
    used = daily - daily_left if daily is not None and daily_left is not None else None
    spent_for = None
    left = _int(headers.get("x-hubspot-ratelimit-remaining"))
    interval = _int(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
    if left == 0:
        spent_for = interval / 1000.0 if interval else None
    return LimitReport(used, daily if used is not None else None, spent_for,
                       window_max=_int(headers.get("x-hubspot-ratelimit-max")), window_left=left,
                       window_seconds=interval / 1000.0 if interval else None)


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None
