"""JSON admin routes for people and subprocess tests: the same admin API as the Python
methods on SalesforceState. Under ``/__admin__`` they are never recorded, faulted or counted.

    POST /__admin__/actions/<method>   {"lead_id": "...", "status": "..."}  → {"result": ...}
    GET  /__admin__/records/<object>   → {"records": [...]}
    GET  /__admin__/state              → API usage, page size, record counts
    GET  /__admin__/calls, GET/POST/DELETE /__admin__/faults (shared, see faults.py)
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any

import flask

from leadsync_sandbox.faults import CallLog, Faults, add_admin_routes
from leadsync_sandbox.salesforce_schema import OBJECTS, sobject
from leadsync_sandbox.salesforce_store import RecordError
from leadsync_sandbox.salesforce_values import to_json

# Admin methods callable over HTTP (add_validation_rule needs a callable: Python only).
ACTIONS = frozenset({
    "set_lead_status", "log_touch", "set_bant", "convert_by_hand", "set_opportunity",
    "hard_delete", "merge_leads", "touch_without_modstamp", "expire_sessions", "set_api_usage",
    "lock_record", "set_page_size", "set_assignment_rule", "add_record", "clear_validation_rules",
})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if is_dataclass(value):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def register_admin(app: flask.Flask, state, faults: Faults, calls: CallLog) -> None:
    add_admin_routes(app, "salesforce", faults, calls)

    @app.post("/__admin__/actions/<action>")
    def admin_action(action: str):
        if action not in ACTIONS:
            return flask.jsonify({"error": f"unknown action {action!r}",
                                  "actions": sorted(ACTIONS)}), 404
        kwargs = flask.request.get_json(silent=True) or {}
        if "at" in kwargs and isinstance(kwargs["at"], str):
            kwargs["at"] = datetime.fromisoformat(kwargs["at"].replace("Z", "+00:00"))
        try:
            result = getattr(state, action)(**kwargs)
        except (KeyError, ValueError, TypeError, RecordError) as exc:
            return flask.jsonify({"error": str(exc) or type(exc).__name__}), 400
        return flask.jsonify({"result": _plain(result)})

    @app.get("/__admin__/records/<name>")
    def admin_records(name: str):
        obj = sobject(name)
        if obj is None:
            return flask.jsonify({"error": f"unknown object {name!r}"}), 404
        deleted = flask.request.args.get("include_deleted", "").lower() == "true"
        rows = [{f.name: to_json(f, r.get(f.name)) for f in obj.fields}
                for r in state.records(obj.name, include_deleted=deleted)]
        return flask.jsonify({"records": rows})

    @app.get("/__admin__/state")
    def admin_state():
        return flask.jsonify({
            "api_usage": {"used": state.api_usage(), "limit": state.daily_limit},
            "page_size": state.page_size,
            "records": {o.name: len(state.records(o.name)) for o in OBJECTS.values()},
        })
