"""Fault injection, transport level, on HubSpot's side: an outage longer than the retries, 429
storms, an expired token. After the faults (and the later cycle some of them need), HubSpot and
the CRM must hold exactly what a fault-free run leaves: nothing lost, nothing doubled. (5xx
bursts, resets and the CRM's own session expiring run on both CRMs: test_e2e_crm_faults.py.)

Waits run on virtual time (see fault_helpers), so a 30-second backoff costs nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.core.errors import ConfigError, Retryable
from leadsync_sandbox.faults import FaultRule
from connector.engine.cycle import HUBSPOT_CURSOR
from tests import fault_helpers as F
from tests.fault_helpers import certs_dir, config, crm_name, expected, run, sandbox  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

BATCH_READ = "/crm/v3/objects/contacts/batch/read"
BATCH_UPDATE = "/crm/v3/objects/contacts/batch/update"
SF_UPSERT = "/composite/sobjects/Lead/HubSpot_Contact_Id__c"


def status_calls(sandbox, status):
    return [c for c in sandbox.calls.calls() if c.status == status]


def test_given_5xx_outage_longer_than_the_retries_when_synced_then_cycle_fails_and_next_cycle_completes(
        run, sandbox, expected):
    outage = sandbox.faults.add(FaultRule("hubspot", path=BATCH_UPDATE, status=503, times=0))

    with pytest.raises(Retryable):
        run.sync()
    assert run.rt.store.cursor(HUBSPOT_CURSOR) is None, "the cursor must not pass an unwritten batch"
    assert run.vtime.slept > 0, "the policy backed off between attempts"
    assert not any(c.get("leadsync_stage") for c in sandbox.hubspot.contacts())

    sandbox.faults.clear()
    assert outage not in sandbox.faults.rules()
    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    F.assert_same_as(expected, sandbox)


def test_given_429s_with_retry_after_when_synced_then_waits_as_asked_and_same_as_fault_free(run, sandbox, expected):
    sandbox.faults.add(FaultRule("hubspot", path=BATCH_READ, status=429, headers={"Retry-After": "7"}, times=2,
                                 body={"status": "error", "message": "You have reached your ten_secondly_rolling "
                                       "limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}))
    sandbox.faults.add(FaultRule("hubspot", path=BATCH_UPDATE, status=429, headers={"Retry-After": "3"}, times=3))

    summary = run.sync()

    assert summary.outcome == "ok", summary.message
    assert run.vtime.waits.count(7.0) == 2 and run.vtime.waits.count(3.0) == 3
    F.assert_same_as(expected, sandbox)


def test_given_hubspot_ten_second_limit_lowered_when_synced_then_paced_under_it_and_same_as_fault_free(
        run, sandbox, expected):
    # The portal's own limiter on the policy's virtual time: its rolling window rolls over when
    # the connector waits, so pacing costs no wall time.
    sandbox.hubspot.limits._clock = run.vtime.monotonic
    sandbox.hubspot.limits.search_per_second = 5
    sandbox.hubspot.set_rate_per_10s(12)
    run.rt.engine().first_run_since = timedelta(days=3650)

    summary = run.sync()

    # A first run reads the activity feed before the contacts, and its answers carry the
    # window's headers: the policy learns the lowered limit there. Searches carry none (as on
    # HubSpot) and count in this portal's window, so a refusal can still come; each is retried.
    refused = status_calls(sandbox, 429)
    assert summary.outcome == "ok", summary.message
    assert summary.api["hubspot"]["retries"] >= len(refused)
    assert len(refused) <= 2, "the policy did not learn the lowered limit"
    F.assert_same_as(expected, sandbox)


def test_given_hubspot_token_expires_mid_run_when_synced_then_cycle_stops_and_a_run_with_the_new_token_completes(
        run, sandbox, expected, config, monkeypatch):
    rotated = []
    F.install_hooks(sandbox, F.CallHook("salesforce", after=1, path=SF_UPSERT,
                                        action=lambda: rotated.append(sandbox.hubspot.expire_token())))

    with pytest.raises(ConfigError) as failed:
        run.sync()
    assert "hubspot.token_env: the HubSpot access token has expired (HTTP 401)" in str(failed.value)
    assert sandbox.env()["HUBSPOT_TOKEN"] not in str(failed.value)
    F.assert_no_duplicates(sandbox)

    with F.runtime_for(sandbox, config, monkeypatch, environ={"HUBSPOT_TOKEN": rotated[0]}) as later:
        summary = later.sync()

    assert summary.outcome == "ok", summary.message
    F.assert_same_as(expected, sandbox)
