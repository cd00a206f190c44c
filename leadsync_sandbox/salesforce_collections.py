"""sObject Collections: up to 200 records per call, one result per record in input order.

A malformed request (over 200 records, a missing type, an unknown field, an undeserializable
value) fails whole with a 400; otherwise the answer is 200 with per-record outcomes. With
``allOrNone`` a single failure rolls every record back: the failing ones report their error,
the others ALL_OR_NONE_OPERATION_ROLLED_BACK, exactly as the real API does.
"""

from __future__ import annotations

from typing import Any, Callable

import flask

from leadsync_sandbox.salesforce_rest import (
    DATA, auto_assign, json_response, object_or_404, render_record, request_json,
)
from leadsync_sandbox.salesforce_schema import SObject, sobject
from leadsync_sandbox.salesforce_store import RecordError, RequestError, decode_body

MAX_RECORDS = 200
ROLLED_BACK = RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not "
                          "all records were valid and the request was using AllOrNone header")


class _Rollback(Exception):
    pass


def _too_many() -> RequestError:
    return RequestError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                        f"than {MAX_RECORDS} records into this call")


def _records_of(body: Any) -> tuple[list[dict], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise RequestError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object "
                           "with a records array")
    if len(body["records"]) > MAX_RECORDS:
        raise _too_many()
    return body["records"], bool(body.get("allOrNone", False))


def _typed(record: Any, only: SObject | None = None) -> SObject:
    kind = record.get("attributes", {}).get("type") if isinstance(record, dict) else None
    obj = sobject(kind) if kind else None
    if obj is None:
        raise RequestError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    if only is not None and obj is not only:
        raise RequestError(400, "INVALID_TYPE", f"Expected records of type {only.name}")
    return obj


Step = Callable[[], dict]   # saves one record, returns its success result; raises RecordError


def _run(state, steps: list[Step], all_or_none: bool, failure_ids: list[str | None]) -> list[dict]:
    """Run each record's save; per-record errors become results, never a failed request."""
    results: list[dict] = []
    failed = False
    try:
        with state.store.atomic():
            for step, record_id in zip(steps, failure_ids):
                try:
                    results.append(step())
                except RecordError as error:
                    failed = True
                    results.append(_failure(error, record_id))
            if all_or_none and failed:
                raise _Rollback
    except _Rollback:
        results = [r if not r["success"] else _failure(ROLLED_BACK, None) for r in results]
    return results


def _failure(error: RecordError, record_id: str | None) -> dict:
    result: dict[str, Any] = {"success": False, "errors": [error.as_rest()]}
    if record_id:
        result = {"id": record_id, **result}
    return result


def _ok(record: dict, **extra: Any) -> dict:
    return {"id": record["Id"], "success": True, "errors": [], **extra}


def register_collections(app: flask.Flask, state) -> None:
    @app.route(f"{DATA}/composite/sobjects", methods=["POST", "PATCH", "DELETE"],
               strict_slashes=False)
    def collection(version):
        if flask.request.method == "DELETE":
            return _delete(state)
        records, all_or_none = _records_of(request_json())
        creating = flask.request.method == "POST"
        decoded = [(obj, decode_body(obj, r)) for obj, r in ((_typed(r), r) for r in records)]
        assign, actor = auto_assign(), flask.g.sf_user
        steps = [_save_step(state, obj, values, creating, assign, actor) for obj, values in decoded]
        ids = [None if creating else values.get("Id") for _, values in decoded]
        with state.lock:
            return json_response(_run(state, steps, all_or_none, ids))

    @app.route(f"{DATA}/composite/sobjects/<name>/<field_name>", methods=["PATCH"])
    def collection_upsert(version, name, field_name):
        obj = object_or_404(name)
        f = obj.field(field_name)
        if f is None or not f.external_id:
            raise RequestError(400, "INVALID_FIELD", "Field name provided, "
                               f"{field_name} is not an External ID or indexed field for {obj.name}")
        records, all_or_none = _records_of(request_json())
        decoded = [decode_body(_typed(r, obj), r) for r in records]
        keys = [str(v.get(f.name)).lower() for v in decoded if v.get(f.name) is not None]
        assign, actor = auto_assign(), flask.g.sf_user
        steps = [_upsert_step(state, obj, f.name, values, keys, assign, actor) for values in decoded]
        with state.lock:
            return json_response(_run(state, steps, all_or_none, [None] * len(steps)))

    @app.route(f"{DATA}/composite/sobjects/<name>", methods=["GET", "POST"],
               endpoint="sf_collection_retrieve")
    def collection_retrieve(version, name):
        obj = object_or_404(name)
        body = request_json() if flask.request.method == "POST" else None
        ids = (body or {}).get("ids") or _split(flask.request.args.get("ids"))
        fields = (body or {}).get("fields") or _split(flask.request.args.get("fields"))
        if not ids or not fields:
            raise RequestError(400, "MALFORMED_QUERY", "ids and fields are required")
        if len(ids) > (2000 if body else 800):
            raise _too_many()
        with state.lock:
            found = [state.store.get(obj.name, i) for i in ids]
            return json_response([render_record(obj, r, fields) if r else None for r in found])


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _save_step(state, obj: SObject, values: dict, creating: bool, assign: bool,
               actor: str) -> Step:
    def step() -> dict:
        record_id = values.pop("Id", None)
        if creating and record_id:
            raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an "
                              "insert call", ["Id"])
        if not creating and not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
        return _ok(state.store.save(obj, values, record_id=record_id, actor=actor,
                                    auto_assign=assign))
    return step


def _upsert_step(state, obj: SObject, field_name: str, values: dict, keys: list[str],
                 assign: bool, actor: str) -> Step:
    def step() -> dict:
        value = values.get(field_name)
        if value is None:
            raise RecordError("MISSING_ARGUMENT", f"{field_name} not specified", [])
        if keys.count(str(value).lower()) > 1:
            raise RecordError("DUPLICATE_EXTERNAL_ID", "Duplicate external id specified: "
                              f"{value}", [field_name])
        values.pop("Id", None)
        current = state.store.by_external_id(obj.name, field_name, value)
        record = state.store.save(obj, values, record_id=current["Id"] if current else None,
                                  actor=actor, auto_assign=assign, lock_key=str(value))
        return _ok(record, created=current is None)
    return step


def _delete(state):
    ids = _split(flask.request.args.get("ids"))
    if len(ids) > MAX_RECORDS:
        raise _too_many()
    all_or_none = flask.request.args.get("allOrNone", "false").lower() == "true"

    def step_for(record_id: str) -> Step:
        def step() -> dict:
            found = state.store.find(record_id)
            if found is None:
                deleted = any(rid == record_id for _, rid, _ in state.store.delete_log)
                raise RecordError("ENTITY_IS_DELETED" if deleted else
                                  "INVALID_CROSS_REFERENCE_KEY",
                                  "entity is deleted" if deleted else "invalid cross reference id")
            return _ok(state.store.delete(found[0], found[1]["Id"]))
        return step

    with state.lock:
        return json_response(_run(state, [step_for(i) for i in ids], all_or_none, list(ids)))
