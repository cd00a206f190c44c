"""A seeded history for the review page and the alerts: rows written through the ``Store`` API
only, as the engine writes them. Eight weeks of handoffs, sales' touches, two reps, runs with
changes and errors, and a quarantine of two kinds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from connector.app.config import Config, LoggingConfig
from connector.app.runtime import Runtime
from connector.core.model import Activity

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
REPS = ("005REP000000001", "005REP000000002")


def ago(**kw) -> datetime:
    return NOW - timedelta(**kw)


def runtime(tmp_path, *, redact_pii: bool = False, clock=lambda: NOW, environ=None, **config) -> Runtime:
    settings = Config(file="test.toml", state_url=f"sqlite:///{tmp_path}/state.db",
                      logging=LoggingConfig(redact_pii=redact_pii), **config)
    return Runtime.from_config(settings, connect=False, clock=clock, environ=environ or {})


def seed(store) -> dict[str, int]:
    """Returns the ids of the runs it wrote, by name."""
    people, transitions, activities = [], [], {}
    for i in range(24):
        hid = str(1000 + i)
        handoff = ago(days=3 * i + 1, hours=i % 5)
        stage = ("customer", "sql", "sal", "mql", "recycled", "mql")[i % 6]
        people.append({"hubspot_id": hid, "email": f"person{i}@company{i % 7}.com", "email_domain": f"company{i % 7}.com",
                       "stage": stage, "score": 60 + i, "handoff_at": handoff, "owner_id": REPS[i % 2], "crm_id": f"00Q{i:012d}",
                       "fields": {"email": f"person{i}@company{i % 7}.com", "first_name": f"P{i}", "last_name": "Doe",
                                  "company": f"Company {i % 7}", "employees": 250, "title": "VP Sales"},
                       "reason": "Demo request; Senior title", "definition_version": 1})
        transitions.append((hid, "lead", "mql", handoff, "definition"))
        if stage in ("sal", "sql", "customer", "recycled"):
            transitions.append((hid, "mql", "sal", handoff + timedelta(minutes=20 + 40 * (i % 3)), "sales"))
        if stage in ("sql", "customer"):
            transitions.append((hid, "sal", "sql", handoff + timedelta(days=2), "definition"))
        if stage == "customer":
            transitions.append((hid, "sql", "customer", handoff + timedelta(days=5), "opportunity"))
        if stage == "recycled":
            transitions.append((hid, "sal", "recycled", handoff + timedelta(days=3), "sales"))
        touches = [Activity("sales_touch", handoff + timedelta(minutes=15 + 50 * (i % 3) + 10 * k), {"kind": kind}, "salesforce", f"t{hid}{k}")
                   for k, kind in enumerate(("call", "email", "call", "email", "call", "email")) if stage != "mql" or k == 0 and i % 4]
        activities[hid] = touches + [Activity("form_submission", handoff - timedelta(hours=1), {"form_id": "demo-request"}, "hubspot", f"f{hid}")]
    store.save_people(people, NOW)
    for hid, old, new, at, cause in transitions:
        store.add_transition(hid, old, new, at, cause=cause, rule="Demo request" if new == "mql" else None,
                             definition_version=1, run_id=None)
    store.add_activities(activities)
    return _runs(store)


def _runs(store) -> dict[str, int]:
    ok = store.start_run("hubspot", ago(minutes=30))
    store.add_changes([
        {"run_id": ok, "at": ago(minutes=30), "hubspot_id": "1003", "email": "person3@company3.com", "system": "hubspot",
         "record_id": "1003", "field": "lifecyclestage", "old": "lead", "new": "marketingqualifiedlead",
         "rule": "qualified: Demo request", "definition_version": 1},
        {"run_id": ok, "at": ago(minutes=30), "hubspot_id": "1003", "email": "person3@company3.com", "system": "salesforce",
         "record_id": "00Q000000000003", "field": "Leadsync_Score__c", "old": None, "new": 63,
         "rule": "handoff", "definition_version": 1},
    ])
    store.finish_run(ok, ago(minutes=29), "partial", {"pulled_hubspot": 12, "pulled_crm": 3, "handed_off": 1,
                                                      "written_hubspot": 1, "written_crm": 1, "quarantined": 2},
                     {"hubspot": {"calls": 14, "retries": 1, "remaining": None, "limit": None},
                      "salesforce": {"calls": 5, "retries": 0, "remaining": 14_200, "limit": 15_000}})
    store.add_error(run_id=ok, at=ago(minutes=29), kind="record", system="salesforce", hubspot_id="1005",
                    email="person5@company5.com", message="Salesforce refused the record: FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    detail="Phone must have 10 digits")
    failed = store.start_run("salesforce", ago(minutes=10))
    store.finish_run(failed, ago(minutes=9), "failed", {}, {"salesforce": {"calls": 1, "retries": 3}},
                     "the connection to Salesforce failed")
    store.add_error(run_id=failed, at=ago(minutes=9), kind="fatal", message="the connection to Salesforce failed")
    for hid, code, reason in (("1005", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Salesforce refused the record: FIELD_CUSTOM_VALIDATION_EXCEPTION on Phone"),
                              ("1011", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Salesforce refused the record: FIELD_CUSTOM_VALIDATION_EXCEPTION on Phone"),
                              ("1017", "UNABLE_TO_LOCK_ROW", "Salesforce refused the record: UNABLE_TO_LOCK_ROW")):
        store.quarantine(system="salesforce", hubspot_id=hid, email=f"person{int(hid) - 1000}@company{(int(hid) - 1000) % 7}.com",
                         operation="write", code=code, reason=reason, detail="raw vendor body", transient=code == "UNABLE_TO_LOCK_ROW",
                         now=ago(minutes=29), next_attempt_at=ago(minutes=1) if code == "UNABLE_TO_LOCK_ROW" else None)
    return {"ok": ok, "failed": failed}
