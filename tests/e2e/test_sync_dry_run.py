"""``leadsync sync --dry-run``: the whole first cycle on a brownfield portal and org, read only.
It performs no write of any kind (counted on the sandbox's call log, both systems), and the
real run that follows records exactly the changes the dry run listed."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from connector.app.runtime import Runtime
from connector.cli.commands import main
from connector.cli.sync_plan import CSV_COLUMNS, change_rows
from tests.e2e.day_one_helpers import brownfield

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
PEOPLE = 300


@pytest.fixture
def portal(tmp_path, monkeypatch):
    sandbox = brownfield(tmp_path / "sandbox", PEOPLE)
    for key, value in {**sandbox.env(), "REQUESTS_CA_BUNDLE": str(sandbox.certs.ca_path)}.items():
        monkeypatch.setenv(key, value)
    config = sandbox.write_config(tmp_path / "leadsync.toml", f"sqlite:///{tmp_path / 'state.db'}")
    yield sandbox, str(config)
    sandbox.stop()


def comparable(rows):
    """A change as both runs see it; a record the dry run would create has no id yet."""
    return sorted(tuple("" if k == "record id" and r[k] == "(new)" else str(r[k] or "") for k in CSV_COLUMNS)
                  for r in rows)


def test_given_a_dry_run_then_nothing_is_written_and_the_real_run_writes_exactly_what_it_listed(portal):
    sandbox, config = portal
    moment = datetime.now(timezone.utc)
    mark = sandbox.calls.mark()
    with Runtime.from_config_path(config, clock=lambda: moment) as rt:
        summary, engine = rt.dry_run_sync()
        planned = change_rows(engine.planned_changes)
    assert summary.outcome == "ok", summary.message
    assert [c for c in sandbox.calls.since(mark) if c.write] == []
    assert sandbox.calls.since(mark, "hubspot") and sandbox.calls.since(mark, "salesforce"), "it did read both"
    assert engine.schema_plan, "the brownfield portal lacks leadsync's properties: the plan says so"
    assert planned
    fields = {(r["system"], r["field"]) for r in planned}
    assert ("hubspot", "leadsync_stage") in fields

    with Runtime.from_config_path(config, clock=lambda: moment) as rt:
        real = rt.sync()
        applied = change_rows(rt.store.changes_of_run(real.run_id))
    assert real.outcome == "ok", real.message
    assert comparable(applied) == comparable(planned)


def test_given_sync_dry_run_on_the_command_line_then_json_and_csv_list_every_planned_change(portal, tmp_path, capsys):
    sandbox, config = portal
    mark = sandbox.calls.mark()
    sheet = tmp_path / "planned.csv"
    assert main(["--config", config, "sync", "--dry-run", "--csv", str(sheet), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [c for c in sandbox.calls.since(mark) if c.write] == []
    with open(sheet, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == document["changes"] > 0
    assert document["dry_run"] is True and document["would_create"]["schema"]
    assert sum(r["records"] for r in document["writes_by_field"]) == len(rows)
    assert document["sample"] and all(set(s) == set(CSV_COLUMNS) for s in document["sample"])
    # Nothing of it was kept as done: a real run still starts from the beginning.
    with Runtime.from_config_path(config, connect=False) as rt:
        assert rt.store.cursors() == {} and rt.store.people() == {}
