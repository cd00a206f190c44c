"""Record ids by the million in bounded memory.

A first run remembers whole portals and orgs of ids: the ones each keyset read has yielded,
the CRM's unconverted Leads, the records linked, the people with activities the pass has not
met yet. The compact ``IdSet`` holds them in 11 to 23 bytes an id, so a million-contact first
run still grows by tens of megabytes, set by set. ``SpillingIdSet`` keeps its first
``in_memory`` ids in an ``IdSet`` and, past that, moves them all to a private temporary SQLite
database (one per set, on disk, removed when the set is let go or the process ends) whose page
cache is capped: memory stays the same whatever the portal's size; a membership test costs a
B-tree lookup instead of a probe.

Exact, like ``set[str]``: add, discard, membership, len and iteration, from any thread.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Iterable, Iterator

from connector.core.idset import IdSet, SetOfIds

IN_MEMORY = 100_000          # ids held in memory before a set moves to disk (about 2 MB)
CACHE_KIB = 1024             # each spilled set's page cache
_ITER_PAGE = 5_000           # ids read back per query while iterating


class SpillingIdSet(SetOfIds):
    """``IdSet``'s interface; past ``in_memory`` ids, on disk with a capped cache."""

    __slots__ = ("_memory", "_db", "_count", "_in_memory", "_lock")

    def __init__(self, ids: Iterable[str] = (), *, in_memory: int | None = None) -> None:
        self._memory: IdSet | None = IdSet()
        self._db: sqlite3.Connection | None = None
        self._count = 0                 # ids held on disk
        self._in_memory = IN_MEMORY if in_memory is None else in_memory
        self._lock = threading.Lock()
        self.update(ids)

    @property
    def spilled(self) -> bool:
        return self._db is not None

    def update(self, ids: Iterable[str]) -> None:
        with self._lock:
            if self._memory is not None:
                self._memory.update(ids)
                if len(self._memory) > self._in_memory:
                    self._spill()
                return
            self._count += self._change("INSERT OR IGNORE INTO ids VALUES (?)", ids)

    def difference_update(self, ids: Iterable[str]) -> None:
        with self._lock:
            if self._memory is not None:
                self._memory.difference_update(ids)
                return
            self._count -= self._change("DELETE FROM ids WHERE id = ?", ids)

    def __contains__(self, record_id: object) -> bool:
        if not isinstance(record_id, str):
            return False
        with self._lock:
            if self._memory is not None:
                return record_id in self._memory
            assert self._db is not None
            return self._db.execute("SELECT 1 FROM ids WHERE id = ?", (record_id,)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory) if self._memory is not None else self._count

    def __iter__(self) -> Iterator[str]:
        """The ids held, a page at a time (no order promised; on disk, by text)."""
        with self._lock:
            memory = self._memory
        if memory is not None:
            yield from list(memory)
            return
        last = None
        while True:
            with self._lock:
                if self._db is None:
                    return
                rows = (self._db.execute("SELECT id FROM ids ORDER BY id LIMIT ?", (_ITER_PAGE,)) if last is None
                        else self._db.execute("SELECT id FROM ids WHERE id > ? ORDER BY id LIMIT ?",
                                              (last, _ITER_PAGE))).fetchall()
            if not rows:
                return
            for (record_id,) in rows:
                yield record_id
            last = rows[-1][0]

    def close(self) -> None:
        """Let the disk copy go now (it also goes with the set)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
                self._count = 0
                self._memory = IdSet()

    def __del__(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()

    # -- on disk -----------------------------------------------------------------------------------
    def _spill(self) -> None:
        assert self._memory is not None
        # "": a private temporary database, on disk, deleted when closed (or the process ends).
        db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("CREATE TABLE ids (id TEXT PRIMARY KEY) WITHOUT ROWID")
        self._db = db
        self._count = self._change("INSERT OR IGNORE INTO ids VALUES (?)", self._memory)
        self._memory = None

    def _change(self, statement: str, ids: Iterable[str]) -> int:
        """Rows the statement changed, run once per id in one transaction."""
        assert self._db is not None
        before = self._db.total_changes
        self._db.execute("BEGIN")
        try:
            self._db.executemany(statement, ((record_id,) for record_id in ids))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return self._db.total_changes - before
