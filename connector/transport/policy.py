"""The one retry loop, pacing and budget for every HTTP call leadsync makes.

Adapters hand ``HttpPolicy.call`` a zero-argument function that performs one request through
whichever client (hubspot-api-client over urllib3, simple-salesforce or plain requests over
the policy's own ``requests.Session``). The policy paces it, checks the daily budget, runs it,
classifies any failure through ``classify`` and, via tenacity, backs off and retries what is
transient. When it gives up it raises the typed errors of ``connector.core.errors``.

Neither client retries on its own: the hubspot client gets ``urllib3.Retry(0)`` and the
requests session an adapter with ``max_retries=0``, so retries live only here.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

import requests
import tenacity
import urllib3

from connector.core.errors import (ConfigError, FatalError, Problem, QuotaExhausted, RateLimited, Retryable,
                              SkippableRecord)
from connector.transport.classify import (FATAL_CONFIG, QUOTA_EXHAUSTED, RATE_LIMITED, REAUTH, RETRY,
                                          SKIP_RECORD, SYSTEM_NAMES, HttpStatusError, Verdict, classify,
                                          http_facts)
from connector.transport.pacing import Budget, Clock, Sleep, TokenBucket, read_limit_headers, window_pace

T = TypeVar("T")


@dataclass(frozen=True)
class PolicySettings:
    max_attempts: int = 5                  # per call, the first one included
    max_elapsed: float = 120.0             # seconds a call may spend retrying
    backoff_base: float = 0.5              # first backoff; doubles per attempt, with jitter
    backoff_max: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    # The most leadsync may use of HubSpot's rolling ten-second window: a ceiling. The pace
    # follows what the portal's headers allow (X-HubSpot-RateLimit-Max), never above this.
    hubspot_rate_limit_per_10s: int = 100
    hubspot_search_per_s: float = 5.0      # HubSpot's search limit; paced a little under it
    salesforce_per_s: float = 25.0         # Salesforce limits the day and concurrency, not the second
    max_daily_share: Mapping[str, float] = field(
        default_factory=lambda: {"salesforce": 0.5, "hubspot": 0.5})


class _Transient(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(self, verdict: Verdict, cause: BaseException) -> None:
        super().__init__(verdict.message)
        self.verdict, self.cause = verdict, cause
        self.wait: float | None = None    # decided once, read by both tenacity's wait and stop


@dataclass
class _CallState:
    reauth: Callable[[], None] | None
    started: float
    reauthed: bool = False


class HttpPolicy:
    def __init__(self, settings: PolicySettings | None = None, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep, wall_clock: Clock = time.time,
                 rng: Callable[[], float] = random.random) -> None:
        self.settings = s = settings or PolicySettings()
        self._clock, self._sleep, self._wall_clock, self._rng = clock, sleep, wall_clock, rng
        rate, burst = window_pace(s.hubspot_rate_limit_per_10s)
        self._window_limit = s.hubspot_rate_limit_per_10s
        # Searches have their own per-second limit and, as HubSpot documents its limits, are not
        # charged to the ten-second window; a portal that refuses a search on that window says
        # otherwise, and from then on searches spend from it too.
        self.searches_in_window = False
        self._buckets = {
            "hubspot": TokenBucket(rate, burst, clock, sleep),
            "hubspot_search": TokenBucket(s.hubspot_search_per_s * 0.95, 1, clock, sleep),
            "salesforce": TokenBucket(s.salesforce_per_s, max(1.0, s.salesforce_per_s), clock, sleep),
        }
        self._budgets = {name: Budget(share) for name, share in s.max_daily_share.items()}
        self._calls: dict[str, int] = {}
        self._retries: dict[str, int] = {}
        self._lock = threading.Lock()      # budgets and counters: the daemon's jobs share a policy

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.read_timeout)

    # -- the loop ------------------------------------------------------------------------------

    def call(self, system: str, attempt: Callable[[], T], *, lane: str | None = None,
             single_record: bool = False, reauth: Callable[[], None] | None = None) -> T:
        """Run ``attempt`` under pacing, budget and retry. ``lane`` picks a stricter bucket
        (``hubspot_search``); ``reauth`` refreshes credentials once after a 401."""
        state = _CallState(reauth, self._clock())
        retrying = tenacity.Retrying(
            stop=lambda rs: self._should_stop(rs, state), wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Transient), sleep=self._sleep,
            before_sleep=lambda rs: self._count_retry(system), reraise=True)
        try:
            return retrying(self._attempt, system, attempt, lane, single_record, state)
        except _Transient as gave_up:
            raise self._give_up(system, gave_up, state) from gave_up.cause

    def _attempt(self, system: str, attempt: Callable[[], T], lane: str | None,
                 single_record: bool, state: _CallState) -> T:
        self._spend(system, lane)
        try:
            return attempt()
        except Exception as exc:
            facts = http_facts(exc)
            if facts is None:
                raise       # not an HTTP failure: a bug, let it surface as it is
            self.observe(system, facts.headers)
            verdict = classify(system, facts.status, facts.headers, facts.body, exc,
                               single_record=single_record, now=self._wall_clock())
            if system == "hubspot" and verdict.action == RATE_LIMITED:    # (the daily cap is QUOTA_EXHAUSTED)
                self._refused(lane, str(facts.body or ""))
            raise self._act(system, verdict, exc, state) from exc

    def _refused(self, lane: str | None, body: str) -> None:
        """A 429 from one of HubSpot's short windows, although the pace kept under it: calls
        reach HubSpot later or closer together than they left (a thread that had its turn but
        not yet the interpreter, a slow handshake), and a window counts arrivals. Each such
        refusal slows that pace by a tenth, down to 70% of the limit, so it does not recur;
        a searches' refusal on the ten-second window says this portal charges them there."""
        if lane == "hubspot_search" and "TEN_SECONDLY" in body:
            self.searches_in_window = True    # this portal charges searches to the window too
            return
        if lane == "hubspot_search":
            bucket, floor = self._buckets["hubspot_search"], 0.7 * self.settings.hubspot_search_per_s
        else:
            bucket, floor = self._buckets["hubspot"], 0.7 * self._window_limit / 10.0
        bucket.retune(max(floor, bucket.rate * 0.9), bucket.burst)

    def _act(self, system: str, verdict: Verdict, exc: BaseException, state: _CallState) -> Exception:
        """The exception that carries the verdict out of this attempt."""
        if verdict.action in (RETRY, RATE_LIMITED):
            return _Transient(verdict, exc)
        if verdict.action == REAUTH and state.reauth is not None and not state.reauthed:
            state.reauthed = True
            state.reauth()
            return _Transient(verdict, exc)      # retried at once: _next_wait sees the reauth
        if verdict.action in (REAUTH, FATAL_CONFIG):
            return _config_error(system, _with_fix(verdict), verdict.detail, CONFIG_KEYS.get(verdict.kind))
        if verdict.action == QUOTA_EXHAUSTED:
            return QuotaExhausted(verdict.message, detail=verdict.detail)
        if verdict.action == SKIP_RECORD:
            return SkippableRecord(verdict.message, code=verdict.code or verdict.kind, detail=verdict.detail)
        return _fatal(verdict)

    def _should_stop(self, retry_state: tenacity.RetryCallState, state: _CallState) -> bool:
        transient = retry_state.outcome.exception() if retry_state.outcome else None
        if not isinstance(transient, _Transient):
            return True
        wait = self._wait_for(transient, retry_state.attempt_number)
        if retry_state.attempt_number >= self.settings.max_attempts:
            return True
        # A wait that would overrun the call's time budget is not worth starting.
        return self._clock() - state.started + wait > self.settings.max_elapsed

    def _wait_for(self, transient: _Transient, attempt_number: int) -> float:
        if transient.wait is None:
            transient.wait = self._next_wait(transient.verdict, attempt_number)
        return transient.wait

    def _next_wait(self, verdict: Verdict, attempt_number: int) -> float:
        if verdict.action == REAUTH:
            return 0.0
        if verdict.retry_after is not None:
            return verdict.retry_after
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt_number - 1))
        return ceiling * (0.5 + self._rng() / 2)   # jitter so parallel workers don't stampede

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        transient = retry_state.outcome.exception() if retry_state.outcome else None
        if not isinstance(transient, _Transient):
            return 0.0
        return self._wait_for(transient, retry_state.attempt_number)

    def _give_up(self, system: str, gave_up: _Transient, state: _CallState) -> Exception:
        verdict = gave_up.verdict
        spent = self._clock() - state.started
        message = f"{verdict.message}; leadsync gave up after {spent:.0f}s of retries"
        if verdict.action == REAUTH:   # a 401 right after re-authenticating
            return _config_error(system, verdict.message + " even after signing in again", verdict.detail)
        if verdict.action == RATE_LIMITED:
            return RateLimited(message, retry_after=verdict.retry_after, detail=verdict.detail)
        return Retryable(message, detail=verdict.detail)

    # -- pacing and budget ---------------------------------------------------------------------

    def _spend(self, system: str, lane: str | None) -> None:
        names = [lane] if lane == "hubspot_search" and not self.searches_in_window else [lane, system]
        for name in filter(None, names):
            bucket = self._buckets.get(name)
            if bucket is not None:
                bucket.acquire()
        with self._lock:
            budget = self._budgets.get(system)
            if budget is not None and not budget.allows_another_call(self._clock()):
                name = SYSTEM_NAMES.get(system, system)
                raise QuotaExhausted(
                    f"leadsync has used its share ({budget.max_share:.0%}) of {name}'s daily API allocation; "
                    "the cycle stops here and resumes when the allocation resets",
                    detail=f"{name} used≈{budget.estimated_used} limit={budget.limit}")
            self._calls[system] = self._calls.get(system, 0) + 1
            if budget is not None:
                budget.count_call()

    def observe(self, system: str, headers: Mapping[str, str]) -> None:
        """Learn the server's view of the limits from any response's headers."""
        report = read_limit_headers(system, headers)
        if report.daily_used is not None and report.daily_limit is not None:
            self.observe_usage(system, report.daily_used, report.daily_limit)
        bucket = self._buckets.get(system)
        if bucket is None:
            return
        if report.window_max and report.window_seconds:
            # Use what the portal allows (it says so on every call), up to the configured ceiling.
            limit = min(report.window_max, self.settings.hubspot_rate_limit_per_10s)
            if limit != self._window_limit:
                self._window_limit = limit
                bucket.retune(*window_pace(limit, report.window_seconds))
        if report.window_left is not None and report.window_max:
            # Someone else on the same app spends the window too: never plan past what is left.
            bucket.cap(report.window_left - 2 * bucket.burst)
        if report.window_spent_for:
            bucket.hold(report.window_spent_for)

    def observe_usage(self, system: str, used: int, limit: int) -> None:
        """The daily allocation as reported outside headers (SOAP's LimitInfoHeader)."""
        with self._lock:
            budget = self._budgets.get(system)
            if budget is not None:
                budget.observe(used, limit, self._clock())

    def _count_retry(self, system: str) -> None:
        with self._lock:
            self._retries[system] = self._retries.get(system, 0) + 1

    def usage(self) -> dict[str, dict[str, Any]]:
        """Per system: calls made, retries, and the daily allocation as last reported."""
        with self._lock:
            return self._usage()

    def _usage(self) -> dict[str, dict[str, Any]]:
        systems = sorted(set(self._calls) | set(self._budgets))
        return {name: {"calls": self._calls.get(name, 0), "retries": self._retries.get(name, 0),
                       "remaining": self._budgets[name].remaining if name in self._budgets else None,
                       "limit": self._budgets[name].limit if name in self._budgets else None}
                for name in systems}

    # -- clients wired to the policy -----------------------------------------------------------

    def session(self, system: str) -> requests.Session:
        """A requests session for ``system``: default timeouts, no retries of its own, and a hook
        that feeds every response's limit headers to the budget and pacer."""
        session = _TimeoutSession(self.timeout)
        adapter = requests.adapters.HTTPAdapter(max_retries=urllib3.Retry(0, read=False))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.hooks["response"].append(lambda response, *args, **kwargs: self.observe(system, response.headers))
        return session

    def request(self, system: str, session: requests.Session, method: str, url: str, *,
                lane: str | None = None, single_record: bool = False,
                reauth: Callable[[], None] | None = None, **kwargs: Any) -> requests.Response:
        """One raw requests call under the policy; a non-2xx answer is classified like any other."""
        def attempt() -> requests.Response:
            response = session.request(method, url, **kwargs)
            if response.status_code >= 400:
                raise HttpStatusError(response.status_code, response.headers, response.text)
            return response
        return self.call(system, attempt, lane=lane, single_record=single_record, reauth=reauth)


# Where the operator fixes what a verdict says (the config key naming the credential).
CONFIG_KEYS = {"token_expired": "hubspot.token_env", "token_invalid": "hubspot.token_env",
               "missing_scope": "hubspot.token_env", "schema_mismatch": "salesforce.toml"}
FIXES = {
    "token_expired": "refresh it (an OAuth app's token lasts 30 minutes; set [hubspot] auth = \"oauth\" "
                     "to refresh it automatically) or put a new one in the environment",
    "token_invalid": "copy the private app's access token again (Settings → Integrations → Private apps) "
                     "into the environment variable named by hubspot.token_env",
    "missing_scope": "add the scope to the private app, then copy its token again",
    "schema_mismatch": "run `leadsync setup` to see what is missing, and `leadsync setup --apply` to create it",
}


def _with_fix(verdict: Verdict) -> str:
    fix = FIXES.get(verdict.kind)
    return f"{verdict.message}: {fix}" if fix else verdict.message


def _config_error(system: str, reason: str, detail: str, key: str | None = None) -> ConfigError:
    error = ConfigError(Problem("config", key or f"[{system}]", reason))
    error.detail = detail
    return error


def _fatal(verdict: Verdict) -> FatalError:
    error = FatalError(verdict.message, detail=verdict.detail)
    error.kind = verdict.kind  # type: ignore[attr-defined]  # a batch writer splits on "bad_request"
    return error


class _TimeoutSession(requests.Session):
    """requests has no session-wide timeout; without one a hung socket hangs the cycle."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._default_timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._default_timeout
        return super().request(method, url, *args, **kwargs)
