"""What one run did, counted: the engine fills it, the CLI and the metrics read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Summary:
    run_id: int = 0
    kind: str = "sync"
    outcome: str = "ok"
    message: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {
        "pulled_hubspot": 0, "pulled_crm": 0, "activities": 0, "qualified": 0, "handed_off": 0,
        "converted": 0, "recycled": 0, "disqualified": 0, "near_qualified": 0,
        "written_hubspot": 0, "written_crm": 0, "quarantined": 0, "gate_violations": 0, "deleted": 0})
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    sla_breaches: list[dict[str, Any]] = field(default_factory=list)
    api: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n
