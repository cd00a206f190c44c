"""Fault injection, process level: ``leadsync sync`` killed with SIGKILL while its writes are in
flight, and two syncs started at once on one state store. The sandbox runs in this process; the
connector runs as the real command in a subprocess. However the process dies, a rerun must leave
exactly what a fault-free run leaves: one Lead per HubSpot contact, one follow-up Task, no update
lost. On each CRM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.state import schema as state_schema
from leadsync_sandbox.faults import FaultRule
from connector.state.store import Store
from tests import fault_helpers as F
from tests.crm_helpers import Driver, crm, crm_name  # noqa: F401  (fixtures: both CRMs)
from tests.fault_helpers import certs_dir, config, expected, sandbox  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
HS_UPDATE = "/crm/v3/objects/contacts/batch/update"
SEARCH = "/crm/v3/objects/contacts/search"


def start_sync(sandbox, config) -> subprocess.Popen:
    env = {**os.environ, **F.sandbox_env(sandbox)}
    return subprocess.Popen([LEADSYNC, "--config", str(config), "sync", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def runs(config) -> list[dict]:
    url = f"sqlite:///{config.parent / 'state.db'}"
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(state_schema.runs).order_by(state_schema.runs.c.id))]
    finally:
        store.close()


@pytest.mark.parametrize("side", ["lead-create", "hubspot-update"])
def test_given_sync_killed_while_a_write_is_in_flight_when_rerun_then_no_duplicate_and_same_as_fault_free(
        sandbox, config, expected, crm: Driver, side):
    system, path = (crm.name, crm.create_path) if side == "lead-create" else ("hubspot", HS_UPDATE)
    slowed = sandbox.faults.add(FaultRule(system, path=path, kind="delay", delay=1.0, times=1))
    process = start_sync(sandbox, config)
    F.wait_until(lambda: slowed not in sandbox.faults.rules() or process.poll() is not None, timeout=30)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    # The server finishes the write the killed client never heard about.
    F.wait_until(lambda: any(re.search(path, c.path) for c in sandbox.calls.calls(system)), timeout=10)

    code, out, err = finish(start_sync(sandbox, config))

    assert code == 0, err
    F.assert_same_as(expected, sandbox)


def test_given_two_syncs_started_together_when_both_finish_then_they_ran_one_after_the_other_and_same_as_fault_free(
        sandbox, config, expected):
    sandbox.faults.add(FaultRule("hubspot", path=SEARCH, kind="delay", delay=1.0, times=1))   # overlap for sure

    first, second = start_sync(sandbox, config), start_sync(sandbox, config)
    results = [finish(first), finish(second)]

    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    done = runs(config)
    assert [r["outcome"] for r in done] == ["ok", "ok"]
    assert done[0]["finished_at"] <= done[1]["started_at"], "the cycle lock lets one cycle run at a time"
    F.assert_same_as(expected, sandbox)
