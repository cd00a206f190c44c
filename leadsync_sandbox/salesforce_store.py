"""Records of the emulated org and the save-time rules the real org enforces.

Every write goes through :meth:`Store.save`, which applies the checks in Salesforce's order
(record lock, converted lead, field permissions, required fields, picklists, lengths,
references, unique external ids, admin validation rules) and bumps the audit stamps on every
accepted write, unchanged values included: the real org does, and that is what turns a
careless connector's no-op writes into ping-pong. Callers hold the state lock.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

from leadsync_sandbox.salesforce_schema import (
    CLOSED_STAGES, TEXT_TYPES, Field, SObject, sobject, BY_PREFIX,
)
from leadsync_sandbox.salesforce_values import (
    CoercionError, IdFactory, from_json, is_valid_id, normalize_id,
)

Record = dict[str, Any]
INDEX_REBUILD_AFTER = 2000      # records changed since an external-id index was taken, before it is taken again
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class RecordError(Exception):
    """One save failure for one record: what the API reports in ``errors[]``."""

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_rest(self) -> dict:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


@dataclass
class RequestError(Exception):
    """The whole request is refused: ``[{"message", "errorCode"}]`` with an HTTP status."""

    http_status: int
    error_code: str
    message: str
    fields: list[str] | None = None

    def as_rest(self) -> list[dict]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            body["fields"] = self.fields
        return [body]


@dataclass(frozen=True)
class ValidationRule:
    object: str
    name: str
    violated: Callable[[Record], bool]   # True = the record breaks the rule (an error condition)
    message: str
    field: str | None = None


@dataclass
class AssignmentRule:
    """An active lead assignment rule whose single entry routes round robin over users."""

    id: str
    name: str
    user_ids: list[str]
    active: bool = True
    next_index: int = 0

    def next_owner(self) -> str | None:
        if not (self.active and self.user_ids):
            return None
        owner = self.user_ids[self.next_index % len(self.user_ids)]
        self.next_index += 1
        return owner


def decode_body(obj: SObject, body: object) -> Record:
    """JSON body → stored values by canonical field name; unknown fields and undeserializable
    values fail the whole request, as they do at Salesforce's JSON layer."""
    if not isinstance(body, dict):
        raise RequestError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of "
                           f"{obj.name} from {type(body).__name__} value")
    values: Record = {}
    for key, raw in body.items():
        if key == "attributes":
            continue
        f = obj.field(key)
        if f is None:
            raise RequestError(400, "INVALID_FIELD",
                               f"No such column '{key}' on sobject of type {obj.name}")
        try:
            values[f.name] = from_json(f, raw)
        except CoercionError as exc:
            raise RequestError(400, "JSON_PARSER_ERROR", str(exc)) from None
    return values


class Store:
    def __init__(self, clock: Callable[[], datetime], ids: IdFactory) -> None:
        self.clock = clock
        self.ids = ids
        self.tables: dict[str, dict[str, Record]] = {}
        self.delete_log: list[tuple[str, str, datetime]] = []   # (object, id, deleted at)
        self.purged_at: datetime | None = None                  # last hard delete
        self.rules: list[ValidationRule] = []
        self.locks: dict[str, int] = {}
        self.assignment: AssignmentRule | None = None
        self._journal: list[tuple[str, str, Record | None]] | None = None
        self._last_stamp: datetime | None = None
        # External-id lookups (upserts, duplicate checks) by index: (object, field) → _Index.
        self._indexes: dict[tuple[str, str], _Index] = {}

    # --- reading ---------------------------------------------------------------------------

    def table(self, obj: str) -> dict[str, Record]:
        return self.tables.setdefault(obj, {})

    def get(self, obj: str, record_id: str, *, include_deleted: bool = False) -> Record | None:
        if not is_valid_id(record_id):
            return None
        record = self.table(obj).get(normalize_id(record_id))
        if record is None or (record.get("IsDeleted") and not include_deleted):
            return None
        return record

    def find(self, record_id: str) -> tuple[str, Record] | None:
        """A live record by id alone, whatever its object (the key prefix says which)."""
        target = BY_PREFIX.get(record_id[:3]) if isinstance(record_id, str) else None
        record = self.get(target.name, record_id) if target else None
        return (target.name, record) if record else None

    def by_external_id(self, obj: str, field_name: str, value: object) -> Record | None:
        key = str(value).lower()
        table = self.table(obj)
        index = self._indexes.get((obj, field_name))
        if index is None or index.size != len(table) or len(index.changed) > INDEX_REBUILD_AFTER:
            index = self._indexes[(obj, field_name)] = _Index.of(table, field_name)
        record = table.get(index.ids.get(key, ""))
        if record is not None and _holds(record, field_name, key):
            return record
        if key in index.shared:
            candidates: Iterable[Record] = table.values()   # held by more than one: look at all
        else:
            # Indexed records keep their value unless changed through the store since: only
            # those changed may hold it now.
            candidates = (table[i] for i in sorted(index.changed) if i in table)
        return next((r for r in candidates if _holds(r, field_name, key)), None)
    def live(self, obj: str, *, include_deleted: bool = False) -> list[Record]:
        return [r for r in self.table(obj).values() if include_deleted or not r.get("IsDeleted")]

    # --- writing ---------------------------------------------------------------------------

    def stamp(self) -> datetime:
        """Now, never earlier than the previous stamp (the org's clock does not run back)."""
        now = self.clock()
        if self._last_stamp is not None and now < self._last_stamp:
            now = self._last_stamp
        self._last_stamp = now
        return now

    def load(self, obj: str, record: Record) -> Record:
        """Seed a record as-is (no validation, stamps as given)."""
        schema = sobject(obj)
        assert schema is not None, obj
        stored = {f.name: None for f in schema.fields}
        stored.update({f.name: f.default for f in schema.fields if f.default is not None})
        # Field names are case-insensitive in Salesforce: seeds and imports spell them any way.
        stored.update({f.name: v for f, v in ((schema.field(k), v) for k, v in record.items()) if f})
        stored["Id"] = normalize_id(stored.get("Id") or self.ids.new(schema.key_prefix))
        created = stored.get("CreatedDate") or self.clock()
        for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if schema.field(stamp) and stored.get(stamp) is None:
                stored[stamp] = created
        _derive(schema, stored)
        self.table(schema.name)[stored["Id"]] = stored
        return stored

    def save(self, obj: SObject, values: Record, *, record_id: str | None = None,
             actor: str, auto_assign: bool = False, lock_key: str | None = None) -> Record:
        """Create (``record_id`` None) or update one record; raises RecordError."""
        current = self.get(obj.name, record_id) if record_id else None
        if record_id and current is None:
            deleted = self.get(obj.name, record_id, include_deleted=True)
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted") if deleted else \
                RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        self._take_lock(current["Id"] if current else None, lock_key)
        if current and obj.name == "Lead" and current.get("IsConverted"):
            raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        _check_permissions(obj, values, creating=current is None)
        merged = dict(current) if current else self._new_record(obj, actor)
        merged.update(values)
        if auto_assign and obj.name == "Lead" and self.assignment:
            merged["OwnerId"] = self.assignment.next_owner() or merged.get("OwnerId")
        self._validate(obj, merged, values)
        _derive(obj, merged)
        now = self.stamp()
        merged.update({"LastModifiedDate": now, "SystemModstamp": now, "LastModifiedById": actor})
        if current is None:
            merged.update({"CreatedDate": now, "CreatedById": actor})
        self._remember(obj.name, merged["Id"])
        self.table(obj.name)[merged["Id"]] = merged
        return merged

    def system_update(self, obj: str, record_id: str, values: Record, *,
                      actor: str | None = None, bump: bool = True) -> Record:
        """A write the org makes itself (conversion, merge, a sales rep in the UI): no field
        permission checks. ``bump=False`` leaves the stamps alone, like a formula or a
        background job that does not touch SystemModstamp."""
        record = self.get(obj, record_id, include_deleted=True)
        if record is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        self._remember(obj, record["Id"])
        record.update(values)
        _derive(sobject(obj), record)  # type: ignore[arg-type]
        if bump:
            now = self.stamp()
            record.update({"LastModifiedDate": now, "SystemModstamp": now})
            if actor:
                record["LastModifiedById"] = actor
        return record

    def _new_record(self, obj: SObject, actor: str) -> Record:
        record: Record = {f.name: f.default for f in obj.fields}
        record["Id"] = self.ids.new(obj.key_prefix)
        while record["Id"] in self.table(obj.name):   # never reuse a seeded id
            record["Id"] = self.ids.new(obj.key_prefix)
        if obj.field("OwnerId"):
            record["OwnerId"] = actor
        return record

    def delete(self, obj: str, record_id: str, *, lock_key: str | None = None) -> Record:
        record = self.get(obj, record_id, include_deleted=True)
        if record is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
        self._take_lock(record["Id"], lock_key)
        self._remember(obj, record["Id"])
        now = self.stamp()
        record.update({"IsDeleted": True, "SystemModstamp": now, "LastModifiedDate": now})
        self.delete_log.append((obj, record["Id"], now))
        return record

    def hard_delete(self, obj: str, record_id: str) -> None:
        """Emptied from the recycle bin and purged from the delete log: gone without a trace
        that getDeleted could report; only a full comparison notices."""
        record_id = normalize_id(record_id)
        self.table(obj).pop(record_id, None)
        self.delete_log = [e for e in self.delete_log if e[1] != record_id]
        self.purged_at = self.stamp()

    # --- rollback (allOrNone) ---------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Undo every record change made inside the block if it raises."""
        outer = self._journal
        self._journal = [] if outer is None else outer
        start = len(self._journal)
        log_length = len(self.delete_log)
        next_owner = self.assignment.next_index if self.assignment else 0
        try:
            yield
        except BaseException:
            for obj, record_id, before in reversed(self._journal[start:]):
                if before is None:
                    self.table(obj).pop(record_id, None)
                else:
                    self.table(obj)[record_id] = before
            del self._journal[start:]
            del self.delete_log[log_length:]
            if self.assignment:
                self.assignment.next_index = next_owner
            raise
        finally:
            if outer is None:
                self._journal = None

    def _remember(self, obj: str, record_id: str) -> None:
        for (indexed, _), index in self._indexes.items():
            if indexed == obj:
                index.changed.add(record_id)
        if self._journal is not None:
            before = self.table(obj).get(record_id)
            self._journal.append((obj, record_id, dict(before) if before else None))

    # --- checks ----------------------------------------------------------------------------

    def _take_lock(self, record_id: str | None, lock_key: str | None) -> None:
        for key in (record_id, lock_key):
            if key and self.locks.get(key.lower(), 0) > 0:
                self.locks[key.lower()] -= 1
                raise RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to "
                                  f"this record or 1 records: {record_id or lock_key}")

    def _validate(self, obj: SObject, record: Record, changed: Record) -> None:
        missing = [f.name for f in obj.fields if f.required and f.createable
                   and record.get(f.name) in (None, "")]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING",
                              f"Required fields are missing: [{', '.join(missing)}]", missing)
        for name, value in changed.items():
            if value is not None:
                _check_value(obj.field(name), value)  # type: ignore[arg-type]
        for name, value in changed.items():
            f = obj.field(name)
            if f is not None and f.type == "reference" and value is not None:
                self._check_reference(obj, f, value)
            if f is not None and f.unique and value is not None:
                self._check_unique(obj, f, record)
        for rule in self.rules:
            if rule.object.lower() == obj.name.lower() and rule.violated(dict(record)):
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message,
                                  [rule.field] if rule.field else [])

    def _check_reference(self, obj: SObject, f: Field, value: object) -> None:
        label = f.relationship or f.name
        if not is_valid_id(value):
            raise RecordError("MALFORMED_ID", f"{label} ID: id value of incorrect type: {value}",
                              [f.name])
        found = self.find(str(value))
        if found is None or found[0] not in f.reference_to:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY",
                              f"{label} ID: invalid cross reference id", [f.name])
        if found[0] == "User" and not found[1].get("IsActive"):
            raise RecordError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user "
                              f"[{found[1]['Id']}] as owner of {obj.name.lower()}", [f.name])

    def _check_unique(self, obj: SObject, f: Field, record: Record) -> None:
        other = self.by_external_id(obj.name, f.name, record[f.name])
        if other is not None and other["Id"] != record["Id"]:
            raise RecordError("DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates "
                              f"value on record with id: {other['Id']}", [])


def _holds(record: Record, field_name: str, key: str) -> bool:
    return not record.get("IsDeleted") and record.get(field_name) is not None and str(record[field_name]).lower() == key


@dataclass
class _Index:
    """Lower-cased value → the id of the first record holding it, taken when the table had
    ``size`` records; ``shared``: values more than one record held; ``changed``: records
    written through the store since (their values may differ now)."""

    size: int
    ids: dict[str, str]
    shared: set[str]
    changed: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, table: dict[str, Record], field_name: str) -> "_Index":
        ids: dict[str, str] = {}
        shared: set[str] = set()
        for record in table.values():
            if not record.get("IsDeleted") and record.get(field_name) is not None:
                key = str(record[field_name]).lower()
                if ids.setdefault(key, record["Id"]) != record["Id"]:
                    shared.add(key)
        return cls(len(table), ids, shared)


def _check_permissions(obj: SObject, values: Record, *, creating: bool) -> None:
    refused = [name for name in values if name != "Id" and not (
        obj.field(name).createable if creating else obj.field(name).updateable)]  # type: ignore
    if refused:
        raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                          f"Unable to create/update fields: {', '.join(refused)}. Please check "
                          "the security settings of this field and verify that it is read/write "
                          "for your profile or permission set.", refused)


def _check_value(f: Field, value: object) -> None:
    if f.restricted and value not in f.picklist:
        raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                          f"{f.label or f.name}: bad value for restricted picklist field: {value}",
                          [f.name])
    if f.type in TEXT_TYPES and f.length and len(str(value)) > f.length:
        raise RecordError("STRING_TOO_LONG", f"{f.name}: data value too large: {value} "
                          f"(max length={f.length})", [f.name])
    if f.type == "email" and not _EMAIL.match(str(value)):
        raise RecordError("INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {value}",
                          [f.name])


def _derive(obj: SObject, record: Record) -> None:
    """Formula-like system fields the org keeps in step with the record."""
    if obj.field("Name") and not obj.field("Name").createable and obj.field("LastName"):
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    if obj.name == "Opportunity":
        stage = record.get("StageName")
        record["IsClosed"] = stage in CLOSED_STAGES
        record["IsWon"] = CLOSED_STAGES.get(stage, False)


def coerce_values(obj: SObject, values: dict[str, Any]) -> Record:
    """Admin-side writes: accept Python values or JSON-ish ones by canonical or any-case name."""
    out: Record = {}
    for key, value in values.items():
        f = obj.field(key)
        if f is None:
            raise KeyError(f"{obj.name} has no field {key!r}")
        out[f.name] = value if isinstance(value, (datetime,)) or value is None else (
            from_json(f, value) if isinstance(value, str) else value)
    return out
