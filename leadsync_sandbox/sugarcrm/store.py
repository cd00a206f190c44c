"""The records of the sandbox's Sugar instance, and what a save does.

Every save stamps ``date_modified`` with the current second, whether or not a value changed,
and records who made it. Deletes are soft (``deleted = 1``), as Sugar's are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from leadsync_sandbox.sugarcrm.schema import MODULES, Module, module as module_named
from leadsync_sandbox.sugarcrm.values import ApiError, coerce, invalid, not_found, second

Record = dict[str, Any]


@dataclass(frozen=True)
class ValidationHook:
    """An admin's before_save logic hook that refuses some saves (Sugar answers 422)."""

    module: str
    predicate: Callable[[Record], bool]     # True = refuse
    message: str


class Store:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.tables: dict[str, dict[str, Record]] = {name: {} for name in MODULES}
        self.hooks: list[ValidationHook] = []
        self.conflicts: dict[str, int] = {}     # record id → saves still to answer 409

    def module(self, name: str) -> Module:
        found = module_named(name)
        if found is None:
            raise not_found(f"Could not find module: {name}")
        return found

    # -- reads ---------------------------------------------------------------------------------

    def get(self, module: str, record_id: str, include_deleted: bool = False) -> Record | None:
        record = self.tables[self.module(module).name].get(record_id)
        if record is None or (record.get("deleted") and not include_deleted):
            return None
        return record

    def require(self, module: str, record_id: str) -> Record:
        record = self.get(module, record_id)
        if record is None:
            raise not_found(f"Could not find record: {record_id} in module: {module}")
        return record

    def rows(self, module: str, include_deleted: bool = False) -> list[Record]:
        return [r for r in self.tables[self.module(module).name].values()
                if include_deleted or not r.get("deleted")]

    # -- writes --------------------------------------------------------------------------------

    def load(self, module: str, values: Mapping[str, Any]) -> Record:
        """Put a record in as it is (seed data, an admin's import): stamps only what is missing."""
        schema = self.module(module)
        now = second(self.clock())
        record: Record = {"id": values.get("id") or str(uuid.uuid4()), "deleted": False}
        for name, value in values.items():
            f = schema.field(name)
            if f is not None:
                record[name] = coerce(f, value)
        record.setdefault("date_entered", now)
        record.setdefault("date_modified", record["date_entered"])
        self.tables[schema.name][record["id"]] = record
        return record

    def create(self, module: str, values: Mapping[str, Any], actor: str) -> Record:
        schema = self.module(module)
        record_id = values.get("id") or str(uuid.uuid4())
        if record_id in self.tables[schema.name]:
            raise invalid(f"A record with id {record_id} already exists")
        now = second(self.clock())
        record: Record = {"id": record_id, "deleted": False, "date_entered": now, "created_by": actor}
        self._assign(schema, record, values)
        self._check_hooks(schema, record)
        record.update(date_modified=now, modified_user_id=actor)
        record.setdefault("assigned_user_id", actor)
        self.tables[schema.name][record_id] = record
        return record

    def update(self, module: str, record_id: str, values: Mapping[str, Any], actor: str,
               expected_modified: datetime | None = None) -> Record:
        schema = self.module(module)
        record = self.require(schema.name, record_id)
        pending = self.conflicts.get(record_id, 0)
        if pending:
            self.conflicts[record_id] = pending - 1
            raise ApiError(409, "edit_conflict", "Edit conflict: the record was changed by another user")
        if expected_modified is not None and second(expected_modified) != record.get("date_modified"):
            raise ApiError(409, "edit_conflict", "Edit conflict: the record was changed by another user")
        draft = dict(record)
        self._assign(schema, draft, values)
        self._check_hooks(schema, draft)
        draft.update(date_modified=second(self.clock()), modified_user_id=actor)
        record.clear()
        record.update(draft)
        return record

    def system_update(self, module: str, record_id: str, values: Mapping[str, Any], actor: str) -> Record:
        """A save by Sugar itself or a person in the UI: no hooks refuse it."""
        schema = self.module(module)
        record = self.require(schema.name, record_id)
        for name, value in values.items():
            f = schema.field(name)
            if f is not None:
                record[name] = coerce(f, value)
        record.update(date_modified=second(self.clock()), modified_user_id=actor)
        return record

    def delete(self, module: str, record_id: str, actor: str) -> Record:
        record = self.require(module, record_id)
        record.update(deleted=True, date_modified=second(self.clock()), modified_user_id=actor)
        return record

    def _assign(self, schema: Module, record: Record, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            f = schema.field(name)
            if f is None or f.read_only or name == "id":
                continue   # Sugar ignores fields it does not know and fields it sets itself
            if name == "email":
                record["email1"] = _primary_address(value)
            else:
                record[name] = coerce(f, value)

    def _check_hooks(self, schema: Module, record: Record) -> None:
        for hook in self.hooks:
            if hook.module == schema.name and hook.predicate(record):
                raise invalid(hook.message)


def _primary_address(value: Any) -> str | None:
    if isinstance(value, list):
        primary = [e for e in value if isinstance(e, dict) and e.get("primary_address")] or \
                  [e for e in value if isinstance(e, dict)]
        return str(primary[0].get("email_address") or "")[:100] or None if primary else None
    return str(value)[:100] if value else None
