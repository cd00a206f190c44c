"""Helpers for the SugarCRM end-to-end suites: a seeded Sugar sandbox, what it holds, and the
fault-free yardstick (the Sugar twin of fault_helpers' Salesforce snapshot)."""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import Any

from leadsync_sandbox.server import Sandbox
from tests import fault_helpers as F

TASK_SUBJECT = F.TASK_SUBJECT
CRM_KEYS = ("leadsync_stage_c", "leadsync_score_c", "leadsync_reason_c", "leadsync_definition_version_c",
            "status", "email1")


def new_sugar_sandbox(directory: Path, people: int = F.PEOPLE) -> Sandbox:
    return F.new_sandbox(directory, people=people, crm="sugarcrm")


def snapshot(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Both systems' synced state keyed by HubSpot id (the Sugar twin of F.snapshot)."""
    hubspot = {c["id"]: {**{k: c.get(k) for k in F.HUBSPOT_KEYS}, "handoff_at": bool(c.get("leadsync_handoff_at"))}
               for c in sandbox.hubspot.contacts()}
    state = sandbox.sugarcrm
    tasks = collections.Counter(t.get("parent_id") for t in state.records("Tasks") if t.get("name") == TASK_SUBJECT)
    crm: dict[str, Any] = {}
    for module in ("Leads", "Contacts"):
        for record in state.records(module):
            key = record.get("hubspot_contact_id_c")
            if key:
                crm[key] = {"module": module, **{k: record.get(k) for k in CRM_KEYS},
                            "handoff_at": bool(record.get("leadsync_handoff_at_c")),
                            "follow_up_tasks": tasks.get(record["id"], 0)}
    return {"hubspot": hubspot, "crm": crm}


def assert_no_duplicates(sandbox: Sandbox) -> None:
    state = sandbox.sugarcrm
    ids = collections.Counter(r["hubspot_contact_id_c"] for m in ("Leads", "Contacts")
                              for r in state.records(m) if r.get("hubspot_contact_id_c"))
    assert all(n == 1 for n in ids.values()), f"HubSpot ids on more than one record: {ids.most_common(3)}"
    emails = collections.Counter((r.get("email1") or "").lower() for r in state.records("Leads"))
    assert all(n == 1 for e, n in emails.items() if e), f"duplicate Leads by email: {emails.most_common(3)}"
    tasks = collections.Counter(t.get("parent_id") for t in state.records("Tasks") if t.get("name") == TASK_SUBJECT)
    assert all(n == 1 for n in tasks.values()), "one follow-up task per handoff"


def assert_same_as(expected: dict[str, dict[str, Any]], sandbox: Sandbox) -> None:
    actual = snapshot(sandbox)
    diff = F.differing(expected, actual)
    detail = {side: {k: (expected[side].get(k), actual[side].get(k)) for k in sorted(ids)[:3]}
              for side, ids in diff.items() if ids}
    assert not any(diff.values()), f"differs from the fault-free run: {detail}"
    assert_no_duplicates(sandbox)


_BASELINE: dict[int, dict[str, dict[str, Any]]] = {}
_LOCK = threading.Lock()


def fault_free(directory: Path, monkeypatch: Any, people: int = F.PEOPLE) -> dict[str, dict[str, Any]]:
    with _LOCK:
        if people not in _BASELINE:
            with new_sugar_sandbox(directory / "sandbox-certs", people) as sandbox, monkeypatch.context() as m:
                F.virtual_policy(m, F.VirtualTime())
                with F.runtime_for(sandbox, F.write_config(sandbox, directory / "sugar-baseline"), m) as rt:
                    first = rt.sync()
                    assert first.outcome == "ok", first.message
                    assert rt.sync().counts["written_crm"] == 0      # settled after one cycle
                _BASELINE[people] = snapshot(sandbox)
                assert_no_duplicates(sandbox)
        return _BASELINE[people]
