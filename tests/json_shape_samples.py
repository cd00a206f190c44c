"""Real ``--json`` documents built the way each command builds them, from test stores: the
samples docs/json-shapes.md is checked against (tests/cli/test_json_shapes.py)."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta
from typing import Any, Callable

from rich.console import Console


def _captured(fn: Callable[[], Any]) -> Any:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        fn()
    return json.loads(buffer.getvalue())


def reports(rt: Any) -> dict[str, Any]:
    from connector.cli.reports import show_report
    return {f"report {kind}": _captured(lambda k=kind: show_report(rt, k, as_json=True, since="30d"))
            for kind in ("funnel", "sla", "queue")}


def logs(store: Any) -> dict[str, Any]:
    from tests.cli import test_logs_view as L
    out = {"logs": json.loads(L.run(store, "--run", "2", "--json")),
           "logs --errors": json.loads(L.run(store, "--errors", "--json"))}
    lines = L.run(store, "--json", "--follow", polls=0, interval=0)
    out["logs --follow --json (one line)"] = json.loads(lines.splitlines()[0])
    return out


def quarantine(rt: Any) -> dict[str, Any]:
    from connector.cli.render import print_quarantine
    from tests.cli.test_reports import NOW
    rt.store.quarantine(system="salesforce", hubspot_id="2", email="bo@beta.io", operation="handoff",
                        code="REQUIRED_FIELD_MISSING", reason="Salesforce refused the record", detail=None,
                        transient=False, now=NOW, next_attempt_at=None)
    return {"quarantine list": _captured(lambda: print_quarantine(rt.store.quarantined(), as_json=True,
                                                                   redactor=rt.redactor))}


def sync_summary() -> dict[str, Any]:
    from connector.cli.render import summary_dict
    from tests.cli.test_reports import a_summary
    s = a_summary()
    s.sla_breaches = [{"email": "bo@beta.io", "handoff_at": "2026-11-24T09:00:00+00:00",
                       "breaches": ["first touch after target"]}]
    return {"sync": summary_dict(s)}


def simulation() -> dict[str, Any]:
    from connector.core.simulate import simulate, simulation_dict
    from tests.core.test_simulate import CURRENT, NOW, PEOPLE, SINCE, STRICTER
    return {"definition simulate": json.loads(json.dumps(simulation_dict(simulate(PEOPLE, CURRENT, STRICTER, SINCE, NOW)),
                                                         default=str))}


def explain(rt: Any) -> dict[str, Any]:
    from connector.cli.explain_cmd import explain_email
    from connector.core.model import Activity
    from tests.cli.test_explain_view import ANN, NOW, save
    save(rt, "9", ANN, stage="mql", handoff_at=NOW - timedelta(minutes=10), crm_id="00Q1", crm_object="Lead",
         crm_status="Open - Not Contacted", owner_id="005REP", crm_fields={"bant_budget": True})
    rt.store.add_activities({"9": [Activity("form_submission", NOW - timedelta(days=1), {"form_id": "demo-request"},
                                            "hubspot", "f1")]})
    return {"explain": _captured(lambda: explain_email(rt, ANN["email"], as_json=True, console=Console(file=io.StringIO())))}


def resync() -> dict[str, Any]:
    from connector.cli.render import summary_dict
    from connector.cli.resync_cmd import Account, account_dict, applied_doc, applied_rows, dry_run_doc, plan_rows
    from connector.ports import Account as CrmAccount, CrmRecord, Person
    from tests.cli.test_reports import NOW, a_summary
    person = Person("101", {"email": "ann@acme.com", "first_name": "Ann", "last_name": "Lee", "company": "Acme"}, NOW, "77")
    record = CrmRecord("00Q1", "Lead", "ann@acme.com", "101", "Open - Not Contacted", "005A",
                       {"first_name": "Ann", "last_name": "Lee"}, NOW)
    described = account_dict(Account("acme.com", "acme.com", "Acme", CrmAccount("001A", "Acme", "acme.com", "005A", False),
                                     "77", [person], [record], []))
    people = {"101": {"name": "Ann Lee", "email": "ann@acme.com"}}
    planned = [{"system": "hubspot", "key": "101", "record": "101", "object": "contact",
                "current": {"leadsync_stage": "lead"}, "values": {"leadsync_stage": "mql"}, "rule": "qualified"}]
    changes = [{"hubspot_id": "101", "email": "ann@acme.com", "system": "hubspot", "record_id": "101",
                "field": "leadsync_stage", "old": "lead", "new": "mql", "rule": "qualified"}]
    rules = {("hubspot", "leadsync_stage"): "leadsync writes"}
    return {"resync --dry-run": dry_run_doc(described, plan_rows(planned, people, rules)),
            "resync": applied_doc(summary_dict(a_summary()), described, applied_rows(changes, people, rules))}


def quarantine_actions(config: str) -> dict[str, Any]:
    """``quarantine retry`` and ``drop`` through the command line, on a store with one entry."""
    from connector.cli.commands import main
    out = {"quarantine retry": _captured(lambda: main(["--config", config, "quarantine", "retry", "--json"]))}
    out["quarantine drop"] = _captured(lambda: main(["--config", config, "quarantine", "drop", "--all", "--yes", "--json"]))
    return out
