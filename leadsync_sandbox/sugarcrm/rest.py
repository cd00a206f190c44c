"""The REST v11 routes: ``/rest/<version>/…`` as Sugar serves them.

Errors are ``{"error", "error_message"}`` with Sugar's statuses: 301 incorrect_version, 401
need_login / invalid_grant, 404 not_found / no_method, 409 edit_conflict, 422
invalid_parameter / missing_parameter, 424 from a conversion whose sub-create failed.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import flask

from leadsync_sandbox.faults import READ_ONLY_FLAG
from leadsync_sandbox.sugarcrm.filters import compile_filter, order_terms, ordered
from leadsync_sandbox.sugarcrm.schema import MODULES
from leadsync_sandbox.sugarcrm.state import SugarState
from leadsync_sandbox.sugarcrm.values import ApiError, invalid, missing, not_found, parse_datetime, render_record

VERSION = re.compile(r"^v(10|11(_([1-9]|1[0-9]|2[0-5]))?)$")
ERROR_LABELS = {301: "incorrect_version", 400: "bad_request", 401: "need_login", 403: "not_authorized",
                404: "not_found", 409: "edit_conflict", 412: "invalid_metadata_hash", 413: "request_too_large",
                422: "invalid_parameter", 424: "request_failure", 429: "too_many_requests", 500: "fatal_error",
                502: "bad_gateway", 503: "service_unavailable"}


def error_body(status: int) -> dict[str, str]:
    label = ERROR_LABELS.get(status, "fatal_error")
    return {"error": label, "error_message": f"Sugar answered {label.replace('_', ' ')}"}


def _error(exc: ApiError) -> flask.Response:
    response = flask.jsonify(exc.body())
    response.status_code = exc.status
    return response


def _body() -> dict[str, Any]:
    if not flask.request.get_data(cache=True):
        return {}
    data = flask.request.get_json(silent=True)
    if data is None and flask.request.form:
        return dict(flask.request.form)
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object")
    return data


def register_rest(app: flask.Flask, state: SugarState) -> None:
    def authed(view: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(version: str, **kwargs: Any) -> Any:
            _check_version(version)
            flask.g.sugar_user = state.sessions.user_for(_token())
            return view(version=version, **kwargs)
        wrapped.__name__ = view.__name__
        return wrapped

    app.register_error_handler(ApiError, _error)

    @app.post("/rest/<version>/oauth2/token", endpoint="sugar_token")
    def token(version: str) -> Any:
        _check_version(version)
        return flask.jsonify(state.sessions.grant(_body()))

    @app.post("/rest/<version>/oauth2/logout", endpoint="sugar_logout")
    def logout(version: str) -> Any:
        _check_version(version)
        state.sessions.logout(_token())
        return flask.jsonify({"success": True})

    @app.get("/rest/<version>/me", endpoint="sugar_me")
    @authed
    def me(version: str) -> Any:
        user = state.store.require("Users", flask.g.sugar_user)
        return flask.jsonify({"current_user": {"id": user["id"], "user_name": user.get("user_name"),
                                               "type": "admin" if user.get("is_admin") else "user"}})

    @app.route("/rest/<version>/<module>/filter", methods=["GET", "POST"], endpoint="sugar_filter")
    @authed
    def filter_records(version: str, module: str) -> Any:
        flask.request.environ[READ_ONLY_FLAG] = True
        args = _body() if flask.request.method == "POST" else _query_args()
        with state.lock:
            rows = _filtered(state, module, state.store.rows(module, _flag(args.get("deleted"))), args)
        return flask.jsonify(_page(state, MODULES[module], rows, args))

    @app.get("/rest/<version>/<module>", endpoint="sugar_list")
    @authed
    def list_records(version: str, module: str) -> Any:
        args = _query_args()
        with state.lock:
            rows = _filtered(state, module, state.store.rows(module, _flag(args.get("deleted"))), args)
        return flask.jsonify(_page(state, MODULES[module], rows, args))

    @app.post("/rest/<version>/<module>", endpoint="sugar_create")
    @authed
    def create(version: str, module: str) -> Any:
        with state.lock:
            record = state.store.create(_module(state, module), _body(), flask.g.sugar_user)
            return flask.jsonify(render_record(MODULES[module], record))

    @app.get("/rest/<version>/<module>/<record_id>", endpoint="sugar_read")
    @authed
    def read(version: str, module: str, record_id: str) -> Any:
        with state.lock:
            record = state.store.require(_module(state, module), record_id)
            return flask.jsonify(render_record(MODULES[module], record, _fields(flask.request.args.get("fields"))))

    @app.put("/rest/<version>/<module>/<record_id>", endpoint="sugar_update")
    @authed
    def update(version: str, module: str, record_id: str) -> Any:
        stamp = flask.request.headers.get("X-Timestamp")
        expected = parse_datetime(stamp) if stamp else None
        with state.lock:
            record = state.store.update(_module(state, module), record_id, _body(), flask.g.sugar_user, expected)
            return flask.jsonify(render_record(MODULES[module], record))

    @app.delete("/rest/<version>/<module>/<record_id>", endpoint="sugar_delete")
    @authed
    def delete(version: str, module: str, record_id: str) -> Any:
        with state.lock:
            state.store.delete(_module(state, module), record_id, flask.g.sugar_user)
        return flask.jsonify({"id": record_id})

    @app.get("/rest/<version>/<module>/<record_id>/link/<link>", endpoint="sugar_linked")
    @authed
    def linked(version: str, module: str, record_id: str, link: str) -> Any:
        args = _query_args()
        with state.lock:
            remote, rows = state.linked(_module(state, module), record_id, link)
            return flask.jsonify(_page(state, MODULES[remote], _filtered(state, remote, rows, args), args))

    @app.post("/rest/<version>/<module>/<record_id>/link/<link>/<remote_id>", endpoint="sugar_link")
    @authed
    def link(version: str, module: str, record_id: str, link: str, remote_id: str) -> Any:
        with state.lock:
            record, remote = state.link(_module(state, module), record_id, link, remote_id, flask.g.sugar_user)
            remote_module = MODULES[module].links[link]
            return flask.jsonify({"record": render_record(MODULES[module], record),
                                  "related_record": render_record(MODULES[remote_module], remote)})

    @app.post("/rest/<version>/Leads/<record_id>/convert", endpoint="sugar_convert")
    @authed
    def convert(version: str, record_id: str) -> Any:
        body = _body()
        if "modules" not in body:
            raise missing("Missing parameter: modules")
        with state.lock:
            beans = state.convert_lead(record_id, body["modules"], flask.g.sugar_user)
            return flask.jsonify({"modules": [render_record(MODULES[m], r) for m, r in beans]})

    @app.get("/rest/<version>/<module>/enum/<field>", endpoint="sugar_enum")
    @authed
    def enum(version: str, module: str, field: str) -> Any:
        f = MODULES[_module(state, module)].field(field)
        if f is None:
            raise not_found(f"field not found: {field}")
        if not f.options:
            raise invalid(f"{field} is not an enum field")
        return flask.jsonify({value: value for value in state.dropdowns[f.options]})

    @app.get("/rest/<version>/metadata", endpoint="sugar_metadata")
    @authed
    def metadata(version: str) -> Any:
        wanted = _csv(flask.request.args.get("module_filter")) or list(MODULES)
        modules = {}
        for name in wanted:
            if name in MODULES:
                modules[name] = {"fields": {f.name: _field_meta(f) for f in MODULES[name].fields.values()}}
        return flask.jsonify({"modules": modules, "_hash": "sandbox"})

    @app.post("/rest/<version>/bulk", endpoint="sugar_bulk")
    @authed
    def bulk(version: str) -> Any:
        requests_ = _body().get("requests")
        if not isinstance(requests_, list):
            raise missing("Missing parameter: requests")
        return flask.jsonify([_sub_request(app, item) for item in requests_])

    @app.route("/rest/<version>/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
               endpoint="sugar_no_method")
    def no_method(version: str, rest: str) -> Any:
        _check_version(version)
        raise ApiError(404, "no_method", f"Could not find a route with {len(rest.split('/'))} elements")


def _check_version(version: str) -> None:
    if not VERSION.match(version):
        raise ApiError(301, "incorrect_version", f"The API version {version} is not supported")


def _token() -> str | None:
    header = flask.request.headers.get("OAuth-Token")
    if header:
        return header.strip()
    auth = flask.request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _module(state: SugarState, name: str) -> str:
    if name not in MODULES:
        raise not_found(f"Could not find module: {name}")
    return name


def _query_args() -> dict[str, Any]:
    args: dict[str, Any] = dict(flask.request.args)
    if any(key.startswith("filter[") for key in args):
        raise invalid("the sandbox reads filters as one JSON array (filter=[...]) or from a POST body")
    if "filter" in args:
        try:
            args["filter"] = json.loads(args["filter"])
        except ValueError:
            raise invalid("filter is not valid JSON") from None
    return args


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _int_arg(args: dict[str, Any], name: str, default: int) -> int:
    value = args.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"{name} must be a number") from None


def _csv(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _fields(value: Any) -> list[str] | None:
    names = _csv(value)
    return names or None


def _filtered(state: SugarState, module: str, rows: list[dict[str, Any]], args: dict[str, Any]) -> list:
    schema = MODULES[_module(state, module)]
    predicate = compile_filter(schema, args.get("filter"))
    terms = order_terms(schema, args.get("order_by"))
    # Deleted rows carry no field values worth filtering on: the id and the flag come back.
    kept = [r for r in rows if r.get("deleted") or predicate(r)]
    return ordered(kept, terms)


def _page(state: SugarState, schema: Any, rows: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    """Offset paging over the result evaluated now: records that change between two pages move
    within it, so offset paging across writes skips or repeats records."""
    offset = max(0, _int_arg(args, "offset", 0))
    size = _int_arg(args, "max_num", 20)
    size = state.max_fetch if size < 1 else min(size, state.max_fetch)
    page = rows[offset:offset + size]
    next_offset = offset + len(page) if offset + len(page) < len(rows) else -1
    fields = _fields(args.get("fields"))
    return {"next_offset": next_offset, "records": [render_record(schema, r, fields) for r in page]}


def _field_meta(f: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f.name, "type": f.type, "required": f.required}
    if f.len:
        meta["len"] = f.len
    if f.options:
        meta["options"] = f.options
    if f.custom:
        meta["custom_module"] = True
    return meta


def _sub_request(app: flask.Flask, item: Any) -> dict[str, Any]:
    """One bulk sub-request, answered with its own status (not a separate HTTP call)."""
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        return {"contents": missing("Each bulk request needs a url").body(), "headers": {}, "status": 422}
    data = item.get("data")
    if data is not None and not isinstance(data, str):
        error = invalid("Bulk request data must be a JSON-encoded string")
        return {"contents": error.body(), "headers": {}, "status": error.status}
    method = str(item.get("method") or "GET").upper()
    headers = {"OAuth-Token": _token() or "", "Content-Type": "application/json"}
    with app.test_request_context("/rest" + item["url"], method=method, data=data or None, headers=headers):
        try:
            response = app.make_response(app.dispatch_request())
        except ApiError as exc:
            response = _error(exc)
        except Exception as exc:   # werkzeug's 404/405 for unknown routes
            code = getattr(exc, "code", 500)
            return {"contents": {"error": "no_method", "error_message": str(exc)}, "headers": {},
                    "status": code if isinstance(code, int) else 500}
        return {"contents": response.get_json(silent=True), "headers": {}, "status": response.status_code}
