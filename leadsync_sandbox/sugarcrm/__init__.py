"""The sandbox's SugarCRM: a REST v11 emulator (``/rest/<version>/…``) over an in-memory
instance, seeded from the same marketing database as the other emulators.

    state = SugarState(seed, credentials=…)     # records, sessions, admin acts
    app = create_app(state, faults, calls)      # Flask: REST API + /__admin__ routes
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import flask

from leadsync_sandbox import faults as fault_injection
from leadsync_sandbox.sugarcrm.rest import error_body, register_rest
from leadsync_sandbox.sugarcrm.seed import SugarSeed, build_sugar_seed
from leadsync_sandbox.sugarcrm.state import SugarState

__all__ = ["SugarSeed", "SugarState", "build_sugar_seed", "create_app", "error_body"]

# Admin methods callable over HTTP (add_validation_hook takes a callable: Python only).
ACTIONS = frozenset({"set_lead_status", "log_touch", "set_bant", "set_sales_stage", "convert_by_hand",
                     "add_record", "delete_record", "expire_tokens", "end_sessions", "conflict_on",
                     "set_max_fetch", "register_platform", "unregister_platform", "clear_validation_hooks"})


def create_app(state: SugarState, faults: fault_injection.Faults, calls: fault_injection.CallLog) -> flask.Flask:
    app = flask.Flask("leadsync-sandbox-sugarcrm")
    app.json.sort_keys = False          # Sugar keeps dropdown order in its answers
    fault_injection.install(app, "sugarcrm", faults, calls, error_body=error_body,
                            read_only_endpoints=("sugar_filter", "sugar_token", "sugar_logout"))
    register_rest(app, state)
    _register_admin(app, state, faults, calls)
    return app


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _register_admin(app: flask.Flask, state: SugarState, faults: fault_injection.Faults,
                    calls: fault_injection.CallLog) -> None:
    fault_injection.add_admin_routes(app, "sugarcrm", faults, calls)

    @app.post("/__admin__/actions/<action>")
    def admin_action(action: str) -> Any:
        if action not in ACTIONS:
            return flask.jsonify({"error": f"unknown action {action!r}", "actions": sorted(ACTIONS)}), 404
        kwargs = flask.request.get_json(silent=True) or {}
        if isinstance(kwargs.get("at"), str):
            kwargs["at"] = datetime.fromisoformat(kwargs["at"].replace("Z", "+00:00"))
        try:
            result = getattr(state, action)(**kwargs)
        except (KeyError, ValueError, TypeError) as exc:
            return flask.jsonify({"error": str(exc) or type(exc).__name__}), 400
        return flask.jsonify({"result": _plain(result)})

    @app.get("/__admin__/records/<module>")
    def admin_records(module: str) -> Any:
        return flask.jsonify({"records": _plain(state.records(module))})

    @app.get("/__admin__/state")
    def admin_state() -> Any:
        return flask.jsonify({"counts": state.counts(), "max_fetch": state.max_fetch,
                              "logins": state.sessions.logins, "refreshes": state.sessions.refreshes})
