"""Runs, changes and errors from the state store as plain dicts, masked by the redactor: one shape
for ``leadsync logs --json`` and the review page."""

from __future__ import annotations

from typing import Any, Callable

from connector.state.store import json_safe


def run_dict(r: dict[str, Any]) -> dict[str, Any]:
    duration = (r["finished_at"] - r["started_at"]).total_seconds() if r.get("finished_at") else None
    calls = {system: (usage or {}).get("calls") for system, usage in (r.get("api") or {}).items()}
    return json_safe({"id": r["id"], "kind": r["kind"], "started_at": r["started_at"], "finished_at": r.get("finished_at"),
                      "duration_s": round(duration, 1) if duration is not None else None, "outcome": r["outcome"],
                      "counts": r.get("counts") or {}, "api_calls": calls, "api": r.get("api") or {},
                      "message": r.get("message"), "account": r.get("account")})


def change_dict(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "run_id", "at", "system", "record_id", "hubspot_id", "email", "field", "old", "new", "rule", "definition_version")
    return json_safe({k: r.get(k) for k in keys})


def error_dict(r: dict[str, Any], detail: bool) -> dict[str, Any]:
    keys = ("id", "run_id", "at", "kind", "system", "hubspot_id", "email", "message") + (("detail",) if detail else ())
    return json_safe({k: r.get(k) for k in keys})


def shape(kind: str, row: dict[str, Any], detail: bool, mask: Callable[[Any], str]) -> dict[str, Any]:
    shaped = run_dict(row) if kind == "runs" else change_dict(row) if kind == "changes" else error_dict(row, detail)
    return _masked(shaped, mask)


def _masked(value: Any, mask: Callable[[Any], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, mask) for v in value]
    return value
