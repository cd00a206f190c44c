"""Exceptions named by what the caller must do.

- ``ConfigError``: stop before any API call and tell the operator (exit 2). Carries every
  problem found, each naming file, key and reason, so one run shows them all.
- ``Retryable``: back off and try again (raised by the transport; rarely seen above it).
- ``RateLimited``: a Retryable that carries the server's requested wait.
- ``SkippableRecord``: this one record cannot be written or read; quarantine it and go on.
- ``QuotaExhausted``: the API budget for the day is spent; checkpoint and stop the cycle cleanly.
- ``FatalError``: abort the cycle (exit 1); state is not advanced past the last committed batch.

Every error keeps the user-facing message apart from the internal detail: logs and the CLI
show ``str(error)``; ``detail`` is kept for ``leadsync logs --detail``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One configuration mistake: where it is and what is wrong."""

    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.reason}"


class LeadsyncError(Exception):
    """Base class: a user-facing message plus optional internal detail."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ConfigError(LeadsyncError):
    """Bad usage, config, mapping or definition. Exit code 2."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Retryable(LeadsyncError):
    """A transient failure: the transport backs off and retries."""


class RateLimited(Retryable):
    def __init__(self, message: str, *, retry_after: float | None = None, detail: str | None = None):
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class SkippableRecord(LeadsyncError):
    """One record failed for a reason of its own; quarantine it and carry on.

    ``transient`` reasons (a locked row, a timeout on one record) are retried on later cycles
    with backoff; permanent ones (a validation rule, a bad picklist value) wait for a person.
    """

    def __init__(self, message: str, *, code: str = "", transient: bool = False, detail: str | None = None):
        super().__init__(message, detail=detail)
        self.code = code
        self.transient = transient


class QuotaExhausted(LeadsyncError):
    """The daily API allocation (or leadsync's share of it) is used up."""


class FatalError(LeadsyncError):
    """Abort the cycle. Exit code 1."""
