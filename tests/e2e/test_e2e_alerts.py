"""Alerts end to end, on each CRM: the daemon's cycles against the sandbox, real clients, a
webhook catcher on loopback. An SLA breach and a quarantine burst each announce themselves
exactly once, stay quiet while they last, and each sends exactly one resolved notice once sales
accepts the leads and the quarantined records go through on retry. The engine's clock moves
past the first-touch target: nothing waits in real time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.app.alerts import STATE_KEY, alerter_for
from connector.app.facts import gather_facts
from jobs.daemon import Daemon
from tests import fault_helpers as F
from tests.alert_catcher import Catcher
from tests.crm_helpers import CRMS, driver_for

pytestmark = pytest.mark.e2e

HOOK_ENV = "LEADSYNC_TEST_ALERT_WEBHOOK"


def configure(sandbox, tmp_path):
    """The sandbox's config, with alerts to a webhook."""
    config = F.write_config(sandbox, tmp_path)
    text = config.read_text(encoding="utf-8")
    text += (f'\n[alerts]\nwebhook_url_env = "{HOOK_ENV}"\n'
             'rules = ["sla_breach", "quarantine_growth", "cycle_failed", "budget_stopped"]\nquarantine_above = 2\n')
    config.write_text(text, encoding="utf-8")
    return config


@pytest.mark.parametrize("crm_name", CRMS)
def test_given_sla_breach_and_quarantine_burst_when_daemon_cycles_then_one_alert_each_then_one_resolved_each(
        tmp_path, tmp_path_factory, monkeypatch, crm_name):
    clock = F.Clock()
    with F.new_sandbox(tmp_path_factory.getbasetemp() / "sandbox-certs", crm=crm_name) as sandbox, \
            Catcher() as catcher:
        crm = driver_for(sandbox)
        config = configure(sandbox, tmp_path)
        F.virtual_policy(monkeypatch, F.VirtualTime())
        with F.runtime_for(sandbox, config, monkeypatch, clock, environ={HOOK_ENV: catcher.url}) as rt:
            daemon = Daemon(rt, alerter=alerter_for(rt))
            burst = [c["id"] for c in sandbox.hubspot.contacts()[:3]]
            for contact_id in burst:
                sandbox.hubspot.fail_record(contact_id, f"Property values were not valid for {contact_id}")

            daemon.hubspot_cycle()
            assert {q.hubspot_id for q in rt.store.quarantined()} == set(burst)
            assert catcher.statuses() == [("quarantine_growth", "firing")], "handoffs still inside their target"

            # The handoffs are now past the first-touch target, untouched.
            clock.advance(rt.definition.sla.first_touch_target + timedelta(minutes=1))
            daemon.hubspot_cycle()
            daemon.hubspot_cycle()
            assert sorted(catcher.statuses()) == [("quarantine_growth", "firing"), ("sla_breach", "firing")]
            breached = gather_facts(rt).open_breaches
            assert breached, "the handoffs are open breaches"
            [sla] = [r for r in catcher.received if r["condition"] == "sla_breach"]
            assert sla["title"].startswith(f"{len(breached)} handed-off lead(s)")
            assert (breached[0].email or breached[0].hubspot_id) in sla["message"]

            # Sales accepts every breached lead; the refused contacts go through on retry.
            people = rt.store.people([b.hubspot_id for b in breached])
            for b in breached:
                crm.accept(people[b.hubspot_id]["crm_id"])
            rt.store.make_due(None, rt.clock())
            daemon.salesforce_cycle()
            daemon.hubspot_cycle()
            daemon.hubspot_cycle()

            assert rt.store.quarantined() == [] and gather_facts(rt).open_breaches == ()
            assert rt.store.get(STATE_KEY) == {}, "nothing left open"
    statuses = catcher.statuses()
    assert sorted(statuses) == [("quarantine_growth", "firing"), ("quarantine_growth", "resolved"),
                                ("sla_breach", "firing"), ("sla_breach", "resolved")]
    for key in ("quarantine_growth", "sla_breach"):
        assert [s for k, s in statuses if k == key] == ["firing", "resolved"], "resolved after it fired"
