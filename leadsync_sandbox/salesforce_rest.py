"""OAuth token endpoint and the REST API's single-record, query, describe and replication
resources, answered the way a real org answers them (status codes, error bodies, headers).

Every ``/services/data/vNN.N/...`` call needs a live session (else 401 INVALID_SESSION_ID),
counts against the daily allocation (403 REQUEST_LIMIT_EXCEEDED once spent) and carries
``Sforce-Limit-Info: api-usage=N/M``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import flask

from leadsync_sandbox.salesforce_query import execute
from leadsync_sandbox.salesforce_schema import OBJECTS, SObject, describe, describe_global_entry, sobject
from leadsync_sandbox.salesforce_store import RecordError, RequestError, decode_body
from leadsync_sandbox.salesforce_soql import SoqlError
from leadsync_sandbox.salesforce_values import ORG_ID, format_datetime, parse_datetime, to_json

API_VERSIONS = (("55.0", "Summer '22"), ("56.0", "Winter '23"), ("57.0", "Spring '23"),
                ("58.0", "Summer '23"), ("59.0", "Winter '24"), ("60.0", "Spring '24"),
                ("61.0", "Summer '24"), ("62.0", "Winter '25"))
SUPPORTED = {f"{n}.0" for n in range(31, 63)}   # older versions are retired
DATA = "/services/data/v<version>"
UPDATED_WINDOW = timedelta(days=30)   # getUpdated looks back at most 30 days
DELETED_WINDOW = timedelta(days=15)   # the recycle bin keeps 15 days
_DATA_PATH = re.compile(r"^/services/data/v(\d+\.\d+)(/|$)")

_GENERIC = {401: ("INVALID_SESSION_ID", "Session expired or invalid"),
            403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            404: ("NOT_FOUND", "The requested resource does not exist"),
            500: ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                                       "ErrorId if you contact support: 1234567890-12345"),
            503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable.")}


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None):
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return flask.Response(json.dumps([body]), status, mimetype="application/json")


def error_body(status: int) -> list[dict]:
    """Salesforce's body for a bare status (used by fault injection)."""
    code, message = _GENERIC.get(status, ("UNKNOWN_EXCEPTION", _GENERIC[500][1]))
    return [{"message": message, "errorCode": code}]


def json_response(body: Any, status: int = 200) -> flask.Response:
    return flask.Response(json.dumps(body), status, mimetype="application/json")


def base_path() -> str:
    return f"/services/data/v{flask.g.api_version}"


def request_json() -> Any:
    try:
        return json.loads(flask.request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise RequestError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None


def auto_assign() -> bool:
    """Sforce-Auto-Assign: absent means TRUE (the documented REST default)."""
    return flask.request.headers.get("Sforce-Auto-Assign", "TRUE").strip().upper() != "FALSE"


def object_or_404(name: str) -> SObject:
    obj = sobject(name)
    if obj is None:
        raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
    return obj


def render_record(obj: SObject, record: dict, fields: list[str] | None = None) -> dict:
    chosen = [obj.field(n) for n in fields] if fields else list(obj.fields)
    if any(f is None for f in chosen):
        bad = next(n for n in fields or [] if obj.field(n) is None)
        raise RequestError(400, "INVALID_FIELD", f"No such column '{bad}' on entity '{obj.name}'")
    out = {"attributes": {"type": obj.name, "url": f"{base_path()}/sobjects/{obj.name}/{record['Id']}"}}
    out.update({f.name: to_json(f, record.get(f.name)) for f in chosen})  # type: ignore[union-attr]
    return out


def register_rest(app: flask.Flask, state) -> None:
    _register_guards(app, state)
    _register_auth(app, state)
    _register_query(app, state)
    _register_records(app, state)
    _register_replication(app, state)


def _register_guards(app: flask.Flask, state) -> None:
    @app.before_request
    def _session_and_allocation():
        m = _DATA_PATH.match(flask.request.path)
        if m is None:
            return None
        if m.group(1) not in SUPPORTED:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        flask.g.api_version = m.group(1)
        header = flask.request.headers.get("Authorization", "")
        token = header.split(" ", 1)[1].strip() if " " in header else None
        user = state.session_user(token)
        if user is None:
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        flask.g.sf_user = user
        if not state.spend_call():
            return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return None

    @app.after_request
    def _limit_header(response: flask.Response) -> flask.Response:
        if _DATA_PATH.match(flask.request.path) and flask.g.get("sf_user"):
            response.headers["Sforce-Limit-Info"] = \
                f"api-usage={state.api_usage()}/{state.daily_limit}"
        return response

    @app.errorhandler(RequestError)
    def _request_error(error: RequestError):
        return json_response(error.as_rest(), error.http_status)

    @app.errorhandler(RecordError)
    def _record_error(error: RecordError):
        return sf_error(400, error.status_code, error.message, error.fields)

    @app.errorhandler(SoqlError)
    def _soql_error(error: SoqlError):
        return sf_error(400, error.code, error.message)

    @app.errorhandler(404)
    def _not_found(_error):
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    @app.errorhandler(405)
    def _not_allowed(_error):
        return sf_error(405, "METHOD_NOT_ALLOWED",
                        f"HTTP Method '{flask.request.method}' not allowed.")


def _register_auth(app: flask.Flask, state) -> None:
    @app.post("/services/oauth2/token")
    def oauth_token():
        grant = flask.request.form.to_dict()
        if grant.get("grant_type") not in ("client_credentials", "password"):
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "grant type not supported"}, 400)
        # localhost plays login.salesforce.com; 127.0.0.1 is the org's My Domain.
        outcome = state.login(grant, my_domain=flask.request.host.split(":")[0] != "localhost")
        if outcome[0] == "error":
            return json_response({"error": outcome[1], "error_description": outcome[2]}, 400)
        token, user_id = outcome
        host = flask.request.host_url.rstrip("/").replace("//localhost:", "//127.0.0.1:")
        return json_response({
            "access_token": token, "instance_url": host, "id": f"{host}/id/{ORG_ID}/{user_id}",
            "token_type": "Bearer", "issued_at": str(int(state.now().timestamp() * 1000)),
            "signature": "sandbox" + token[-12:], "scope": "api"})

    @app.get("/services/data/")
    @app.get("/services/data")
    def versions():
        return json_response([{"label": label, "url": f"/services/data/v{v}", "version": v}
                              for v, label in API_VERSIONS])

    @app.get(f"{DATA}/limits/", strict_slashes=False)
    def limits(version):
        used, limit = state.api_usage(), state.daily_limit
        return json_response({
            "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DataStorageMB": {"Max": 5120, "Remaining": 5100},
        })


def _register_query(app: flask.Flask, state) -> None:
    def run(include_deleted: bool):
        text = flask.request.args.get("q")
        if not text:
            raise RequestError(400, "MALFORMED_QUERY", "A query string has to be specified")
        with state.lock:
            total, rows = execute(
                text, lambda obj: state.store.live(obj.name, include_deleted=include_deleted),
                lambda rid: (state.store.find(rid) or (None, None))[1], state.now(), base_path())
        return json_response(_page(state, total, rows, 0, None))

    def more(locator: str):
        cursor, _, offset = locator.rpartition("-")
        rows = state.cursors.rows(cursor) if offset.isdigit() else None
        if rows is None:
            raise RequestError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return json_response(_page(state, len(rows), rows, int(offset), cursor))

    app.add_url_rule(f"{DATA}/query/", "sf_query", lambda version: run(False),
                     strict_slashes=False)
    app.add_url_rule(f"{DATA}/queryAll/", "sf_query_all", lambda version: run(True),
                     strict_slashes=False)
    app.add_url_rule(f"{DATA}/query/<locator>", "sf_query_more",
                     lambda version, locator: more(locator))
    app.add_url_rule(f"{DATA}/queryAll/<locator>", "sf_query_all_more",
                     lambda version, locator: more(locator))


def _page(state, total: int, rows: list[dict], offset: int, cursor: str | None) -> dict:
    size = state.page_size
    page = rows[offset:offset + size]
    body: dict[str, Any] = {"totalSize": total, "done": offset + size >= len(rows),
                            "records": page}
    if not body["done"]:
        cursor = cursor or state.cursors.open(rows)
        body["nextRecordsUrl"] = f"{base_path()}/query/{cursor}-{offset + size}"
    return body


def _register_records(app: flask.Flask, state) -> None:
    @app.get(f"{DATA}/sobjects/", strict_slashes=False)
    def describe_global(version):
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            describe_global_entry(o, base_path()) for o in OBJECTS.values()]})

    @app.get(f"{DATA}/sobjects/<name>/describe/", strict_slashes=False)
    def describe_object(version, name):
        return json_response(describe(object_or_404(name), base_path()))

    @app.post(f"{DATA}/sobjects/<name>/", strict_slashes=False)
    def create(version, name):
        obj = object_or_404(name)
        values = decode_body(obj, request_json())
        with state.lock:
            record = state.store.save(obj, values, actor=flask.g.sf_user,
                                      auto_assign=auto_assign())
        return json_response({"id": record["Id"], "success": True, "errors": []}, 201)

    @app.route(f"{DATA}/sobjects/<name>/<record_id>", methods=["GET", "PATCH", "DELETE"])
    def by_id(version, name, record_id):
        obj = object_or_404(name)
        with state.lock:
            _existing_or_404(state, obj, record_id)
            if flask.request.method == "GET":
                record = state.store.get(obj.name, record_id)
                fields = flask.request.args.get("fields")
                return json_response(render_record(obj, record, fields.split(",") if fields else None))
            if flask.request.method == "DELETE":
                state.store.delete(obj.name, record_id)
                return flask.Response(status=204)
            values = decode_body(obj, request_json())
            values.pop("Id", None)
            state.store.save(obj, values, record_id=record_id, actor=flask.g.sf_user,
                             auto_assign=auto_assign())
        return flask.Response(status=204)

    @app.route(f"{DATA}/sobjects/<name>/<field_name>/<path:value>",
               methods=["GET", "PATCH", "DELETE"])
    def by_external_id(version, name, field_name, value):
        obj = object_or_404(name)
        f = obj.field(field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise RequestError(404, "NOT_FOUND", "Provided external ID field does not exist or "
                               f"is not accessible: {field_name}")
        with state.lock:
            current = (state.store.get(obj.name, value) if f.name == "Id"
                       else state.store.by_external_id(obj.name, f.name, value))
            if flask.request.method == "GET":
                if current is None:
                    raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
                return json_response(render_record(obj, current))
            if flask.request.method == "DELETE":
                if current is None:
                    raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
                state.store.delete(obj.name, current["Id"], lock_key=value)
                return flask.Response(status=204)
            return _upsert_one(state, obj, f.name, value, current)


def _existing_or_404(state, obj: SObject, record_id: str) -> None:
    if state.store.get(obj.name, record_id) is not None:
        return
    if state.store.get(obj.name, record_id, include_deleted=True) is not None:
        raise RequestError(404, "ENTITY_IS_DELETED", "entity is deleted")
    raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")


def _upsert_one(state, obj: SObject, field_name: str, value: str, current: dict | None):
    values = decode_body(obj, request_json())
    if current is None and flask.request.args.get("updateOnly", "").lower() == "true":
        raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
    if field_name != "Id":
        values[field_name] = value
    values.pop("Id", None)
    record = state.store.save(obj, values, record_id=current["Id"] if current else None,
                              actor=flask.g.sf_user, auto_assign=auto_assign(), lock_key=value)
    if current is None:
        return json_response({"id": record["Id"], "success": True, "errors": [],
                              "created": True}, 201)
    # v46.0 changed an upsert's update answer from 204 (no body) to 200 with "created": false.
    if float(flask.g.api_version) < 46.0:
        return flask.Response(status=204)
    return json_response({"id": record["Id"], "success": True, "errors": [], "created": False})


def _register_replication(app: flask.Flask, state) -> None:
    @app.get(f"{DATA}/sobjects/<name>/updated/", strict_slashes=False)
    def updated(version, name):
        obj = object_or_404(name)
        with state.lock:
            start, end = _window(state, UPDATED_WINDOW)
            ids = [r["Id"] for r in state.store.live(obj.name)
                   if start <= r["SystemModstamp"] < end]
        return json_response({"ids": ids, "latestDateCovered": format_datetime(end)})

    @app.get(f"{DATA}/sobjects/<name>/deleted/", strict_slashes=False)
    def deleted(version, name):
        obj = object_or_404(name)
        with state.lock:
            start, end = _window(state, DELETED_WINDOW)
            found = [{"id": rid, "deletedDate": format_datetime(at)}
                     for o, rid, at in state.store.delete_log
                     if o == obj.name and start <= at < end]
            earliest = state.store.purged_at or state.started_at
        return json_response({"deletedRecords": found,
                              "earliestDateAvailable": format_datetime(_minute(earliest)),
                              "latestDateCovered": format_datetime(end)})


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _window(state, reach: timedelta) -> tuple[datetime, datetime]:
    """start/end of a replication call: seconds are ignored, end never passes now."""
    try:
        start = parse_datetime(flask.request.args["start"])
        end = parse_datetime(flask.request.args["end"])
    except (KeyError, ValueError):
        raise RequestError(400, "INVALID_REPLICATION_DATE",
                           "start and end must be valid dateTime values") from None
    now = state.now()
    start, end = _minute(start), _minute(min(end, now))
    if start < _minute(now - reach):
        raise RequestError(400, "INVALID_REPLICATION_DATE",
                           f"startDate cannot be more than {reach.days} days ago")
    if end <= start:
        raise RequestError(400, "INVALID_REPLICATION_DATE",
                           "startDate must chronologically precede endDate by more than one minute")
    return start, end
