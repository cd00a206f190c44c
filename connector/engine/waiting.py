"""Where a first run's CRM records wait for their person.

A first run reads every Lead and Contact the CRM has before anyone is adopted: records that
carry a HubSpot id wait for that person to come by in the marketing pass (taken when they do),
and records typed in by sales without one are matched by email (they stay: a later person with
the same email sees them too). What is left at the end is followed up or reported.

``StoredWaiting`` keeps them in the state store, so a first run's memory does not grow with the
org; ``WaitingInMemory`` keeps them in dicts, for a dry run, which writes nothing it keeps.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol, Sequence

from connector.ports import CrmRecord
from connector.state.store import Store


class Waiting(Protocol):
    def add(self, records: Sequence[CrmRecord]) -> None: ...

    def take(self, hubspot_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """The records carrying these ids, by id; they wait no more."""

    def without_id(self, emails: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """Records carrying no HubSpot id, by (lower-case) email; they stay."""

    def left_with_id(self, batch: int) -> Iterator[list[CrmRecord]]:
        """Records carrying an id whose person never came by, taken a batch at a time."""

    def left_without_id(self, batch: int) -> Iterator[list[CrmRecord]]: ...

    def close(self) -> None: ...


class StoredWaiting:
    """The waiting room in the state store, under one run's id."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store, self.run_id = store, run_id
        store.clear_waiting(keep_run=run_id)   # rows of a run cut short are no one's now

    def add(self, records: Sequence[CrmRecord]) -> None:
        self.store.keep_waiting(self.run_id, [r for r in records if r.hubspot_id or r.email])

    def take(self, hubspot_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        return self.store.take_waiting(self.run_id, hubspot_ids) if hubspot_ids else {}

    def without_id(self, emails: Sequence[str]) -> dict[str, list[CrmRecord]]:
        return self.store.waiting_without_id(self.run_id, emails) if emails else {}

    def left_with_id(self, batch: int) -> Iterator[list[CrmRecord]]:
        return self.store.waiting_left(self.run_id, with_id=True, batch=batch)

    def left_without_id(self, batch: int) -> Iterator[list[CrmRecord]]:
        return self.store.waiting_left(self.run_id, with_id=False, batch=batch)

    def close(self) -> None:
        self.store.clear_waiting()


class WaitingInMemory:
    """The same, in dicts."""

    def __init__(self) -> None:
        self._by_id: dict[str, list[CrmRecord]] = {}
        self._by_email: dict[str, list[CrmRecord]] = {}

    def add(self, records: Sequence[CrmRecord]) -> None:
        for record in records:
            if record.hubspot_id:
                self._by_id.setdefault(record.hubspot_id, []).append(record)
            elif record.email:
                self._by_email.setdefault(record.email.lower(), []).append(record)

    def take(self, hubspot_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        return {i: self._by_id.pop(i) for i in dict.fromkeys(hubspot_ids) if i in self._by_id}

    def without_id(self, emails: Sequence[str]) -> dict[str, list[CrmRecord]]:
        return {e: list(self._by_email[e]) for e in emails if e in self._by_email}

    def left_with_id(self, batch: int) -> Iterator[list[CrmRecord]]:
        left = sorted((r for records in self._by_id.values() for r in records), key=lambda r: r.id)
        self._by_id = {}
        return _batches(left, batch)

    def left_without_id(self, batch: int) -> Iterator[list[CrmRecord]]:
        return _batches(sorted((r for rs in self._by_email.values() for r in rs), key=lambda r: r.id), batch)

    def close(self) -> None:
        self._by_id, self._by_email = {}, {}


def _batches(records: Iterable[CrmRecord], size: int) -> Iterator[list[CrmRecord]]:
    batch: list[CrmRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
