"""The state store: cursors, identity map, last-written values, runs, changes, errors, quarantine.

SQLite by default, PostgreSQL by URL. All timestamps are stored and returned as UTC.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import and_, bindparam, create_engine, delete, event, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from connector.state import schema as s
from connector.core.errors import FatalError
from connector.core.model import Activity
from connector.core.records import CrmRecord, Opportunity

if TYPE_CHECKING:
    from connector.state.logquery import LogFilter


def utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything in leadsync is timezone-aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


_PLAIN = frozenset({str, int, float, bool})


def json_safe(value: Any) -> Any:
    if value is None or type(value) in _PLAIN:     # most values: no ABC checks on the hot path
        return value
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    return value


def normalise_url(url: str) -> str:
    """psycopg 3 is the PostgreSQL driver we ship; accept plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class LockHeld(FatalError):
    """Another leadsync process holds the cycle lock on this state store."""


@dataclass(frozen=True)
class QuarantineEntry:
    id: int
    system: str
    hubspot_id: str
    email: str | None
    operation: str
    code: str | None
    reason: str
    detail: str | None
    transient: bool
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    dropped_at: datetime | None = None

    @property
    def waits_for_person(self) -> bool:
        """Permanent refusals (and dropped entries) are never retried by leadsync itself."""
        return not self.transient or self.dropped_at is not None


class Store:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.engine: Engine = create_engine(self.url, echo=echo, future=True)
        # SQLite's busy handler sleeps between tries (up to 100 ms each), so two threads of this
        # process writing at once (a batch recorded while the next is adopted) would mostly
        # sleep: they take turns on a lock of their own first. (Other processes still wait on
        # SQLite's; PostgreSQL writers need neither.)
        self._writers: threading.RLock | None = None
        self._local = threading.local()       # a thread's open ``batch``
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self._writers = threading.RLock()
        self.version = self._migrate()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """What this thread writes inside, in one transaction: a batch's record (the values
        written, its people and their transitions, its change log, quarantine, its cursor) is
        kept whole or not at all, and costs one commit instead of one per table."""
        if getattr(self._local, "conn", None) is not None:
            yield       # (already inside one)
            return
        with self._begin() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction (see ``_writers``), or the thread's ``batch`` when inside one."""
        inside = getattr(self._local, "conn", None)
        if inside is not None:
            yield inside
            return
        if self._writers is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._writers, self.engine.begin() as conn:
            yield conn

    def _migrate(self) -> int:
        """Bring the schema up to date; two processes opening a new store at once (a daemon and a
        manual sync, say) take turns, so neither trips over tables the other is creating."""
        if self.is_sqlite:
            with _file_lock(self._lock_path("migrate"), wait=True, timeout=120):
                with self.engine.begin() as conn:
                    return s.migrate(conn)
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(b"leadsync:migrate")})
            return s.migrate(conn)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        self.engine.dispose()

    # -- cursors ---------------------------------------------------------------------------
    def cursor(self, name: str) -> datetime | None:
        with self.engine.connect() as conn:
            return utc(conn.execute(select(s.cursors.c.value).where(s.cursors.c.name == name)).scalar())

    def set_cursor(self, name: str, value: datetime, now: datetime) -> None:
        with self._begin() as conn:
            done = conn.execute(update(s.cursors).where(s.cursors.c.name == name)
                                .values(value=value, updated_at=now)).rowcount
            if not done:
                conn.execute(insert(s.cursors).values(name=name, value=value, updated_at=now))

    def cursors(self) -> dict[str, datetime]:
        with self.engine.connect() as conn:
            return {r.name: utc(r.value) for r in conn.execute(select(s.cursors))}

    # -- people (identity map + snapshot) ---------------------------------------------------
    def people(self, hubspot_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """People by id (everyone when no ids are given: for reports, not for cycles)."""
        with self.engine.connect() as conn:
            if hubspot_ids is None:
                return {r.hubspot_id: _row(r) for r in conn.execute(select(s.people))}
            found: dict[str, dict[str, Any]] = {}
            for chunk in _chunks(list(hubspot_ids), 500):
                found.update((r.hubspot_id, _row(r)) for r in conn.execute(
                    select(s.people).where(s.people.c.hubspot_id.in_(chunk))))
            return found

    def people_in(self, stages: Sequence[str], *, having: str) -> dict[str, dict[str, Any]]:
        """People in these stages with ``having`` (a column: crm_id, opportunity_id) set: the
        handed-off few a cycle follows, without loading everyone."""
        with self.engine.connect() as conn:
            return {r.hubspot_id: _row(r) for r in conn.execute(_in_stages(stages, having))}

    def people_in_batches(self, stages: Sequence[str], *, having: str, batch: int,
                          columns: Sequence[str] = ()) -> Iterator[dict[str, dict[str, Any]]]:
        """``people_in`` a batch at a time, in id order, with only ``columns`` (and the id) when
        given: in a large org the handed-off are thousands, and their whole rows (fields and CRM
        fields as JSON) are never all in memory at once."""
        c = s.people.c
        last = ""
        while True:
            query = (_in_stages(stages, having, columns).where(c.hubspot_id > last)
                     .order_by(c.hubspot_id).limit(batch))
            with self.engine.connect() as conn:
                found = {r.hubspot_id: _row(r) for r in conn.execute(query)}
            if not found:
                return
            yield found
            last = next(reversed(found))

    def handed_off_since(self, since: datetime) -> dict[str, dict[str, Any]]:
        """People handed off at or after ``since`` (the SLA check's, without loading everyone)."""
        c = s.people.c
        with self.engine.connect() as conn:
            return {r.hubspot_id: _row(r) for r in conn.execute(select(s.people).where(c.handoff_at >= since))}

    def known_emails(self, emails: Sequence[str]) -> set[str]:
        """Which of these (lower-case) emails belong to someone leadsync knows."""
        c = s.people.c
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(emails), 500):
                found.update(e.lower() for e in conn.execute(
                    select(c.email).where(func.lower(c.email).in_(chunk))).scalars() if e)
        return found

    def alive_ids(self, batch: int = 5000) -> Iterator[list[str]]:
        """Everyone not marked deleted, by id, a batch at a time."""
        c = s.people.c
        last = ""
        while True:
            with self.engine.connect() as conn:
                ids = list(conn.execute(select(c.hubspot_id).where(and_(c.hubspot_id > last, c.deleted.is_(False)))
                                        .order_by(c.hubspot_id).limit(batch)).scalars())
            if not ids:
                return
            yield ids
            last = ids[-1]

    def find_people(self, *, email: str | None = None, domain: str | None = None,
                    crm_ids: Sequence[str] = (), company_id: str | None = None,
                    account_id: str | None = None) -> list[dict[str, Any]]:
        c = s.people.c
        conditions = []
        if email:
            conditions.append(func.lower(c.email) == email.lower())
        if domain:
            conditions.append(func.lower(c.email_domain) == domain.lower())
        if crm_ids:
            conditions.append(c.crm_id.in_(list(crm_ids)))
        if company_id:
            conditions.append(c.company_id == company_id)
        if account_id:
            conditions.append(c.account_id == account_id)
        if not conditions:
            return []
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(select(s.people).where(or_(*conditions)))]

    def save_people(self, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
        """Insert or update people, a batch at a time: rows with the same columns go in one
        executemany, so a page of 200 people costs a few statements, not 200."""
        if not rows:
            return
        merged: dict[str, dict[str, Any]] = {}
        for row in rows:       # the same person twice in a batch: the later values win
            values = {k: json_safe(v) if k in ("fields", "crm_fields") else v for k, v in row.items()}
            merged.setdefault(row["hubspot_id"], {}).update(values, updated_at=now)
        c = s.people.c
        with self._begin() as conn:
            existing: set[str] = set()
            for chunk in _chunks(list(merged), 500):
                existing.update(conn.execute(select(c.hubspot_id).where(c.hubspot_id.in_(chunk))).scalars())
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            inserts: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for hubspot_id, values in merged.items():
                if hubspot_id in existing:
                    updates.setdefault(tuple(sorted(values)), []).append(values)
                else:
                    full = {"fields": {}, "crm_fields": {}, **values}
                    inserts.setdefault(tuple(sorted(full)), []).append(full)
            for columns, batch in updates.items():
                setting = {k: bindparam(f"v_{k}") for k in columns if k != "hubspot_id"}
                statement = update(s.people).where(c.hubspot_id == bindparam("v_hubspot_id")).values(setting)
                conn.execute(statement, [{f"v_{k}": v for k, v in values.items()} for values in batch])
            for batch in inserts.values():
                conn.execute(insert(s.people), batch)

    # -- a first run's CRM records, waiting for their person -----------------------------------
    def keep_waiting(self, run_id: int, records: Sequence[CrmRecord]) -> None:
        rows = [{"run_id": run_id, "record_id": r.id, "hubspot_id": r.hubspot_id,
                 "email": r.email.lower() if r.email else None, "opportunity_id": r.opportunity_id or None,
                 "record": _record_json(r)} for r in records]
        with self._begin() as conn:
            for chunk in _chunks(rows, 1000):
                conn.execute(insert(s.crm_waiting), chunk)

    def take_waiting(self, run_id: int, hubspot_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """The records carrying these ids, by id, taken out of the waiting room."""
        c = s.crm_waiting.c
        found: dict[str, list[CrmRecord]] = {}
        with self._begin() as conn:
            for chunk in _chunks(sorted(set(hubspot_ids)), 500):
                where = and_(c.run_id == run_id, c.hubspot_id.in_(chunk))
                # (no ORDER BY: sorting in SQL would walk the run's rows by record id instead
                # of using the index; each person's few records are put in order here)
                for r in sorted(conn.execute(select(c.hubspot_id, c.record_id, c.record).where(where)),
                                key=lambda r: r.record_id):
                    found.setdefault(r.hubspot_id, []).append(_record_of(r.record))
                conn.execute(delete(s.crm_waiting).where(where))
        return found

    def waiting_without_id(self, run_id: int, emails: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """The records carrying no HubSpot id with these (lower-case) emails, by email; they stay."""
        c = s.crm_waiting.c
        found: dict[str, list[CrmRecord]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(emails)), 500):
                # (the id-less are picked here: "hubspot_id IS NULL" in SQL would have the
                # planner read every id-less record of the run through the other index)
                query = select(c.email, c.hubspot_id, c.record_id, c.record).where(
                    and_(c.run_id == run_id, c.email.in_(chunk)))
                for r in sorted(conn.execute(query), key=lambda r: r.record_id):   # (as in take_waiting)
                    if r.hubspot_id is None:
                        found.setdefault(r.email, []).append(_record_of(r.record))
        return found

    def waiting_left(self, run_id: int, *, with_id: bool, batch: int) -> Iterator[list[CrmRecord]]:
        """What still waits, a batch at a time in record id order: those carrying a HubSpot id
        (``with_id``, taken out as they are given) or those carrying none (left in place)."""
        c = s.crm_waiting.c
        kind = c.hubspot_id.isnot(None) if with_id else c.hubspot_id.is_(None)
        last = ""
        while True:
            with self._begin() as conn:
                rows = list(conn.execute(select(c.record_id, c.record).where(
                    and_(c.run_id == run_id, kind, c.record_id > last)).order_by(c.record_id).limit(batch)))
                if rows and with_id:
                    conn.execute(delete(s.crm_waiting).where(and_(
                        c.run_id == run_id, c.record_id.in_([r.record_id for r in rows]))))
            if not rows:
                return
            last = rows[-1].record_id
            yield [_record_of(r.record) for r in rows]

    def waiting_opportunity_ids(self, run_id: int, *, batch: int) -> Iterator[list[str]]:
        """The opportunity ids the waiting records name, each once, a batch at a time in id order."""
        c = s.crm_waiting.c
        last = ""
        while True:
            query = (select(c.opportunity_id).distinct()
                     .where(and_(c.run_id == run_id, c.opportunity_id.is_not(None), c.opportunity_id > last))
                     .order_by(c.opportunity_id).limit(batch))
            with self.engine.connect() as conn:
                ids = list(conn.execute(query).scalars())
            if not ids:
                return
            yield ids
            last = ids[-1]

    def keep_opportunities(self, run_id: int, asked: Sequence[str], found: Mapping[str, Opportunity]) -> None:
        """The opportunities read for these ids: each id asked is kept, with null when the CRM
        returned nothing for it (so it is not asked again this run)."""
        rows = [{"run_id": run_id, "opportunity_id": i,
                 "opportunity": _dataclass_json(found[i]) if i in found else None} for i in dict.fromkeys(asked)]
        with self._begin() as conn:
            for chunk in _chunks(rows, 1000):
                conn.execute(insert(s.crm_opportunities), chunk)

    def kept_opportunities(self, run_id: int, ids: Sequence[str]) -> dict[str, Opportunity | None]:
        """Of these ids, the ones read for the run: the opportunity, or None if the CRM had none."""
        c = s.crm_opportunities.c
        found: dict[str, Opportunity | None] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(ids)), 500):
                query = select(c.opportunity_id, c.opportunity).where(and_(c.run_id == run_id,
                                                                           c.opportunity_id.in_(chunk)))
                for r in conn.execute(query):
                    found[r.opportunity_id] = _opportunity_of(r.opportunity) if r.opportunity else None
        return found

    def clear_waiting(self, keep_run: int | None = None) -> None:
        """Forget what waits, and the opportunities read for it (every run's but ``keep_run``: one
        cut short leaves its rows)."""
        with self._begin() as conn:
            for table in (s.crm_waiting, s.crm_opportunities):
                conn.execute(delete(table).where(table.c.run_id != keep_run) if keep_run is not None
                             else delete(table))

    # -- companies (the marketing platform's, as last read) -------------------------------------
    def companies(self, company_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        c = s.companies.c
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(company_ids), 500):
                for r in conn.execute(select(c.company_id, c.properties).where(c.company_id.in_(chunk))):
                    found[r.company_id] = r.properties or {}
        return found

    def keep_companies(self, rows: Mapping[str, tuple[Mapping[str, Any], datetime | None]], now: datetime) -> None:
        """Company id → (properties, modified time): replaces what was kept."""
        if not rows:
            return
        c = s.companies.c
        with self._begin() as conn:
            ids = list(rows)
            for chunk in _chunks(ids, 500):
                conn.execute(delete(s.companies).where(c.company_id.in_(chunk)))
            values = [{"company_id": cid, "properties": json_safe(dict(props)), "modified_at": modified,
                       "updated_at": now} for cid, (props, modified) in rows.items()]
            for chunk in _chunks(values, 1000):
                conn.execute(insert(s.companies), chunk)

    # -- activities ---------------------------------------------------------------------------
    def add_activities(self, by_person: Mapping[str, Sequence[Activity]]) -> int:
        """Store activities, ignoring ones already stored (same person, source and id)."""
        wanted = [hubspot_id for hubspot_id, items in by_person.items() if items]
        if not wanted:
            return 0
        c = s.activities.c
        fresh: list[dict[str, Any]] = []
        with self._begin() as conn:
            known: set[tuple[str, str, str]] = set()
            for chunk in _chunks(wanted, 500):
                known.update((r.hubspot_id, r.source, r.id) for r in conn.execute(
                    select(c.hubspot_id, c.source, c.id).where(c.hubspot_id.in_(chunk))))
            for hubspot_id in wanted:
                for a in by_person[hubspot_id]:
                    key = (hubspot_id, a.source, a.id or f"{a.type}@{a.occurred_at.isoformat()}")
                    if key in known:
                        continue
                    known.add(key)
                    fresh.append({"hubspot_id": hubspot_id, "source": key[1], "id": key[2], "type": a.type,
                                  "occurred_at": a.occurred_at, "attrs": json_safe(dict(a.attrs))})
            for chunk in _chunks(fresh, 1000):
                conn.execute(insert(s.activities), chunk)
        return len(fresh)

    def activities(self, hubspot_ids: Sequence[str], since: datetime | None = None) -> dict[str, list[Activity]]:
        result: dict[str, list[Activity]] = {i: [] for i in hubspot_ids}
        if not hubspot_ids:
            return result
        c = s.activities.c
        with self.engine.connect() as conn:
            for chunk in _chunks(list(hubspot_ids), 500):
                query = select(s.activities).where(c.hubspot_id.in_(chunk))
                if since is not None:
                    query = query.where(c.occurred_at >= since)
                for r in conn.execute(query.order_by(c.occurred_at)):
                    result[r.hubspot_id].append(Activity(r.type, utc(r.occurred_at), r.attrs or {}, r.source, r.id))
        return result

    # -- last written values ------------------------------------------------------------------
    def written(self, system: str, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {}
        if not record_ids:
            return result
        c = s.written.c
        with self.engine.connect() as conn:
            for chunk in _chunks(list(record_ids), 500):
                query = select(c.record_id, c.field, c.value).where(and_(c.system == system, c.record_id.in_(chunk)))
                for r in conn.execute(query):
                    result.setdefault(r.record_id, {})[r.field] = r.value
        return result

    def record_written(self, system: str, record_id: str, values: Mapping[str, Any], now: datetime) -> None:
        c = s.written.c
        with self._begin() as conn:
            for field_name, value in values.items():
                where = and_(c.system == system, c.record_id == record_id, c.field == field_name)
                done = conn.execute(update(s.written).where(where).values(value=json_safe(value), written_at=now)).rowcount
                if not done:
                    conn.execute(insert(s.written).values(system=system, record_id=record_id, field=field_name,
                                                          value=json_safe(value), written_at=now))

    def record_written_many(self, system: str, by_record: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
        """``record_written`` for many records in one transaction (a batch of a cycle)."""
        c = s.written.c
        groups: dict[frozenset[str], list[str]] = {}
        for record_id, values in by_record.items():
            if values:
                groups.setdefault(frozenset(values), []).append(record_id)
        if not groups:
            return
        with self._begin() as conn:
            for fields, ids in groups.items():
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    conn.execute(delete(s.written).where(and_(c.system == system, c.record_id.in_(chunk),
                                                              c.field.in_(sorted(fields)))))
            _insert_many(conn, s.written, [
                {"system": system, "record_id": record_id, "field": name, "value": json_safe(value), "written_at": now}
                for record_id, values in by_record.items() for name, value in values.items()])

    # -- transitions ----------------------------------------------------------------------------
    def add_transition(self, hubspot_id: str, from_stage: str | None, to_stage: str, at: datetime, *,
                       cause: str, rule: str | None, definition_version: int | None, run_id: int | None) -> None:
        self.add_transitions([{"hubspot_id": hubspot_id, "from_stage": from_stage, "to_stage": to_stage, "at": at,
                               "cause": cause, "rule": rule, "definition_version": definition_version,
                               "run_id": run_id}])

    def add_transitions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Many transitions in one statement (each row: add_transition's arguments by name)."""
        if rows:
            with self._begin() as conn:
                conn.execute(insert(s.transitions), [dict(r) for r in rows])

    def transitions(self, since: datetime | None = None, hubspot_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        c = s.transitions.c
        query = select(s.transitions).order_by(c.at, c.id)
        if since is not None:
            query = query.where(c.at >= since)
        if hubspot_ids is not None:
            query = query.where(c.hubspot_id.in_(list(hubspot_ids)))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    # -- runs, changes, errors -------------------------------------------------------------------
    def start_run(self, kind: str, now: datetime, account: str | None = None) -> int:
        with self._begin() as conn:
            return conn.execute(insert(s.runs).values(kind=kind, started_at=now, outcome="running",
                                                      counts={}, api={}, account=account)).inserted_primary_key[0]

    def finish_run(self, run_id: int, now: datetime, outcome: str, counts: Mapping[str, Any],
                   api: Mapping[str, Any], message: str | None = None) -> None:
        with self._begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(
                finished_at=now, outcome=outcome, counts=json_safe(counts), api=json_safe(api), message=message))

    def changes_of_run(self, run_id: int) -> list[dict[str, Any]]:
        """One run's change log, in the order it was kept."""
        with self.engine.connect() as conn:
            query = select(s.changes).where(s.changes.c.run_id == run_id).order_by(s.changes.c.id)
            return [_row(r) for r in conn.execute(query)]

    def add_changes(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            with self._begin() as conn:
                _insert_many(conn, s.changes, [{**r, "old": json_safe(r.get("old")), "new": json_safe(r.get("new"))}
                                               for r in rows])

    def add_error(self, *, run_id: int | None, at: datetime, kind: str, message: str, detail: str | None = None,
                  system: str | None = None, hubspot_id: str | None = None, email: str | None = None) -> None:
        with self._begin() as conn:
            conn.execute(insert(s.errors).values(run_id=run_id, at=at, kind=kind, message=message, detail=detail,
                                                 system=system, hubspot_id=hubspot_id, email=email))

    # -- reading the log (``leadsync logs``) ----------------------------------------------------------
    def log_rows(self, kind: str, f: "LogFilter", *, finished_only: bool = False) -> list[dict[str, Any]]:
        """Runs, changes or errors matching ``f``: the newest ``f.limit``, oldest first."""
        from connector.state.logquery import rows_query
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(rows_query(kind, f, finished_only))]

    def log_total(self, kind: str, f: "LogFilter") -> int:
        """How many rows match ``f`` regardless of its limit ("showing 50 of 3,426")."""
        from connector.state.logquery import total_query
        with self.engine.connect() as conn:
            return int(conn.execute(total_query(kind, f)).scalar() or 0)

    def newest_log_id(self, kind: str) -> int:
        from connector.state.logquery import newest_id_query
        with self.engine.connect() as conn:
            return conn.execute(newest_id_query(kind)).scalar() or 0

    def prune(self, before: datetime) -> dict[str, int]:
        """Delete runs, changes and errors older than the retention horizon."""
        with self._begin() as conn:
            counts = {
                "changes": conn.execute(delete(s.changes).where(s.changes.c.at < before)).rowcount,
                "errors": conn.execute(delete(s.errors).where(s.errors.c.at < before)).rowcount,
                "runs": conn.execute(delete(s.runs).where(and_(s.runs.c.started_at < before,
                                                               s.runs.c.outcome != "running"))).rowcount,
            }
        return counts

    # -- quarantine -------------------------------------------------------------------------------
    def quarantine(self, *, system: str, hubspot_id: str, email: str | None, operation: str, code: str | None,
                   reason: str, detail: str | None, transient: bool, now: datetime, next_attempt_at: datetime | None) -> None:
        c = s.quarantine.c
        where = and_(c.system == system, c.hubspot_id == hubspot_id, c.operation == operation)
        with self._begin() as conn:
            row = conn.execute(select(s.quarantine).where(where)).first()
            if row:
                conn.execute(update(s.quarantine).where(where).values(
                    code=code, reason=reason, detail=detail, transient=transient, attempts=row.attempts + 1,
                    next_attempt_at=next_attempt_at, updated_at=now, email=email))
            else:
                conn.execute(insert(s.quarantine).values(
                    system=system, hubspot_id=hubspot_id, email=email, operation=operation, code=code, reason=reason,
                    detail=detail, transient=transient, attempts=1, next_attempt_at=next_attempt_at,
                    created_at=now, updated_at=now))

    def quarantined(self, *, due_at: datetime | None = None, ids: Sequence[int] | None = None,
                    include_dropped: bool = False) -> list[QuarantineEntry]:
        c = s.quarantine.c
        query = select(s.quarantine).order_by(c.id)
        if due_at is not None:
            query = query.where(and_(c.transient.is_(True), c.next_attempt_at <= due_at))
        if ids is not None:
            query = query.where(c.id.in_(list(ids)))
        if not include_dropped:
            query = query.where(c.dropped_at.is_(None))
        with self.engine.connect() as conn:
            return [QuarantineEntry(**{k: utc(v) if isinstance(v, datetime) else v for k, v in r._mapping.items()})
                    for r in conn.execute(query)]

    def held(self, hubspot_ids: Sequence[str]) -> set[str]:
        """People with an entry that waits for a person (permanent, or dropped): leadsync writes
        nothing for them until ``quarantine retry``."""
        if not hubspot_ids:
            return set()
        c = s.quarantine.c
        # A follow-up Task that failed is only a missing reminder: it does not hold the person.
        query = select(c.hubspot_id).where(and_(c.hubspot_id.in_(list(hubspot_ids)), c.operation != "task",
                                                or_(c.transient.is_(False), c.dropped_at.is_not(None))))
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def release(self, *, system: str, hubspot_id: str, operation: str | None = None) -> int:
        c = s.quarantine.c
        where = and_(c.system == system, c.hubspot_id == hubspot_id, c.dropped_at.is_(None))
        if operation:
            where = and_(where, c.operation == operation)
        with self._begin() as conn:
            return conn.execute(delete(s.quarantine).where(where)).rowcount

    def release_many(self, system: str, hubspot_ids: Sequence[str]) -> int:
        """``release`` for many people of one system at once."""
        c = s.quarantine.c
        gone = 0
        with self._begin() as conn:
            for chunk in _chunks(list(hubspot_ids), 500):
                gone += conn.execute(delete(s.quarantine).where(and_(
                    c.system == system, c.hubspot_id.in_(chunk), c.dropped_at.is_(None)))).rowcount
        return gone

    def drop_quarantined(self, ids: Sequence[int], now: datetime | None = None) -> int:
        """Give up on these entries: kept, marked dropped, so the record stays dropped (a later
        reconciliation neither writes it nor quarantines it again)."""
        c = s.quarantine.c
        when = now or datetime.now(timezone.utc)
        with self._begin() as conn:
            return conn.execute(update(s.quarantine).where(and_(c.id.in_(list(ids)), c.dropped_at.is_(None)))
                                .values(dropped_at=when, next_attempt_at=None)).rowcount

    def make_due(self, ids: Sequence[int] | None, now: datetime) -> int:
        """Ask for a retry on the next cycle (``quarantine retry``). Named ids also undo a drop;
        a retry of everything leaves dropped entries dropped."""
        query = update(s.quarantine).values(next_attempt_at=now, transient=True, dropped_at=None)
        if ids is not None:
            query = query.where(s.quarantine.c.id.in_(list(ids)))
        else:
            query = query.where(s.quarantine.c.dropped_at.is_(None))
        with self._begin() as conn:
            return conn.execute(query).rowcount

    # -- small named values -------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.kv.c.value).where(s.kv.c.key == key)).first()
            return default if row is None else row[0]

    def put(self, key: str, value: Any) -> None:
        with self._begin() as conn:
            if not conn.execute(update(s.kv).where(s.kv.c.key == key).values(value=json_safe(value))).rowcount:
                conn.execute(insert(s.kv).values(key=key, value=json_safe(value)))

    # -- the cycle lock -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def cycle_lock(self, name: str = "cycle", *, wait: bool = False, timeout: float = 60.0) -> Iterator[None]:
        """One cycle at a time per state store, across processes; released if the process dies.

        SQLite: an flock on a file beside the database (the kernel drops it on exit, even -9).
        PostgreSQL: a session advisory lock (dropped when the connection closes).
        """
        if self.is_sqlite:
            with _file_lock(self._lock_path(name), wait=wait, timeout=timeout):
                yield
        else:
            with _advisory_lock(self.engine, name, wait=wait, timeout=timeout):
                yield

    def _lock_path(self, name: str) -> Path:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return Path(os.environ.get("TMPDIR", "/tmp")) / f"leadsync-{os.getpid()}-{name}.lock"
        return Path(f"{database}.{name}.lock")


def _insert_many(conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """``conn.execute(insert(table), rows)``, faster for the thousands of rows of a batch's
    change log and values written. On SQLite, the statement is compiled once and each column's
    own value processor applied to its values, rather than SQLAlchemy's parameter machinery run
    per row (most of the cost of such an insert). PostgreSQL keeps SQLAlchemy's path, which
    sends many rows per round trip."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    by_columns: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(row), []).append(row)
    for columns, group in by_columns.items():
        compiled = insert(table).values({c: bindparam(c) for c in columns}).compile(dialect=conn.dialect)
        order = compiled.positiontup or list(columns)
        processors = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in order]
        conn.exec_driver_sql(compiled.string, [
            tuple(row[c] if process is None else process(row[c]) for c, process in zip(order, processors))
            for row in group])


def _record_json(record: CrmRecord) -> dict[str, Any]:
    """A CRM record as JSON that ``_record_of`` turns back into the same record (times tagged)."""
    return _dataclass_json(record)


def _dataclass_json(value: Any) -> dict[str, Any]:
    """A CRM record or opportunity as JSON, its times tagged so that they come back as times."""
    return {name: _tagged(getattr(value, name)) for name in type(value).__dataclass_fields__}


def _tagged(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": utc(value).isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): _tagged(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tagged(v) for v in value]
    return value


def _untagged(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if len(value) == 1 and "$date" in value:
            return date.fromisoformat(value["$date"])
        return {k: _untagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untagged(v) for v in value]
    return value


def _record_of(data: Mapping[str, Any]) -> CrmRecord:
    values = {k: _untagged(v) for k, v in data.items()}
    values["notes"] = tuple(values.get("notes") or ())
    return CrmRecord(**values)


def _opportunity_of(data: Mapping[str, Any]) -> Opportunity:
    return Opportunity(**{k: _untagged(v) for k, v in data.items()})


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Slices of at most ``size``: IN lists and executemany batches stay within the driver's limits."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in_stages(stages: Sequence[str], having: str, columns: Sequence[str] = ()) -> Any:
    """People not deleted, in these stages, with ``having`` set: every column, or the id and ``columns``."""
    c = s.people.c
    chosen = select(c.hubspot_id, *(c[name] for name in columns)) if columns else select(s.people)
    return chosen.where(and_(c.stage.in_(list(stages)), c[having].is_not(None), c.deleted.is_(False)))


def _row(row: Any) -> dict[str, Any]:
    return {k: utc(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")      # readers (logs, reports) never block the daemon
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextlib.contextmanager
def _file_lock(path: Path, *, wait: bool, timeout: float) -> Iterator[None]:
    import time
    handle = open(path, "a+")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or time.monotonic() > deadline:
                    raise LockHeld(f"another leadsync process is running a cycle on this state store ({path.name})") from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextlib.contextmanager
def _advisory_lock(engine: Engine, name: str, *, wait: bool, timeout: float) -> Iterator[None]:
    import time
    import zlib
    from sqlalchemy import text
    key = zlib.crc32(f"leadsync:{name}".encode())
    conn = engine.connect()
    try:
        deadline = time.monotonic() + timeout
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            conn.rollback()
            if not wait or time.monotonic() > deadline:
                raise LockHeld("another leadsync process is running a cycle on this state store (advisory lock held)")
            time.sleep(0.2)
        conn.commit()
        yield
    finally:
        with contextlib.suppress(Exception):
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        conn.close()
