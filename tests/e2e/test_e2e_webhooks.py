"""End to end: HubSpot webhooks drive the handoff, polling stays the safety net.

The sandbox's portal sends signed webhook deliveries (leadsync_sandbox.hubspot_webhooks) to the
daemon's receiver. With polling set an hour apart, a qualifying contact created after the daemon's
first cycles reaches Salesforce as a Lead only through the webhook path; a forged or replayed
delivery is refused and syncs nothing; leadsync's own writes come back as webhooks and start no
further cycle. Also: the sandbox's delivery itself (batches, retries, signatures, change sources).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from sqlalchemy import select

from connector.app import webhooks as W
from connector.state.schema import runs
from connector.state.store import Store
from jobs.daemon import run_daemon

pytestmark = pytest.mark.e2e

PATH = "/hubspot/webhooks"
SUBSCRIBED = ("jobtitle", "lifecyclestage", "wants_sales_contact")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def finished_runs(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(runs).where(runs.c.outcome != "running")
                                                      .order_by(runs.c.id))]


def leads_for(sandbox, hubspot_id: str) -> list[dict]:
    return [r for r in sandbox.salesforce.records("Lead") if r.get("HubSpot_Contact_Id__c") == hubspot_id]


def webhook_runs(store: Store) -> list[dict]:
    return [r for r in finished_runs(store) if r["kind"] == "webhook"]


def add_hot_prospect(sandbox, n: int) -> str:
    hubspot = sandbox.hubspot
    contact_id = hubspot.add_contact({
        "email": f"dana.webhook{n}@northwind-analytics.example", "firstname": "Dana", "lastname": f"Webhook{n}",
        "company": "Northwind Analytics", "jobtitle": "VP Engineering", "numemployees": "500-1000",
        "industry": "Software", "country": "United States"})
    hubspot.add_demo_request(contact_id)
    hubspot.add_page_view(contact_id, "https://www.example-vendor.com/pricing")
    return contact_id


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def webhook_daemon(start_sandbox, sandbox_config, sqlite_url, monkeypatch, restore_logging):
    """The sandbox subscribed to the daemon's receiver; the daemon polling only once an hour."""
    sandbox = start_sandbox(people=60)
    path = sandbox_config(sandbox, sqlite_url)
    secret = sandbox.hubspot.oauth_app["client_secret"]
    monkeypatch.setenv("LEADSYNC_TEST_HOOK_SECRET", secret)
    port = free_port()
    lines = []
    for line in open(path).read().splitlines():
        if line.startswith(("hubspot_every", "salesforce_every")):
            line = line.split("=")[0] + '= "1h"'
        elif line.startswith("reconcile_cron"):
            line = 'reconcile_cron = "0 3 1 1 *"'
        lines.append(line)
    lines += ["", "[webhooks]", f"port = {port}", f'path = "{PATH}"', 'secret_env = "LEADSYNC_TEST_HOOK_SECRET"',
              "coalesce_seconds = 0.5", ""]
    open(path, "w").write("\n".join(lines))
    target = f"http://127.0.0.1:{port}{PATH}"
    hooks = sandbox.hubspot.subscribe_webhooks(target, secret, properties=SUBSCRIBED, batch_seconds=0,
                                                 retry_delays=(0.5, 1, 2))
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.update(code=run_daemon(path, stop=stop)), daemon=True)
    thread.start()
    store = Store(sqlite_url)
    try:
        # The daemon's first cycles (both loops run at start), then polling sleeps for an hour.
        wait_for(lambda: {"hubspot", "salesforce"} <= {r["kind"] for r in finished_runs(store)}, 120,
                 "the daemon's first cycles")
        yield sandbox, store, hooks, target, secret
    finally:
        stop.set()
        thread.join(timeout=40)
        sandbox.hubspot.unsubscribe_webhooks()
        store.close()
    assert result == {"code": 0}


def test_given_webhooks_when_a_qualifying_contact_is_created_then_its_lead_comes_through_the_webhook_path(webhook_daemon):
    sandbox, store, hooks, target, secret = webhook_daemon
    # The contact is filled in before its events go out, as one batch (a form fill is one moment).
    hooks.hold()
    first = add_hot_prospect(sandbox, 1)
    hooks.release()
    lead = wait_for(lambda: leads_for(sandbox, first), 60, "the Lead of the contact created")[0]
    wait_for(lambda: webhook_runs(store), 30, "the webhook cycle to be recorded")
    assert lead["Email"] == "dana.webhook1@northwind-analytics.example"
    assert store.people([first])[first]["stage"] == "mql"
    kinds = [r["kind"] for r in finished_runs(store)]
    assert kinds.count("hubspot") == 1 and kinds.count("salesforce") == 1   # no polling since the start
    assert [(r["counts"]["pulled_hubspot"], r["counts"]["handed_off"]) for r in webhook_runs(store)] == [(1, 1)]

    # A contact created while no subscription was on: only a delivery could name it now.
    sandbox.hubspot.unsubscribe_webhooks()
    missed = add_hot_prospect(sandbox, 2)
    hooks = sandbox.hubspot.subscribe_webhooks(target, secret, properties=SUBSCRIBED, batch_seconds=0,
                                                 retry_delays=(0.5, 1, 2))
    body = json.dumps([{"eventId": 1, "subscriptionId": 1, "portalId": 1, "appId": 1,
                        "occurredAt": int(time.time() * 1000), "subscriptionType": "contact.creation",
                        "attemptNumber": 0, "objectId": int(missed), "changeSource": "CRM_UI"}]).encode()
    now = str(int(time.time() * 1000))
    forged = W.signature_v3("not-the-app-secret", "POST", target, body, now)
    stale_at = str(int(time.time() * 1000) - 6 * 60 * 1000)
    replayed = W.signature_v3(secret, "POST", target, body, stale_at)
    unsigned = requests.post(target, data=body, timeout=5)
    answers = [requests.post(target, data=body, timeout=5, headers={
        "X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}).status_code
        for signature, stamp in ((forged, now), (replayed, stale_at))]
    assert answers == [401, 401] and unsigned.status_code == 401

    # A genuine delivery after the refused ones: by the time its Lead exists, anything queued
    # before it has been synced too, so the refused contact's absence is not a matter of time.
    hooks.hold()
    third = add_hot_prospect(sandbox, 3)
    hooks.release()
    wait_for(lambda: leads_for(sandbox, third), 60, "the Lead of the third contact")
    wait_for(lambda: len(webhook_runs(store)) >= 2, 30, "the second webhook cycle to be recorded")
    assert leads_for(sandbox, missed) == [] and missed not in store.people([missed])

    # leadsync's own writes came back as webhooks (changeSource INTEGRATION) and started nothing.
    assert hooks.wait_idle(10)
    echoes = [e for d in hooks.deliveries for e in d.events
              if e["changeSource"] == "INTEGRATION" and e["objectId"] == int(third)]
    assert echoes and {e["propertyName"] for e in echoes} == {"lifecyclestage"}
    done = webhook_runs(store)
    assert len(done) == 2 and all(r["counts"]["echoes"] == 0 for r in done)
    assert [r["kind"] for r in finished_runs(store)].count("hubspot") == 1


# -- the sandbox's deliveries -----------------------------------------------------------------------

class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    """A receiver that answers 500 to the first ``fail`` deliveries, then 204; keeps what it got."""
    got, state = [], {"fail": 0}

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        got.append((body, environ.get("HTTP_X_HUBSPOT_SIGNATURE_V3"), environ.get("HTTP_X_HUBSPOT_REQUEST_TIMESTAMP")))
        if state["fail"] > 0:
            state["fail"] -= 1
            start_response("500 Internal Server Error", [("Content-Length", "0")])
        else:
            start_response("204 No Content", [("Content-Length", "0")])
        return [b""]
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{PATH}", got, state
    server.shutdown()
    server.server_close()


def test_given_subscription_when_contacts_change_then_signed_batches_retried_until_answered(endpoint):
    from leadsync_sandbox.hubspot_state import HubSpotState
    url, got, state = endpoint
    portal = HubSpotState()
    # No batching delay: everything changed while held is due at once, so the batches are exact.
    hooks = portal.subscribe_webhooks(url, "app-secret-1", properties=["jobtitle"], batch_seconds=0,
                                      retry_delays=(0.05, 0.05, 0.05))
    try:
        state["fail"] = 3
        hooks.hold()
        ids = [portal.add_contact({"email": f"p{n}@example.com", "jobtitle": "CTO"}) for n in range(60)]
        portal.update_contact(ids[0], {"jobtitle": "CEO"})
        portal.update_contact(ids[1], {"firstname": "Not subscribed"})
        hooks.release()
        wait_for(lambda: sum(len(d.events) for d in hooks.deliveries if d.status == 204) == 121, 20,
                 "every event accepted")
    finally:
        portal.unsubscribe_webhooks()
    # 60 creations + 60 jobtitle values set + 1 jobtitle change = 121 events, in batches of at most
    # 100; refused ones come again with attemptNumber counting up, each attempt signed afresh.
    statuses = [(d.attempt, d.status, len(d.events)) for d in hooks.deliveries]
    assert statuses == [(0, 500, 100), (0, 500, 21), (1, 500, 100), (1, 204, 21), (2, 204, 100)]
    first, accepted = hooks.deliveries[0].events, hooks.deliveries[4].events
    assert [e["eventId"] for e in first] == [e["eventId"] for e in accepted]
    assert {e["attemptNumber"] for e in accepted} == {2}
    events = [e for d in hooks.deliveries if d.status == 204 for e in d.events]
    assert len({e["eventId"] for e in events}) == 121
    assert sum(e["subscriptionType"] == "contact.creation" for e in events) == 60
    changes = [e for e in events if e["subscriptionType"] == "contact.propertyChange"]
    assert len(changes) == 61 and {e["propertyName"] for e in changes} == {"jobtitle"}
    assert {e["changeSource"] for e in events} == {"CRM_UI"}
    assert len(got) == 5
    for body, signature, stamp in got:
        assert W.refusal("app-secret-1", "POST", url, body, signature, stamp, W.now_ms()) is None
        assert W.refusal("another-secret", "POST", url, body, signature, stamp, W.now_ms()) is not None


def test_given_an_app_writing_through_the_api_when_subscribed_then_its_change_comes_as_integration(endpoint, start_sandbox):
    url, got, _ = endpoint
    sandbox = start_sandbox(people=10)
    contact = next(iter(sandbox.hubspot.contacts()))
    hooks = sandbox.hubspot.subscribe_webhooks(url, "app-secret-2", properties=["jobtitle"])
    try:
        answer = requests.patch(f"{sandbox.hubspot_url}/crm/v3/objects/contacts/{contact['hs_object_id']}",
                                json={"properties": {"jobtitle": "Head of Data"}}, timeout=10,
                                headers={"Authorization": f"Bearer {sandbox.hubspot.token}"},
                                verify=str(sandbox.certs.bundle_path))
        assert answer.status_code == 200
        sandbox.hubspot.add_demo_request(contact["hs_object_id"])      # a form fill changes no jobtitle
        assert hooks.wait_idle(10)
    finally:
        sandbox.hubspot.unsubscribe_webhooks()
    events = [e for d in hooks.deliveries for e in d.events]
    assert [(e["propertyName"], e["propertyValue"], e["changeSource"], e["sourceId"]) for e in events] == [
        ("jobtitle", "Head of Data", "INTEGRATION", str(hooks.app_id))]
