"""End to end: after conversion the person lives on the Contact and the Opportunity. leadsync
never writes to the converted Lead (Salesforce refuses with CANNOT_UPDATE_CONVERTED_LEAD), so
the Opportunity's stage changes reach the Contact and nothing is quarantined."""

from __future__ import annotations

import pytest
import requests

from connector.app.runtime import Runtime

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(people=150)


@pytest.fixture
def runtime(sandbox, sqlite_url, sandbox_config):
    with Runtime.from_config_path(sandbox_config(sandbox, sqlite_url)) as rt:
        rt.sync()
        yield rt


def _convert_through_bant(rt, sandbox):
    lead = max((p for p in rt.store.people().values() if p["stage"] == "mql" and p.get("crm_object") == "lead"),
               key=lambda p: p["score"] or 0)
    sandbox.salesforce.set_lead_status(lead["crm_id"], "Working - Contacted")
    sandbox.salesforce.set_bant(lead["crm_id"], budget=True, need="Pipeline reviews take days", timeline="0-3 months")
    rt.sync()
    person = rt.store.people([lead["hubspot_id"]])[lead["hubspot_id"]]
    assert person["stage"] == "sql" and person["opportunity_id"]
    return person


def test_given_converted_lead_when_opportunity_stage_changes_then_contact_written_lead_untouched(runtime, sandbox):
    person = _convert_through_bant(runtime, sandbox)
    lead = sandbox.salesforce.record("Lead", person["crm_id"])
    contact_id = lead["ConvertedContactId"]
    lead_modstamp = lead["SystemModstamp"]
    for stage in ("Proposal/Price Quote", "Negotiation/Review", "Closed Won"):
        sandbox.salesforce.set_opportunity(person["opportunity_id"], stage=stage, amount=48000)
        summary = runtime.sync()
        assert summary.counts["quarantined"] == 0, stage
    assert runtime.store.quarantined() == []
    assert runtime.store.people([person["hubspot_id"]])[person["hubspot_id"]]["stage"] == "customer"
    contact = sandbox.salesforce.record("Contact", contact_id)
    assert contact["Leadsync_Stage__c"] == "customer"
    after = sandbox.salesforce.record("Lead", person["crm_id"])
    assert after["SystemModstamp"] == lead_modstamp and after["Leadsync_Stage__c"] == "sql"
    assert sandbox.hubspot.contact(person["hubspot_id"])["lifecyclestage"] == "customer"


def test_given_converted_lead_when_written_directly_then_sandbox_refuses_like_salesforce(runtime, sandbox):
    person = _convert_through_bant(runtime, sandbox)
    token = requests.post(f"{sandbox.salesforce_url}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": sandbox.env()["SF_CLIENT_ID"],
        "client_secret": sandbox.env()["SF_CLIENT_SECRET"]}).json()["access_token"]
    response = requests.patch(f"{sandbox.salesforce_url}/services/data/v59.0/composite/sobjects",
                              headers={"Authorization": f"Bearer {token}"},
                              json={"allOrNone": False, "records": [
                                  {"attributes": {"type": "Lead"}, "id": person["crm_id"], "Leadsync_Stage__c": "x"}]})
    [result] = response.json()
    assert not result["success"] and result["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
