"""What each page shows, as plain dicts read from the state store. No Flask here: views.py renders
these with the templates, and the tests compare them with ``leadsync report --json``.

The funnel, SLA and queue figures come from ``connector.app.reporting.build_report``: the very
dicts the command prints, so the page and the JSON can never disagree. Runs, changes and errors
are shaped by the log view's functions, so the page shows what ``leadsync logs --json`` shows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from connector.app.explaining import judge_stored
from connector.app.logshapes import shape
from connector.app.reporting import build_report, period_start
from connector.state.logquery import LogFilter
from connector.web.charts import compliance_of
from connector.web.fixes import error_fix, fix_for

RUNS_SHOWN, ROWS_SHOWN = 100, 5000


def _budget(api: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per system: calls this run, and the daily allocation as last reported."""
    return [{"system": system, "calls": (u or {}).get("calls"), "retries": (u or {}).get("retries"),
             "remaining": (u or {}).get("remaining"), "limit": (u or {}).get("limit")}
            for system, u in sorted((api or {}).items())]


def runs(rt: Any, limit: int = RUNS_SHOWN) -> list[dict[str, Any]]:
    rows = rt.store.log_rows("runs", LogFilter(limit=limit))
    shaped = [shape("runs", r, False, rt.redactor) for r in reversed(rows)]
    return [{**d, "budget": _budget(d["api"])} for d in shaped]


def run(rt: Any, run_id: int) -> dict[str, Any] | None:
    found = rt.store.log_rows("runs", LogFilter(run_id=run_id))
    if not found:
        return None
    f = LogFilter(run_id=run_id, limit=ROWS_SHOWN)
    d = shape("runs", found[0], False, rt.redactor)
    return {**d, "budget": _budget(d["api"]),
            "changes": [shape("changes", r, False, rt.redactor) for r in rt.store.log_rows("changes", f)],
            "errors": [shape("errors", r, False, rt.redactor) for r in rt.store.log_rows("errors", f)]}


def errors(rt: Any, since: str = "30d") -> dict[str, Any]:
    """Errors grouped by kind, and the quarantine grouped by (system, operation, code)."""
    start = period_start(since, rt.clock())
    rows = [shape("errors", r, False, rt.redactor) for r in rt.store.log_rows("errors", LogFilter(since=start, limit=ROWS_SHOWN))]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in reversed(rows):
        by_kind[r["kind"]].append(r)
    error_groups = [{"kind": kind, "count": len(items), "latest": items[0]["at"], "fix": error_fix(kind), "rows": items}
                    for kind, items in sorted(by_kind.items(), key=lambda kv: -len(kv[1]))]
    held: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for e in rt.store.quarantined():
        held[(e.system, e.operation, e.code or "")].append(e)
    quarantine_groups = []
    for (system, operation, code), entries in sorted(held.items(), key=lambda kv: -len(kv[1])):
        quarantine_groups.append({
            "system": system, "operation": operation, "code": code or None, "count": len(entries),
            "reason": rt.redactor(entries[0].reason),
            "fix": fix_for(code, transient=entries[0].transient, ids=[e.id for e in entries]),
            "records": [{"id": e.id, "hubspot_id": e.hubspot_id, "email": rt.redactor(e.email) if e.email else None,
                         "reason": rt.redactor(e.reason), "attempts": e.attempts, "transient": e.transient,
                         "next_attempt_at": e.next_attempt_at.isoformat() if e.next_attempt_at else None,
                         "since": e.created_at.isoformat(), "fix": fix_for(e.code, transient=e.transient, ids=[e.id])}
                        for e in entries]})
    return {"since": since, "errors": error_groups, "quarantine": quarantine_groups,
            "error_count": len(rows), "quarantined": sum(g["count"] for g in quarantine_groups)}


# -- people -----------------------------------------------------------------------------------------------

def find_people(rt: Any, query: str) -> list[dict[str, Any]]:
    text = query.strip()
    if not text:
        return []
    found = rt.store.find_people(email=text) if "@" in text else rt.store.find_people(domain=text)
    found += list(rt.store.people([text]).values())
    unique = {p["hubspot_id"]: p for p in found}
    return [_person_row(rt, p) for p in sorted(unique.values(), key=lambda p: p["hubspot_id"])]


def _person_row(rt: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    return {"hubspot_id": p["hubspot_id"], "email": rt.redactor(p["email"]) if p.get("email") else None,
            "stage": p["stage"], "score": p.get("score"), "crm_id": p.get("crm_id"), "owner_id": p.get("owner_id"),
            "handoff_at": p["handoff_at"].isoformat() if p.get("handoff_at") else None,
            "reason": rt.redactor(p["reason"]) if p.get("reason") else None,
            "definition_version": p.get("definition_version")}


def explanation(rt: Any, person: Mapping[str, Any]) -> dict[str, Any]:
    """The stored lead evaluated from the stage it holds, as ``leadsync explain --json`` does."""
    from connector.core.explain import explanation_dict
    judged = judge_stored(rt, person)
    return explanation_dict(judged.result, judged.lead)


def person(rt: Any, hubspot_id: str) -> dict[str, Any] | None:
    found = rt.store.people([hubspot_id])
    if not found:
        return None
    p = found[hubspot_id]
    f = LogFilter(hubspot_ids=(hubspot_id,), limit=ROWS_SHOWN)
    mask = rt.redactor
    return {**_person_row(rt, p), "explanation": _masked(explanation(rt, p), mask),
            "transitions": [{"at": t["at"].isoformat(), "from": t["from_stage"], "to": t["to_stage"], "cause": t["cause"],
                             "rule": mask(t["rule"]) if t.get("rule") else None,
                             "definition_version": t["definition_version"], "run_id": t["run_id"]}
                            for t in rt.store.transitions(hubspot_ids=[hubspot_id])],
            "changes": [shape("changes", r, False, mask) for r in rt.store.log_rows("changes", f)],
            "errors": [shape("errors", r, False, mask) for r in rt.store.log_rows("errors", f)],
            "quarantine": [{"id": e.id, "system": e.system, "operation": e.operation, "reason": mask(e.reason),
                            "fix": fix_for(e.code, transient=e.transient, ids=[e.id])}
                           for e in rt.store.quarantined() if e.hubspot_id == hubspot_id]}


def _masked(value: Any, mask: Callable[[Any], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, mask) for v in value]
    return value


# -- funnel, SLA, queue -------------------------------------------------------------------------------------

def quarter_start(now: datetime) -> datetime:
    month = 3 * ((now.month - 1) // 3) + 1
    return now.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def quarter_to_date(rt: Any) -> dict[str, Any]:
    """Marketing's commitment: handoffs this quarter against ``qualified_per_quarter``, pro rata."""
    now = rt.clock()
    start = quarter_start(now)
    end = quarter_start(start + timedelta(days=100))
    mqls = sum(1 for t in rt.store.transitions(since=start) if t["to_stage"] == "mql" and t["at"] <= now)
    commitment = rt.definition.sla.qualified_per_quarter
    expected = round(commitment * (now - start) / (end - start), 1) if commitment else None
    return {"quarter_start": start.date().isoformat(), "mqls": mqls, "commitment": commitment,
            "expected_by_now": expected,
            "on_track": None if expected is None else mqls >= expected}


def funnel(rt: Any, since: str) -> dict[str, Any]:
    return {"report": build_report(rt, "funnel", since), "quarter": quarter_to_date(rt)}


def sla(rt: Any, since: str) -> dict[str, Any]:
    report = build_report(rt, "sla", since)
    owners = {hid: p.get("owner_id") for hid, p in rt.store.people([r["hubspot_id"] for r in report["leads"]]).items()}
    by_rep: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lead in report["leads"]:
        by_rep[owners.get(lead["hubspot_id"]) or "(no owner)"].append(lead)
    reps = [{"owner_id": rep, **compliance_of(leads)} for rep, leads in sorted(by_rep.items())]
    return {"report": report, "reps": reps}


def queue(rt: Any, since: str) -> dict[str, Any]:
    return {"report": build_report(rt, "queue", since)}
