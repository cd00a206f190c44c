"""End to end: one account by hand. The dry run shows the diff and writes nothing; the real
run writes exactly that diff and is logged as a run of kind "resync"."""

from __future__ import annotations

import json

import pytest

from connector.cli.commands import main
from connector.app.runtime import Runtime

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(people=120)


@pytest.fixture
def config(sandbox, sqlite_url, sandbox_config):
    path = sandbox_config(sandbox, sqlite_url)
    with Runtime.from_config_path(path) as rt:
        rt.sync()
    return path


def drifted_account(sandbox, config):
    """A handed-off person whose HubSpot values someone overwrote by hand: the incremental loop
    would fix it too, but here the account is resynced before that."""
    with Runtime.from_config_path(config, connect=False) as rt:
        person = next(p for p in rt.store.people().values() if p["stage"] == "mql")
    sandbox.hubspot.update_contact(person["hubspot_id"], {"leadsync_stage": "lead", "leadsync_score": "3"})
    return person


def test_given_drift_when_dry_run_then_diff_shown_and_nothing_written(sandbox, config, capsys):
    person = drifted_account(sandbox, config)
    capsys.readouterr()
    mark = sandbox.calls.mark()
    assert main(["--config", config, "resync", "--account", person["email_domain"], "--dry-run", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert [c for c in sandbox.calls.since(mark) if c.write] == []
    changes = {(c["system"], c["field"]): c for c in planned["changes"] if c["hubspot_id"] == person["hubspot_id"]}
    assert changes[("hubspot", "leadsync_stage")]["current"] == "lead"
    assert changes[("hubspot", "leadsync_stage")]["planned"] == "mql"
    assert ("hubspot", "leadsync_score") in changes
    assert sandbox.hubspot.contact(person["hubspot_id"])["leadsync_stage"] == "lead"

    # The real run writes exactly the planned diff.
    capsys.readouterr()
    mark = sandbox.calls.mark()
    assert main(["--config", config, "resync", "--account", person["email_domain"], "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "resync" and summary["counts"]["written_hubspot"] == len(
        {c["hubspot_id"] for c in planned["changes"] if c["system"] == "hubspot"})
    assert sandbox.hubspot.contact(person["hubspot_id"])["leadsync_stage"] == "mql"
    with Runtime.from_config_path(config, connect=False) as rt:
        from sqlalchemy import select
        from connector.state.schema import changes as changes_table, runs
        with rt.store.engine.connect() as conn:
            run = conn.execute(select(runs).where(runs.c.id == summary["run_id"])).one()
            written = {(r.system, r.hubspot_id, r.field) for r in conn.execute(
                select(changes_table).where(changes_table.c.run_id == summary["run_id"]))}
    assert run.kind == "resync" and run.account == person["email_domain"]
    assert written == {(c["system"] if c["system"] == "hubspot" else "salesforce", c["hubspot_id"], c["field"])
                       for c in planned["changes"]}
    assert {(c["system"], c["hubspot_id"], c["field"]) for c in summary["changes"]} == written
    assert summary["account"]["domain"] == person["email_domain"]


def test_given_domain_when_resynced_then_account_and_people_named_and_applied_changes_printed(sandbox, config, capsys):
    person = drifted_account(sandbox, config)
    capsys.readouterr()
    assert main(["--config", config, "resync", "--account", person["email_domain"]]) == 0
    out = capsys.readouterr().out
    assert f"Account {person['email_domain']}" in out
    assert "Salesforce Account" in out and "HubSpot company" in out and "In HubSpot (" in out
    assert person["email"] in out
    assert "Changes applied:" in out and "leadsync_stage" in out and "lead → mql" in out
    assert "leadsync writes" in out, "the rule column is the field's sync rule"


@pytest.mark.parametrize("spelling", ["www.{d}", "https://www.{d}/about"])
def test_given_url_or_www_spelling_when_dry_run_then_same_plan_as_the_bare_domain(sandbox, config, capsys, spelling):
    person = drifted_account(sandbox, config)
    capsys.readouterr()
    assert main(["--config", config, "resync", "--account", person["email_domain"], "--dry-run", "--json"]) == 0
    bare = json.loads(capsys.readouterr().out)
    assert bare["changes"]
    assert main(["--config", config, "resync", "--account", spelling.format(d=person["email_domain"]), "--dry-run",
                 "--json"]) == 0
    spelled = json.loads(capsys.readouterr().out)
    assert spelled["changes"] == bare["changes"] and spelled["account"]["domain"] == person["email_domain"]


def test_given_unknown_account_when_resynced_then_exit_2_and_nothing_written(sandbox, config, capsys):
    mark = sandbox.calls.mark()
    assert main(["--config", config, "resync", "--account", "nosuchco.example", "--dry-run"]) == 2
    assert "matches no HubSpot company" in capsys.readouterr().err
    assert [c for c in sandbox.calls.since(mark) if c.write] == []


def test_given_dry_run_when_logged_then_it_is_a_dry_run_not_a_resync(sandbox, config, capsys):
    person = drifted_account(sandbox, config)
    assert main(["--config", config, "resync", "--account", person["email_domain"], "--dry-run", "--json"]) == 0
    with Runtime.from_config_path(config, connect=False) as rt:
        from connector.state.logquery import LogFilter
        [run] = rt.store.log_rows("runs", LogFilter(limit=1))
    assert run["kind"] == "resync-dry-run"
