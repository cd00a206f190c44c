"""A second writer: another integration (or the connector's own write-back) editing contacts
while a sync pages through a search.

Each edit goes through the portal like an API write: ``lastmodifieddate`` moves to now, and
the change reaches search after the index lag. By default the edit writes a contact's own
``jobtitle`` back unchanged, so nothing a qualification rule reads changes, yet the contact
moves in any search sorted or filtered on ``lastmodifieddate``: exactly what makes offset
paging skip records.

    writer = SecondWriter(sandbox.hubspot, per_page=20, pick="read")
    with writer.between_search_pages():
        run_the_sync()
    writer.edited        # every contact id it touched, in order

``pick``: ``"read"`` edits contacts search has already returned (the contacts behind the
offset move away and the unread ones shift past it: the leadsync write-back case);
``"unread"`` edits contacts not yet returned (they move towards the end); ``"any"`` picks
from all contacts. Choices are deterministic for a given ``seed``.
"""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

PICKS = ("read", "unread", "any")
Values = Callable[[dict[str, str]], dict[str, str]]


def same_jobtitle(contact: dict[str, str]) -> dict[str, str]:
    """Rewrite the value the contact already has: a no-op that still bumps lastmodifieddate."""
    return {"jobtitle": contact.get("jobtitle") or ""}


class SecondWriter:
    def __init__(self, hubspot: Any, *, per_page: int = 10, pick: str = "read", seed: int = 1,
                 values: Values = same_jobtitle, limit: int | None = None) -> None:
        if pick not in PICKS:
            raise ValueError(f"pick must be one of {', '.join(PICKS)}, got {pick!r}")
        if per_page < 1:
            raise ValueError(f"per_page must be 1 or more, got {per_page}")
        self.hubspot = hubspot
        self.per_page, self.pick, self.values, self.limit = per_page, pick, values, limit
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.read: list[str] = []        # ids search returned while the writer was active
        self._read_set: set[str] = set()
        self.edited: list[str] = []

    # -- mode 1: between search pages (deterministic) --

    @contextmanager
    def between_search_pages(self) -> Iterator["SecondWriter"]:
        """After every contacts search page the portal serves, edit ``per_page`` contacts."""
        self.hubspot.search_hooks.append(self._after_page)
        try:
            yield self
        finally:
            self.hubspot.search_hooks.remove(self._after_page)

    def _after_page(self, object_type: str, page_ids: list[str]) -> None:
        if object_type != "contacts":
            return
        with self._lock:
            for record_id in page_ids:
                if record_id not in self._read_set:
                    self._read_set.add(record_id)
                    self.read.append(record_id)
        self.edit(self.per_page)

    # -- mode 2: on a timer, like a real integration running beside the sync --

    @contextmanager
    def every(self, seconds: float) -> Iterator["SecondWriter"]:
        """Edit ``per_page`` contacts every ``seconds`` on a thread until the block ends."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(seconds):
                self.edit(self.per_page)
        self.hubspot.search_hooks.append(self._track_only)
        thread = threading.Thread(target=run, name="sandbox-second-writer", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)
            self.hubspot.search_hooks.remove(self._track_only)

    def _track_only(self, object_type: str, page_ids: list[str]) -> None:
        if object_type == "contacts":
            with self._lock:
                fresh = [i for i in page_ids if i not in self._read_set]
                self._read_set.update(fresh)
                self.read.extend(fresh)

    # -- the edit itself --

    def edit(self, count: int) -> list[str]:
        """Edit up to ``count`` contacts chosen by ``pick``; returns their ids."""
        with self._lock:
            if self.limit is not None:
                count = min(count, self.limit - len(self.edited))
            chosen = self._choose(count) if count > 0 else []
            self.edited.extend(chosen)
        for contact_id in chosen:
            record = self.hubspot.resolve("contacts", contact_id)
            if record is not None:
                current = {"id": record.id, **record.properties}
                self.hubspot.apply("contacts", record, self.values(current))
        return chosen

    def _choose(self, count: int) -> list[str]:
        done = set(self.edited)   # each contact is edited once: a second edit would shift nothing new
        if self.pick == "read":
            pool = [i for i in self.read if i not in done]
        else:
            with self.hubspot.lock:
                ids = list(self.hubspot.objects["contacts"])
            pool = [i for i in ids if i not in done and (self.pick == "any" or i not in self._read_set)]
        if len(pool) <= count:
            return list(pool)
        return self._rng.sample(pool, count)
