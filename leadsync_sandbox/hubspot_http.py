"""Request plumbing shared by the HubSpot routes: error bodies, auth, limits, parameters."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone
from typing import Any

import flask

from leadsync_sandbox.faults import ADMIN_PREFIX, drain_request_body
from leadsync_sandbox.hubspot_schema import OBJECT_TYPES
from leadsync_sandbox.hubspot_state import HubSpotState
from leadsync_sandbox.hubspot_webhooks import set_actor


class ApiError(Exception):
    """Raised by a route; answered as HubSpot's error JSON."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.category, self.extra = status, message, category, extra


def error_json(status: int, message: str, category: str, **extra: Any) -> flask.Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category, **extra}
    return flask.Response(flask.json.dumps(body), status, mimetype="application/json")


def default_error_body(status: int) -> dict[str, Any]:
    """HubSpot's body for a status a fault rule injects without one of its own."""
    category = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
                404: "OBJECT_NOT_FOUND", 409: "CONFLICT", 429: "RATE_LIMITS"}.get(status)
    if status == 429:
        return {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING"}
    if status >= 500:
        return {"status": "error", "message": "internal error", "correlationId": str(uuid.uuid4())}
    return {"status": "error", "message": "There was a problem with the request.",
            "correlationId": str(uuid.uuid4()), "category": category or "VALIDATION_ERROR"}


OAUTH_TOKEN_PATH = "/oauth/v1/token"


def install_gate(app: flask.Flask, state: HubSpotState, search_endpoints: frozenset[str]) -> None:
    """Authenticate, then charge the rate limits, before any API route runs."""

    @app.before_request
    def _gate() -> flask.Response | None:
        if flask.request.path.startswith(ADMIN_PREFIX) or flask.request.path == OAUTH_TOKEN_PATH:
            return None
        problem = state.auth_problem(flask.request.headers.get("Authorization"))
        if problem is not None:
            drain_request_body()
            return error_json(401, problem[1], problem[0])
        scope = required_scope(flask.request.endpoint, flask.request.view_args or {})
        if scope and state.scopes is not None and scope not in state.scopes:
            drain_request_body()
            return error_json(403, "This app hasn't been granted all required scopes to make this call. "
                              "Read more about required scopes here: https://developers.hubspot.com/scopes.",
                              "MISSING_SCOPES", errors=[{
                                  "message": "One or more of the following scopes are required.",
                                  "context": {"requiredGranularScopes": [scope]}}])
        verdict = state.limits.admit(search=flask.request.endpoint in search_endpoints)
        flask.g.ratelimit_headers = verdict.headers
        if not verdict.allowed:
            drain_request_body()
            return flask.Response(flask.json.dumps(verdict.body), 429, mimetype="application/json")
        set_actor("INTEGRATION")       # what this request changes, an app changed (webhook changeSource)
        return None

    @app.teardown_request
    def _forget_actor(_exc: BaseException | None) -> None:
        set_actor(None)

    @app.after_request
    def _headers(response: flask.Response) -> flask.Response:
        for name, value in (flask.g.get("ratelimit_headers") or {}).items():
            response.headers[name] = value
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> flask.Response:
        return error_json(exc.status, exc.message, exc.category, **exc.extra)

    @app.errorhandler(404)
    def _not_found(_exc: Exception) -> flask.Response:
        return error_json(404, f"Unable to route {flask.request.method} {flask.request.path}", "OBJECT_NOT_FOUND")

    @app.errorhandler(405)
    def _not_allowed(_exc: Exception) -> flask.Response:
        return error_json(405, f"{flask.request.method} is not allowed on {flask.request.path}", "VALIDATION_ERROR")


# endpoint → the scope it needs; "{kind}" is the object type in the path (contacts, companies).
SCOPES = {
    "list_objects": "crm.objects.{kind}.read", "get_object": "crm.objects.{kind}.read",
    "search": "crm.objects.{kind}.read", "batch_read": "crm.objects.{kind}.read",
    "update_object": "crm.objects.{kind}.write", "batch_update": "crm.objects.{kind}.write",
    "batch_upsert": "crm.objects.{kind}.write",
    "list_properties": "crm.schemas.{kind}.read", "get_property": "crm.schemas.{kind}.read",
    "list_groups": "crm.schemas.{kind}.read", "list_schemas": "crm.schemas.custom.read", "create_property": "crm.schemas.{kind}.write",
    "create_group": "crm.schemas.{kind}.write",
    "associations_batch_read": "crm.objects.{kind}.read", "associations_of": "crm.objects.{kind}.read",
    "email_events": "content", "forms": "forms", "forms_no_slash": "forms", "form": "forms",
}


def required_scope(endpoint: str | None, view_args: dict[str, Any]) -> str | None:
    template = SCOPES.get(endpoint or "")
    if template is None:
        return None
    raw = view_args.get("kind") or view_args.get("from_kind") or "contacts"
    kind = OBJECT_TYPES.get(str(raw).lower(), "contacts")
    return template.format(kind=kind)


def object_type(raw: str) -> str:
    try:
        return OBJECT_TYPES[raw.lower()]
    except KeyError:
        raise ApiError(400, f"Unable to infer object type from: {raw}", "VALIDATION_ERROR") from None


def json_body() -> dict[str, Any]:
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input JSON on line 1, column 1: expected a JSON object", "VALIDATION_ERROR")
    return body


def list_param(name: str) -> list[str]:
    """A multi-valued query parameter, repeated or comma-separated."""
    return [part for value in flask.request.args.getlist(name) for part in value.split(",") if part]


def int_param(name: str, default: int, *, low: int = 1, high: int | None = None) -> int:
    raw = flask.request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid value for {name}: {raw}", "VALIDATION_ERROR") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}", "VALIDATION_ERROR")
    return value


def time_param(name: str) -> datetime | None:
    """An ISO-8601 (or epoch-millisecond) instant from the query string."""
    raw = flask.request.args.get(name)
    if not raw:
        return None
    try:
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw) / 1000, tz=timezone.utc)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid value for {name}: {raw} is not an ISO-8601 date-time", "VALIDATION_ERROR") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text.removeprefix("o:"))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, f"Invalid paging cursor: {cursor}", "VALIDATION_ERROR") from None


def batch_inputs(body: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise ApiError(400, "Invalid input JSON: 'inputs' must be a list", "VALIDATION_ERROR")
    if len(inputs) > limit:
        raise ApiError(400, f"Batch input size limit exceeded: {len(inputs)} inputs, the limit is {limit}.",
                       "VALIDATION_ERROR", context={"limit": [str(limit)]})
    return [i if isinstance(i, dict) else {"id": str(i)} for i in inputs]
