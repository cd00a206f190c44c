"""The HubSpot emulator: enough of the real API that the unmodified hubspot-api-client works.

``create_app(state, faults, calls)`` serves CRM v3 objects (contacts, companies), search,
properties v3, associations v4, events v3 and marketing email events, with HubSpot's paths,
status codes and error bodies. ``HubSpotState`` holds the portal and its admin methods.

Wire behaviour worth knowing (each emulated because a connector must cope with it):
- batch/update is all-or-nothing on validation (unknown property, bad value: 400
  "Property values were not valid: […]"), but per record on existence and record-level
  failures: 207 with ``numErrors`` and ``errors[].context.ids``.
- every accepted write bumps ``lastmodifieddate``, even when no value changed.
- ``lifecyclestage`` only moves forward; a backwards value is ignored unless it is cleared first.
- search pages stop at 10,000 results: a request whose ``after`` + ``limit`` passes 10,000
  answers 400. ``after`` is an offset into a result set evaluated again for every page, and
  search reads an index that trails writes by ``search_lag_seconds`` (GET and batch read do not).
- a merged-away id answers GET and batch read as the survivor; an archived one answers 404
  (batch read: an ``errors`` entry).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import flask

from leadsync_sandbox import hubspot_schema as schema
from leadsync_sandbox.faults import ADMIN_PREFIX, CallLog, Faults, add_admin_routes, install
from leadsync_sandbox.hubspot_activity import register_activity_routes
from leadsync_sandbox.hubspot_forms import register_form_routes
from leadsync_sandbox.hubspot_http import (
    ApiError, batch_inputs, default_error_body, install_gate, int_param, json_body, list_param,
    object_type,
)
from leadsync_sandbox.hubspot_search import SearchError, keyset_page, run_search
from leadsync_sandbox.hubspot_state import MODIFIED, HubSpotState, Record
from leadsync_sandbox.seed import iso

__all__ = ["HubSpotState", "create_app"]

SEARCH_ENDPOINTS = frozenset({"search"})
READ_ONLY_POSTS = frozenset({"search", "batch_read", "associations_batch_read", "oauth_token"})


def create_app(state: HubSpotState, faults: Faults, calls: CallLog) -> flask.Flask:
    app = flask.Flask("leadsync-sandbox-hubspot")
    app.json.sort_keys = False
    # Order matters: an injected fault wins over everything, then auth and rate limits.
    install(app, "hubspot", faults, calls, read_only_endpoints=READ_ONLY_POSTS,
            error_body=default_error_body)
    install_gate(app, state, SEARCH_ENDPOINTS)
    _register_objects(app, state)
    _register_batches(app, state)
    _register_properties(app, state)
    register_activity_routes(app, state)
    register_form_routes(app, state)
    _register_admin(app, state, faults, calls)
    return app


# ---- objects: list, get, update, search -------------------------------------------------

def _register_objects(app: flask.Flask, state: HubSpotState) -> None:
    @app.get("/crm/v3/objects/<kind>", endpoint="list_objects")
    def list_objects(kind: str) -> Any:
        kind = object_type(kind)
        limit = int_param("limit", 10, high=100)
        after = flask.request.args.get("after")
        # The cursor is the id the next page starts at; one page costs a page, not the portal.
        page, next_id = state.page_from(kind, 0 if after is None else _cursor_id(after), limit)
        body: dict[str, Any] = {"results": [_rendered(state, kind, r) for r in page]}
        if next_id is not None:
            link = f"{flask.request.host_url}crm/v3/objects/{kind}?after={next_id}"
            body["paging"] = {"next": {"after": next_id, "link": link}}
        return body

    @app.get("/crm/v3/schemas", endpoint="list_schemas")
    def list_schemas() -> Any:
        # The portal's custom object schemas: this portal defines none.
        return {"results": []}

    @app.get("/crm/v3/objects/<kind>/<record_id>", endpoint="get_object")
    def get_object(kind: str, record_id: str) -> Any:
        kind = object_type(kind)
        record = _lookup(state, kind, record_id, flask.request.args.get("idProperty"))
        if record is None and flask.request.args.get("archived", "").lower() == "true":
            archived = state.archived[kind].get(record_id)
            if archived is not None:
                return {**_rendered(state, kind, archived), "archived": True,
                        "archivedAt": iso(archived.updated_at)}
        if record is None:
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND",
                           context={"id": [record_id]})
        return _rendered(state, kind, record)

    @app.delete("/crm/v3/objects/<kind>/<record_id>", endpoint="archive_object")
    def archive_object(kind: str, record_id: str) -> Any:
        kind = object_type(kind)
        if kind == "contacts" and state.resolve(kind, record_id) is not None:
            state.archive(state.resolve(kind, record_id).id)  # type: ignore[union-attr]
        return flask.Response(status=204)  # archiving an unknown id answers 204 too

    @app.patch("/crm/v3/objects/<kind>/<record_id>", endpoint="update_object")
    def update_object(kind: str, record_id: str) -> Any:
        kind = object_type(kind)
        values = _valid_values(state, kind, json_body().get("properties") or {})
        record = _lookup(state, kind, record_id, flask.request.args.get("idProperty"))
        if record is None:
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND",
                           context={"id": [record_id]})
        state.apply(kind, record, values)
        return state.render(kind, record, list(values))

    @app.post("/crm/v3/objects/<kind>/search", endpoint="search")
    def search(kind: str) -> Any:
        kind = object_type(kind)
        body = json_body()
        with state.lock:
            # Evaluated afresh on every page request, against what the index shows right now.
            try:
                stale = state.index.stale(kind)
                page = keyset_page(body, MODIFIED[kind], state.order, kind, state.objects[kind], stale,
                                   state.properties[kind], result_cap=state.search_result_cap)
                if page is not None:
                    indexed = {rid: stale.get(rid) or state.objects[kind][rid] for rid in page.ids}
                else:
                    indexed = {r.id: r for r in state.searchable(kind)}
                    page = run_search(body, ((rid, r.properties) for rid, r in indexed.items()),
                                      state.properties[kind], result_cap=state.search_result_cap)
            except SearchError as exc:
                raise ApiError(400, str(exc), "VALIDATION_ERROR") from None
            results = [state.render(kind, indexed[rid], body.get("properties")) for rid in page.ids]
        out: dict[str, Any] = {"total": page.total, "results": results}
        if page.next_after is not None:
            out["paging"] = {"next": {"after": page.next_after}}
        state.searched(kind, page.ids)
        return out


def _cursor_id(after: str) -> int:
    try:
        return int(after)
    except ValueError:
        raise ApiError(400, f"Invalid paging cursor: {after}", "VALIDATION_ERROR") from None


def _lookup(state: HubSpotState, kind: str, key: str, id_property: str | None) -> Record | None:
    if id_property and id_property != "hs_object_id":
        return state.find_by(kind, id_property, key)
    return state.resolve(kind, key)


def _rendered(state: HubSpotState, kind: str, record: Record) -> dict[str, Any]:
    """A record as list/get return it, with the requested properties and associations."""
    body = state.render(kind, record, list_param("properties") or None)
    # Deals and tickets are object types HubSpot knows; this portal has none to associate.
    wanted = [object_type(a) for a in list_param("associations") if a.lower() not in schema.UNSEEDED_OBJECT_TYPES]
    if kind == "contacts" and "companies" in wanted:
        company_id = state.primary_company.get(record.id)
        if company_id:
            body["associations"] = {"companies": {"results": [
                {"id": company_id, "type": "contact_to_company"},
                {"id": company_id, "type": "contact_to_company_unlabeled"}]}}
    if kind == "companies" and "contacts" in wanted:
        members = [cid for cid, co in state.primary_company.items() if co == record.id]
        if members:
            body["associations"] = {"contacts": {"results": [
                {"id": cid, "type": "company_to_contact"} for cid in sorted(members, key=int)]}}
    return body


def _valid_values(state: HubSpotState, kind: str, values: dict[str, Any]) -> dict[str, str]:
    clean, problems = schema.check_values(state.properties[kind], values)
    if problems:
        raise ApiError(400, schema.invalid_message(problems), "VALIDATION_ERROR")
    return clean


# ---- batches -------------------------------------------------------------------------------

def _register_batches(app: flask.Flask, state: HubSpotState) -> None:
    @app.post("/crm/v3/objects/<kind>/batch/read", endpoint="batch_read")
    def batch_read(kind: str) -> Any:
        kind = object_type(kind)
        body = json_body()
        inputs = batch_inputs(body)
        results, missing = [], []
        for item in inputs:
            record = _lookup(state, kind, str(item.get("id", "")), body.get("idProperty"))
            if record is None:
                missing.append(str(item.get("id", "")))
            else:
                results.append(state.render(kind, record, body.get("properties") or None))
        errors = [_not_found(kind, missing)] if missing else []
        return _batch_response(results, errors)

    @app.post("/crm/v3/objects/<kind>/batch/update", endpoint="batch_update")
    def batch_update(kind: str) -> Any:
        kind = object_type(kind)
        body = json_body()
        inputs = batch_inputs(body)
        _refuse_duplicates(inputs)
        # Validation is all-or-nothing: one bad value fails the whole request.
        planned = [(str(i.get("id", "")), _valid_values(state, kind, i.get("properties") or {})) for i in inputs]
        results, missing, errors = [], [], []
        for key, values in planned:
            record = _lookup(state, kind, key, body.get("idProperty"))
            if record is None:
                missing.append(key)
                continue
            failure = state.take_failure(record.id)
            if failure is not None:
                errors.append({"status": "error", "category": "VALIDATION_ERROR", "message": failure,
                               "context": {"ids": [key]}})
                continue
            state.apply(kind, record, values)
            results.append(state.render(kind, record, list(values)))
        if missing:
            errors.insert(0, _not_found(kind, missing))
        return _batch_response(results, errors)

    @app.post("/crm/v3/objects/<kind>/batch/upsert", endpoint="batch_upsert")
    def batch_upsert(kind: str) -> Any:
        kind = object_type(kind)
        inputs = batch_inputs(json_body())
        _refuse_duplicates(inputs)
        planned = [(i, _valid_values(state, kind, i.get("properties") or {})) for i in inputs]
        results = []
        for item, values in planned:
            id_property = item.get("idProperty") or "hs_object_id"
            key = str(item.get("id", ""))
            record = _lookup(state, kind, key, id_property)
            created = record is None
            if created:
                seed_values = {id_property: key} if id_property != "hs_object_id" else {}
                record = state.create(kind, {**seed_values, **values})
            else:
                state.apply(kind, record, values)
            results.append({**state.render(kind, record, list(values)), "new": created})
        return _batch_response(results, [])


def _refuse_duplicates(inputs: list[dict[str, Any]]) -> None:
    ids = [str(i.get("id", "")) for i in inputs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ApiError(400, f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
                       "VALIDATION_ERROR")


def _not_found(kind: str, ids: list[str]) -> dict[str, Any]:
    label = "CONTACT" if kind == "contacts" else "COMPANY"
    return {"status": "error", "category": "OBJECT_NOT_FOUND",
            "message": f"Could not get some {label} objects, they may be deleted or not exist. Check that ids are valid.",
            "context": {"ids": ids}}


def _batch_response(results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    started = iso(datetime.now(timezone.utc))
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body.update({"startedAt": started, "completedAt": iso(datetime.now(timezone.utc))})
    return body, 207 if errors else 200


# ---- properties v3 --------------------------------------------------------------------------

def _register_properties(app: flask.Flask, state: HubSpotState) -> None:
    @app.get("/crm/v3/properties/<kind>", endpoint="list_properties")
    def list_properties(kind: str) -> Any:
        kind = object_type(kind)
        with state.lock:
            return {"results": [p.to_json() for p in state.properties[kind].values()]}

    @app.get("/crm/v3/properties/<kind>/<name>", endpoint="get_property")
    def get_property(kind: str, name: str) -> Any:
        kind = object_type(kind)
        with state.lock:
            definition = state.properties[kind].get(name)
            if definition is None:
                raise ApiError(404, f"Unable to find property {name}.", "OBJECT_NOT_FOUND")
            return definition.to_json()

    @app.post("/crm/v3/properties/<kind>", endpoint="create_property")
    def create_property(kind: str) -> Any:
        kind = object_type(kind)
        body = json_body()
        _require(body, ("name", "label", "type", "fieldType", "groupName"))
        with state.lock:
            if body["name"] in state.properties[kind]:
                raise ApiError(409, f"Property already exists: {body['name']}", "CONFLICT",
                               subCategory="PropertyError.PROPERTY_EXISTS")
            if body["groupName"] not in state.groups[kind]:
                raise ApiError(400, f"Property group {body['groupName']} does not exist.", "VALIDATION_ERROR")
            if body["type"] not in schema.FIELD_TYPES:
                raise ApiError(400, f"Unknown property type {body['type']}.", "VALIDATION_ERROR")
            definition = schema.property_from_input(body, state.clock.now())
            state.properties[kind][definition.name] = definition
            return definition.to_json(), 201

    @app.post("/oauth/v1/token", endpoint="oauth_token")
    def oauth_token() -> Any:
        status, body = state.refresh_oauth(flask.request.form.to_dict())
        return body, status

    @app.get("/crm/v3/properties/<kind>/groups", endpoint="list_groups")
    def list_groups(kind: str) -> Any:
        kind = object_type(kind)
        with state.lock:
            return {"results": list(state.groups[kind].values())}

    @app.post("/crm/v3/properties/<kind>/groups", endpoint="create_group")
    def create_group(kind: str) -> Any:
        kind = object_type(kind)
        body = json_body()
        _require(body, ("name", "label"))
        with state.lock:
            if body["name"] in state.groups[kind]:
                raise ApiError(409, f"Property group already exists: {body['name']}", "CONFLICT")
            group = schema.new_group(body)
            state.groups[kind][group["name"]] = group
            return group, 201


def _require(body: dict[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if not body.get(k)]
    if missing:
        raise ApiError(400, f"Missing required fields: {', '.join(missing)}", "VALIDATION_ERROR")


# ---- admin over HTTP ------------------------------------------------------------------------

def _register_admin(app: flask.Flask, state: HubSpotState, faults: Faults, calls: CallLog) -> None:
    add_admin_routes(app, "hubspot", faults, calls)

    @app.get(f"{ADMIN_PREFIX}/state", endpoint="admin_state")
    def admin_state() -> Any:
        return state.summary()

    @app.post(f"{ADMIN_PREFIX}/expire-token", endpoint="admin_expire_token")
    def admin_expire_token() -> Any:
        return {"token": state.expire_token()}

    @app.get(f"{ADMIN_PREFIX}/contacts/count", endpoint="admin_contacts_count")
    def admin_contacts_count() -> Any:
        """How many contacts there are, and how many carry a value in each ``?property=``."""
        names = list_param("property")
        with state.lock:
            records = list(state.objects["contacts"].values())
            return {"contacts": len(records),
                    "with": {n: sum(1 for r in records if r.properties.get(n)) for n in names}}

    @app.post(f"{ADMIN_PREFIX}/contacts/edit", endpoint="admin_contacts_edit")
    def admin_contacts_edit() -> Any:
        """A marketer's bulk edit: ``count`` contacts spread over the portal get ``property``
        set to a new value (``value`` + the contact id), as an import or a workflow would."""
        body = flask.request.get_json(silent=True) or {}
        count = int(body.get("count", 0))
        name = str(body.get("property") or "jobtitle")
        value = str(body.get("value") or "Edited")
        ids = sorted(state.objects["contacts"], key=int)
        chosen = ids[::max(1, len(ids) // count)][:count] if count > 0 else []
        for contact_id in chosen:
            state.update_contact(contact_id, {name: f"{value} {contact_id}"})
        return {"edited": chosen}

    @app.post(f"{ADMIN_PREFIX}/daily-remaining", endpoint="admin_daily_remaining")
    def admin_daily_remaining() -> Any:
        remaining = int((flask.request.get_json(silent=True) or {}).get("remaining", 0))
        state.set_daily_remaining(remaining)
        return {"dailyRemaining": state.limits.remaining_daily()}
