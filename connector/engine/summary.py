"""What one run did, counted: the engine fills it, the CLI and the metrics read it."""

from __future__ import annotations

import threading
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
        "written_hubspot": 0, "written_crm": 0, "quarantined": 0, "gate_violations": 0, "deleted": 0,
        "echoes": 0, "linked": 0, "adopted_sales_owned": 0, "adopted_handed_off": 0, "crm_only": 0, "merged": 0})
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    sla_breaches: list[dict[str, Any]] = field(default_factory=list)
    api: dict[str, Any] = field(default_factory=dict)
    # A pass writes one batch while it prepares the next: both count.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + n
