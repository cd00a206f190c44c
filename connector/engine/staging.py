"""What a cycle reads back of its own decisions: the state store, or in a dry run the store with
the run's planned state laid over it.

A dry run must plan exactly what a real run would write. A real run saves as it goes (a CRM
record's feedback before its person is qualified, activities before the people they score,
the values written by the first leg before the second leg compares with them), and later
steps read that back. A dry run saves nothing, so it keeps the same facts here, in memory, and
every read in the cycle goes through this view: the two runs then take the same decisions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence

from connector.core.batches import chunks
from connector.core.model import Activity
from connector.state.store import Store


@dataclass
class Staged:
    """The dry run's unsaved state. ``None`` in a real run (the engine then reads the store)."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    written: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    activities: dict[str, dict[tuple[str, str], Activity]] = field(default_factory=dict)


class StateView:
    """Mixed into the engine: reads and writes of the cycle's own state."""

    store: Store
    dry_run: bool
    _staged: Staged | None
    _transitions_due: dict[int, list[dict[str, Any]]]     # per thread: a batch written beside the next

    def _people(self, ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        wanted = None if ids is None else list(ids)
        found = self.store.people(wanted)
        staged = self._staged
        if staged is None:
            return found
        overlay = staged.rows if wanted is None else {i: staged.rows[i] for i in wanted if i in staged.rows}
        for key, row in overlay.items():
            found[key] = {**found.get(key, {"stage": "subscriber", "crm_fields": {}, "handoffs": 0}), **row}
        return found

    def _transitions_mine(self) -> list[dict[str, Any]]:
        """The transitions this thread decided and has not saved yet: each is saved with the
        people it moves, by the thread that moves them."""
        return self._transitions_due.setdefault(threading.get_ident(), [])

    def _flush_transitions(self) -> None:
        mine = self._transitions_mine()
        due, mine[:] = list(mine), []
        self.store.add_transitions(due)

    def _people_in(self, stages: Sequence[str], *, having: str) -> dict[str, dict[str, Any]]:
        """People in these stages with ``having`` set (the store's query, and in a dry run the
        planned rows that now match, or no longer do)."""
        found = self.store.people_in(stages, having=having)
        if self._staged is not None:
            for key, row in self._people(list(self._staged.rows)).items():
                if row.get("stage") in stages and row.get(having) and not row.get("deleted"):
                    found[key] = row
                else:
                    found.pop(key, None)
        return found

    def _people_in_batches(self, stages: Sequence[str], *, having: str, batch: int,
                           columns: Sequence[str] = ()) -> Iterator[dict[str, dict[str, Any]]]:
        """``_people_in`` a batch at a time, in id order, with at least ``columns``. A dry run's
        planned rows move people in and out, so it reads them whole: its state is in memory anyway."""
        if self._staged is None:
            yield from self.store.people_in_batches(stages, having=having, batch=batch, columns=columns)
            return
        found = self._people_in(stages, having=having)
        for ids in chunks(sorted(found), batch):
            yield {i: found[i] for i in ids}

    def _people_by_crm_id(self, crm_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = {p["crm_id"]: p for p in self.store.find_people(crm_ids=list(crm_ids))}
        if self._staged is not None:
            wanted = set(crm_ids)
            for key, row in self._people([r for r, v in self._staged.rows.items() if v.get("crm_id") in wanted]).items():
                found[row["crm_id"]] = row
        return found

    def _save_people(self, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
        """Save people, with the stage transitions decided for them since the last save."""
        clean = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        if self._staged is None:
            self._flush_transitions()
            self.store.save_people(clean, now)
            return
        for row in clean:
            self._staged.rows.setdefault(row["hubspot_id"], {}).update(row)

    def _written(self, system: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = self.store.written(system, ids)
        if self._staged is not None:
            for key in ids:
                if (system, key) in self._staged.written:
                    found[key] = {**found.get(key, {}), **self._staged.written[(system, key)]}
        return found

    def _record_written(self, system: str, key: str, values: Mapping[str, Any], now: datetime) -> None:
        if self._staged is None:
            self.store.record_written(system, key, values, now)
        else:
            self._staged.written.setdefault((system, key), {}).update(values)

    def _record_written_many(self, system: str, by_record: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
        if self._staged is None:
            self.store.record_written_many(system, by_record, now)
            return
        for key, values in by_record.items():
            self._record_written(system, key, values, now)

    def _add_activities(self, by_person: Mapping[str, Sequence[Activity]]) -> int:
        if self._staged is None:
            return self.store.add_activities(by_person)
        added = 0
        for key, acts in by_person.items():
            mine = self._staged.activities.setdefault(key, {})
            for act in acts:
                if (act.source, act.id) not in mine:
                    mine[(act.source, act.id)] = act
                    added += 1
        return added

    def _activities(self, ids: Sequence[str], since: datetime) -> dict[str, list[Activity]]:
        found = self.store.activities(ids, since=since)
        if self._staged is None:
            return found
        for key in ids:
            staged = [a for a in self._staged.activities.get(key, {}).values() if a.occurred_at >= since]
            if staged:
                have = {(a.source, a.id) for a in found.get(key, [])}
                merged = found.get(key, []) + [a for a in staged if (a.source, a.id) not in have]
                found[key] = sorted(merged, key=lambda a: a.occurred_at)
        return found
