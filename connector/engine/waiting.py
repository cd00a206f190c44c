"""Where a first run's CRM records wait for their person.

A first run reads every Lead and Contact the CRM has before anyone is adopted: records that
carry a HubSpot id wait for that person to come by in the marketing pass (taken when they do),
and records typed in by sales without one are matched by email (they stay: a later person with
the same email sees them too). What is left at the end is followed up or reported. The
opportunities these records name are read once, when all of them are in (a query per 100–200
ids, not one per page of people), and kept beside them until adoption asks for a batch's.

``StoredWaiting`` keeps them in the state store, so a first run's memory does not grow with the
org; ``WaitingInMemory`` keeps them in dicts, for a dry run, which writes nothing it keeps.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping, Protocol, Sequence

from connector.core.batches import chunks
from connector.ports import CrmRecord, Opportunity
from connector.state.store import Store

# Opportunity ids asked of the CRM at a time: a multiple of the 100 or 200 a CRM query takes,
# so reading them in batches costs no query more than reading them all at once.
OPPORTUNITY_BATCH = 1000
ReadOpportunities = Callable[[Sequence[str]], Mapping[str, Opportunity]]


class Waiting(Protocol):
    def add(self, records: Sequence[CrmRecord]) -> None: ...

    def take(self, hubspot_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """The records carrying these ids, by id; they wait no more."""

    def without_id(self, emails: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """Records carrying no HubSpot id, by (lower-case) email; they stay."""

    def left_with_id(self, batch: int) -> Iterator[list[CrmRecord]]:
        """Records carrying an id whose person never came by, taken a batch at a time."""

    def left_without_id(self, batch: int) -> Iterator[list[CrmRecord]]: ...

    def read_opportunities(self, read: ReadOpportunities) -> None:
        """Every opportunity the records added name, read with ``read`` and kept for the run."""

    def opportunities(self, ids: Sequence[str]) -> dict[str, Opportunity | None]:
        """Of these ids, those read: the opportunity, or None where the CRM returned none."""

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

    def read_opportunities(self, read: ReadOpportunities) -> None:
        for ids in self.store.waiting_opportunity_ids(self.run_id, batch=OPPORTUNITY_BATCH):
            self.store.keep_opportunities(self.run_id, ids, read(ids))

    def opportunities(self, ids: Sequence[str]) -> dict[str, Opportunity | None]:
        return self.store.kept_opportunities(self.run_id, ids) if ids else {}

    def close(self) -> None:
        self.store.clear_waiting()


class WaitingInMemory:
    """The same, in dicts."""

    def __init__(self) -> None:
        self._by_id: dict[str, list[CrmRecord]] = {}
        self._by_email: dict[str, list[CrmRecord]] = {}
        self._opportunity_ids: set[str] = set()
        self._opportunities: dict[str, Opportunity | None] = {}

    def add(self, records: Sequence[CrmRecord]) -> None:
        for record in records:
            if record.opportunity_id and (record.hubspot_id or record.email):
                self._opportunity_ids.add(record.opportunity_id)
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
        return chunks(left, batch)

    def left_without_id(self, batch: int) -> Iterator[list[CrmRecord]]:
        return chunks(sorted((r for rs in self._by_email.values() for r in rs), key=lambda r: r.id), batch)

    def read_opportunities(self, read: ReadOpportunities) -> None:
        for ids in chunks(sorted(self._opportunity_ids), OPPORTUNITY_BATCH):
            found = read(ids)
            self._opportunities.update({i: found.get(i) for i in ids})
        self._opportunity_ids = set()

    def opportunities(self, ids: Sequence[str]) -> dict[str, Opportunity | None]:
        return {i: self._opportunities[i] for i in ids if i in self._opportunities}

    def close(self) -> None:
        self._by_id, self._by_email, self._opportunities = {}, {}, {}

