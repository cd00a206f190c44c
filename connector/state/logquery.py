"""Queries behind ``leadsync logs``: a ``LogFilter`` → SQLAlchemy ``Select`` on runs, changes and
errors. Pure query building, run by ``Store`` (``log_rows``, ``log_total``); the command line
only shapes and prints what comes back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select

from connector.state import schema as s


@dataclass(frozen=True)
class LogFilter:
    run_id: int | None = None
    domain: str | None = None                  # --account given as a company domain
    hubspot_ids: tuple[str, ...] | None = None  # --account given as a HubSpot company / Salesforce Account id
    lead: str | None = None
    since: datetime | None = None
    limit: int | None = 50                     # None: every matching row
    after_id: int = 0                          # --follow: only rows newer than the last one shown
    error_type: str | None = None              # --type: an error kind or a code in its message


def _person_conditions(table: Any, f: LogFilter) -> list[Any]:
    c = table.c
    conditions = []
    if f.lead:
        conditions.append(func.lower(c.email) == f.lead)
    if f.domain:
        on_domain = func.lower(c.email).like(f"%@{f.domain}")
        conditions.append(or_(func.lower(c.account) == f.domain, on_domain) if "account" in c else on_domain)
    if f.hubspot_ids is not None:
        conditions.append(c.hubspot_id.in_(f.hubspot_ids) if f.hubspot_ids else false())
    return conditions


def _where(table: Any, conditions: list[Any], f: LogFilter, time_column: Any) -> list[Any]:
    conditions = list(conditions)
    if f.since is not None:
        conditions.append(time_column >= f.since)
    if f.after_id:
        conditions.append(table.c.id > f.after_id)
    return conditions


def newest(query: Select, table: Any, conditions: list[Any], limit: int | None) -> Select:
    """The newest ``limit`` rows matching, returned oldest first (like ``tail``)."""
    inner = query.where(and_(*conditions)) if conditions else query
    if limit is None:
        return inner.order_by(table.c.id)
    inner = inner.order_by(table.c.id.desc()).limit(limit).subquery()
    return select(inner).order_by(inner.c.id)


def conditions_for(kind: str, f: LogFilter, finished_only: bool = False) -> tuple[Any, list[Any]]:
    """(table, conditions) for one section of the log."""
    if kind == "runs":
        conditions = []
        if f.run_id is not None:
            conditions.append(s.runs.c.id == f.run_id)
        if finished_only:
            conditions.append(s.runs.c.outcome != "running")
        return s.runs, _where(s.runs, conditions, f, s.runs.c.started_at)
    table = s.changes if kind == "changes" else s.errors
    conditions = _person_conditions(table, f)
    if f.run_id is not None:
        conditions.append(table.c.run_id == f.run_id)
    if kind == "errors" and f.error_type:
        conditions.append(or_(table.c.kind == f.error_type, table.c.message.contains(f.error_type)))
    return table, _where(table, conditions, f, table.c.at)


def rows_query(kind: str, f: LogFilter, finished_only: bool = False) -> Select:
    table, conditions = conditions_for(kind, f, finished_only)
    return newest(select(table), table, conditions, f.limit)


def total_query(kind: str, f: LogFilter) -> Select:
    table, conditions = conditions_for(kind, f)
    query = select(func.count()).select_from(table)
    return query.where(and_(*conditions)) if conditions else query


def newest_id_query(kind: str) -> Select:
    table = getattr(s, kind)
    query = select(func.max(table.c.id))
    if kind == "runs":   # a run still running is shown by --follow once it finishes
        query = query.where(table.c.outcome != "running")
    return query
