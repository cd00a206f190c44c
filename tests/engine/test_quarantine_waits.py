"""Quarantine does what it says: a permanent refusal waits for a person (no retries, one log
row), ``drop`` needs ids or ``--all --yes``, and a dropped record stays dropped, even through a
full reconciliation, until someone asks for a retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from connector.cli.commands import main
from connector.state import schema as s
from tests.engine.test_engine_order import NOW, FakeCrm, FakeHubSpot, engine_for, qualified_person  # noqa: F401 (fixture)


def _error_rows(store):
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(s.errors).where(s.errors.c.kind == "quarantined")).scalar()


@pytest.fixture
def refused(engine_for):
    hubspot = FakeHubSpot([[qualified_person(1, NOW - timedelta(hours=3)), qualified_person(2, NOW - timedelta(hours=3))]])
    crm = FakeCrm(failing={"2"})
    engine = engine_for(hubspot, crm)
    engine.cycle(legs=("marketing",))
    return engine, crm


def test_given_permanent_refusal_when_cycles_and_reconciles_run_then_not_retried_and_logged_once(refused):
    engine, crm = refused
    upserts = crm.upserts
    for _ in range(3):
        engine.cycle(legs=("marketing",))
    engine.reconcile()
    [entry] = engine.store.quarantined()
    assert entry.attempts == 1 and entry.waits_for_person
    assert crm.upserts == upserts, "a record that waits for a person is not sent again"
    assert _error_rows(engine.store) == 1


def test_given_retry_asked_then_tried_once_more_and_logged_once_still(refused):
    engine, crm = refused
    [entry] = engine.store.quarantined()
    engine.store.make_due([entry.id], NOW)
    engine.cycle(legs=("marketing",))
    [again] = engine.store.quarantined()
    assert again.attempts == 2 and not again.transient
    assert _error_rows(engine.store) == 1


def test_given_dropped_entry_when_reconciled_then_it_stays_dropped(refused):
    engine, crm = refused
    [entry] = engine.store.quarantined()
    assert engine.store.drop_quarantined([entry.id], NOW) == 1
    upserts = crm.upserts
    engine.reconcile()
    engine.cycle(legs=("marketing",))
    assert engine.store.quarantined() == [], "not quarantined again"
    assert crm.upserts == upserts and engine.store.people()["2"]["stage"] == "subscriber"
    [kept] = engine.store.quarantined(include_dropped=True)
    assert kept.dropped_at is not None
    assert engine.store.make_due(None, NOW) == 0, "retrying everything leaves a drop alone"
    engine.store.make_due([entry.id], NOW)
    assert engine.store.quarantined()[0].dropped_at is None


def _config(tmp_path, sqlite_url):
    path = tmp_path / "c.toml"
    path.write_text(f'[state]\nurl = "{sqlite_url}"\n')
    return str(path)


def test_given_drop_without_ids_then_refused_with_exit_2_and_nothing_dropped(refused, tmp_path, sqlite_url, capsys):
    engine, _ = refused
    config = _config(tmp_path, sqlite_url)
    assert main(["--config", config, "quarantine", "drop"]) == 2
    assert "--all --yes" in capsys.readouterr().err
    assert main(["--config", config, "quarantine", "drop", "--all"]) == 2
    assert main(["--config", config, "quarantine", "drop", "999"]) == 2
    assert len(engine.store.quarantined()) == 1
    assert main(["--config", config, "quarantine", "drop", "--all", "--yes"]) == 0
    assert engine.store.quarantined() == []


def test_given_failed_follow_up_task_when_synced_then_the_person_is_not_held(engine_for):
    hubspot = FakeHubSpot([[qualified_person(1, NOW - timedelta(hours=3))]])
    engine = engine_for(hubspot, FakeCrm())
    engine.cycle(legs=("marketing",))
    engine.store.quarantine(system="salesforce", hubspot_id="1", email=None, operation="task", code="X", reason="r",
                            detail=None, transient=False, now=NOW, next_attempt_at=None)
    assert engine.store.held(["1"]) == set()
