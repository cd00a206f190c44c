"""The Salesforce adapter against recorded-shape responses (``responses`` sees requests)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from connector.ports import FollowUp, CrmRecord, Write
from connector.adapters.salesforce.adapter import SalesforceAdapter, website_domain
from connector.adapters.salesforce.soap import convert_envelope, parse_convert_response
from connector.adapters.salesforce.auth import SalesforceAuth, SalesforceSettings
from connector.core.errors import ConfigError, QuotaExhausted
from connector.adapters.salesforce.mapping import load_salesforce_mapping
from connector.transport import HttpPolicy, PolicySettings

REPO = Path(__file__).resolve().parents[2]
LOGIN = "https://login.example.test"
ORG = "https://org.example.test"
DATA = f"{ORG}/services/data/v59.0"
UTC = timezone.utc
LEAD_FIELDS = ["Id", "Email", "HubSpot_Contact_Id__c", "Status", "OwnerId", "SystemModstamp", "IsConverted",
               "ConvertedOpportunityId", "ConvertedAccountId", "Rejection_Reason__c", "FirstName", "LastName",
               "Company", "Title", "Phone", "NumberOfEmployees", "AnnualRevenue", "Industry", "Country",
               "Budget_Confirmed__c", "Decision_Maker__c", "Need__c", "Timeline__c", "Leadsync_Stage__c",
               "Leadsync_Score__c", "Leadsync_Handoff_At__c", "Leadsync_Reason__c", "Leadsync_Definition_Version__c"]
CONTACT_FIELDS = ["Id", "Email", "HubSpot_Contact_Id__c", "OwnerId", "AccountId", "SystemModstamp", "FirstName",
                  "LastName", "Title", "Phone", "Leadsync_Stage__c", "Leadsync_Score__c"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def adapter():
    clock = Clock()
    policy = HttpPolicy(PolicySettings(), clock=clock, sleep=clock.sleep, wall_clock=clock, rng=lambda: 0.5)
    settings = SalesforceSettings(auth="client_credentials", login_url=LOGIN, client_id="cid",
                                  client_secret="s3cret")
    mapping = load_salesforce_mapping(REPO / "mappings" / "salesforce.toml")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        tokens = iter(f"token-{n}" for n in range(1, 10))
        mock.add_callback(responses.POST, f"{LOGIN}/services/oauth2/token",
                          callback=lambda request: (200, {}, json.dumps(
                              {"access_token": next(tokens), "instance_url": ORG, "token_type": "Bearer"})))
        for sobject, fields in (("Lead", LEAD_FIELDS), ("Contact", CONTACT_FIELDS)):
            mock.add(responses.GET, f"{DATA}/sobjects/{sobject}/describe",
                     json={"name": sobject, "fields": [{"name": f} for f in fields]})
        yield SalesforceAdapter(settings, mapping, policy, SalesforceAuth(settings, policy, clock=clock)), mock


def soql_of(request) -> str:
    return parse_qs(urlparse(request.url).query)["q"][0]


def route_queries(mock, answer):
    """Serve /query by calling ``answer(soql)``; returns the list of SOQL statements seen."""
    seen = []

    def callback(request):
        soql = soql_of(request)
        seen.append(soql)
        return (200, {"Sforce-Limit-Info": "api-usage=10/1000"}, json.dumps(answer(soql)))
    mock.add_callback(responses.GET, re.compile(rf"{re.escape(DATA)}/query/?\?.*"), callback=callback)
    return seen


def lead(id_, stamp, **extra):
    return {"attributes": {"type": "Lead"}, "Id": id_, "Email": f"{id_}@acme.test", "HubSpot_Contact_Id__c": f"hs-{id_}",
            "Status": "Working - Contacted", "OwnerId": "005A", "SystemModstamp": stamp, "IsConverted": False,
            **extra}


def test_given_changed_leads_over_two_pages_and_contacts_then_batches_are_merged_oldest_first(adapter):
    crm, mock = adapter
    page2 = f"/services/data/v59.0/query/01gNEXT-2000"
    mock.add(responses.GET, f"{ORG}{page2}", json={"done": True, "totalSize": 3, "records": [
        lead("00Q3", "2026-01-01T12:00:00.000+0000", Status="Closed - Not Converted",
             Rejection_Reason__c="No budget")]})

    def answer(soql):
        if "FROM Lead" in soql:
            return {"done": False, "nextRecordsUrl": page2, "totalSize": 3, "records": [
                lead("00Q1", "2026-01-01T09:00:00.000+0000", NumberOfEmployees="1,200"),
                lead("00Q2", "2026-01-01T11:00:00.000+0000")]}
        return {"done": True, "totalSize": 1, "records": [
            {"Id": "003C", "Email": "c@acme.test", "HubSpot_Contact_Id__c": "hs-c", "OwnerId": "005B",
             "AccountId": "001A", "SystemModstamp": "2026-01-01T10:00:00.000+0000"}]}
    seen = route_queries(mock, answer)
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    batches = list(crm.changed_records(since, until))
    records = [r for batch in batches for r in batch]
    assert [r.id for r in records] == ["00Q1", "003C", "00Q2", "00Q3"]
    first, contact, _, recycled = records
    assert first.fields["employees"] == 1200 and first.status == "Working - Contacted"
    assert contact.kind == "contact" and contact.account_id == "001A" and contact.status is None
    assert recycled.reason == "No budget" and recycled.hubspot_id == "hs-00Q3"
    lead_soql = next(s for s in seen if "FROM Lead" in s)
    assert ("WHERE HubSpot_Contact_Id__c != null AND SystemModstamp >= 2026-01-01T00:00:00+00:00 "
            "AND SystemModstamp < 2026-01-02T00:00:00+00:00 ORDER BY SystemModstamp, Id") in lead_soql
    assert "Company" not in next(s for s in seen if "FROM Contact" in s)   # Lead-only fields stay off Contact
    # 10 used as last reported, plus the queryMore call made after that report.
    assert crm.policy.usage()["salesforce"]["remaining"] == 989


def test_given_an_email_with_a_quote_then_the_soql_escapes_it(adapter):
    crm, mock = adapter
    seen = route_queries(mock, lambda soql: {"done": True, "totalSize": 0, "records": []})
    crm.find_records(emails=["o'brien@acme.test"], hubspot_ids=["42"])
    assert any("Email IN ('o\\'brien@acme.test')" in s for s in seen)
    assert any("HubSpot_Contact_Id__c IN ('42')" in s for s in seen)


def test_given_an_upsert_with_one_locked_row_then_the_others_are_written(adapter):
    crm, mock = adapter
    mock.add(responses.PATCH, f"{DATA}/composite/sobjects/Lead/HubSpot_Contact_Id__c", json=[
        {"id": "00Q1", "success": True, "errors": [], "created": True},
        {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain lock",
                                       "fields": []}]},
        {"success": False, "errors": [{"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                       "message": "bad value for restricted picklist field: Hot",
                                       "fields": ["Status"]}]},
    ])
    writes = [Write(f"hs-{n}", None, {"LastName": f"L{n}", "Leadsync_Handoff_At__c": datetime(2026, 1, 1, tzinfo=UTC)},
                    "lead") for n in (1, 2, 3)]
    outcome = crm.upsert(writes)
    assert outcome.written == {"hs-1": "00Q1"} and outcome.created == {"hs-1"}
    assert outcome.failed["hs-2"].transient and outcome.failed["hs-2"].code == "UNABLE_TO_LOCK_ROW"
    assert not outcome.failed["hs-3"].transient and "Status" in str(outcome.failed["hs-3"])
    sent = mock.calls[-1].request
    body = json.loads(sent.body)
    assert body["allOrNone"] is False
    assert body["records"][0] == {"attributes": {"type": "Lead"}, "LastName": "L1",
                                  "Leadsync_Handoff_At__c": "2026-01-01T00:00:00+00:00",
                                  "HubSpot_Contact_Id__c": "hs-1"}
    assert sent.headers["Sforce-Auto-Assign"] == "TRUE"
    assert sent.headers["Authorization"] == "Bearer token-1"


def test_given_routed_writes_then_the_assignment_rule_is_off_for_them(adapter):
    crm, mock = adapter
    mock.add(responses.PATCH, f"{DATA}/composite/sobjects/Lead/HubSpot_Contact_Id__c",
             json=[{"id": "00Q9", "success": True, "errors": [], "created": True}])
    crm.upsert([Write("hs-9", None, {"LastName": "X"}, "lead", owner_id="005R")])
    assert mock.calls[-1].request.headers["Sforce-Auto-Assign"] == "FALSE"
    assert json.loads(mock.calls[-1].request.body)["records"][0]["OwnerId"] == "005R"


def test_given_a_handoff_write_then_the_adapter_adds_external_id_and_opening_status(adapter):
    crm, _ = adapter
    lead = crm.planned_values(Write("7", None, {"LastName": "X"}, "lead", opening=True))
    assert lead == {"LastName": "X", "HubSpot_Contact_Id__c": "7", "Status": "Open - Not Contacted"}
    assert "Status" not in crm.planned_values(Write("7", "00Q1", {"LastName": "X"}, "lead"))
    contact = crm.planned_values(Write("7", None, {"LastName": "X"}, "contact", owner_id="005O", account_id="001A",
                                       opening=True))
    assert contact == {"LastName": "X", "HubSpot_Contact_Id__c": "7", "OwnerId": "005O", "AccountId": "001A"}


def test_given_request_limit_exceeded_then_quota_exhausted(adapter):
    crm, mock = adapter
    mock.add(responses.GET, re.compile(rf"{re.escape(DATA)}/query.*"), status=403,
             json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
    with pytest.raises(QuotaExhausted):
        crm.opportunities(["006A"])


def test_given_an_expired_session_then_it_signs_in_again_once_and_retries(adapter):
    crm, mock = adapter
    answers = iter([(401, [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]),
                    (200, {"done": True, "totalSize": 1, "records": [
                        {"Id": "006A", "StageName": "Qualification", "Amount": 10.0, "CloseDate": "2026-03-01",
                         "IsClosed": False, "IsWon": False, "AccountId": "001A",
                         "SystemModstamp": "2026-01-01T10:00:00.000+0000"}]})])
    auth_headers = []

    def callback(request):
        auth_headers.append(request.headers["Authorization"])
        status, body = next(answers)
        return status, {}, json.dumps(body)
    mock.add_callback(responses.GET, re.compile(rf"{re.escape(DATA)}/query.*"), callback=callback)
    found = crm.opportunities(["006A"])
    assert found["006A"].stage == "Qualification"
    assert auth_headers == ["Bearer token-1", "Bearer token-2"]


def test_given_a_401_after_signing_in_again_then_it_stops_with_a_config_error(adapter):
    crm, mock = adapter
    mock.add(responses.GET, re.compile(rf"{re.escape(DATA)}/query.*"), status=401,
             json=[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}])
    with pytest.raises(ConfigError) as caught:
        crm.opportunities(["006A"])
    assert "s3cret" not in str(caught.value) and "s3cret" not in (caught.value.detail or "")
    token_calls = [c for c in mock.calls if c.request.url.endswith("/oauth2/token")]
    assert len(token_calls) == 2


def test_given_wrong_credentials_then_a_config_error_without_the_secret(adapter):
    crm, mock = adapter
    mock.replace(responses.POST, f"{LOGIN}/services/oauth2/token", status=400,
                 json={"error": "invalid_client", "error_description": "invalid client credentials"})
    with pytest.raises(ConfigError) as caught:
        crm.opportunities(["006A"])
    assert "salesforce.client_secret_env: Salesforce rejected the client secret" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(crm.settings)


def test_given_leads_to_convert_then_soap_converts_and_the_stage_is_set(adapter):
    crm, mock = adapter
    response = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
                'soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-'
                'instance"><soapenv:Header><LimitInfoHeader><limitInfo><current>20</current><limit>1000</limit>'
                '<type>API REQUESTS</type></limitInfo></LimitInfoHeader></soapenv:Header><soapenv:Body>'
                '<convertLeadResponse><result><accountId>001N</accountId><contactId>003N</contactId>'
                '<leadId>00Q1</leadId><opportunityId>006N</opportunityId><success>true</success></result>'
                '<result><accountId xsi:nil="true"/><contactId xsi:nil="true"/><errors><fields>Status</fields>'
                '<message>already converted</message><statusCode>CANNOT_UPDATE_CONVERTED_LEAD</statusCode>'
                '</errors><leadId>00Q2</leadId><opportunityId xsi:nil="true"/><success>false</success></result>'
                '</convertLeadResponse></soapenv:Body></soapenv:Envelope>')
    mock.add(responses.POST, f"{ORG}/services/Soap/u/59.0", body=response, content_type="text/xml")
    mock.add(responses.PATCH, f"{DATA}/composite/sobjects", json=[{"id": "006N", "success": True, "errors": []}])
    outcome = crm.convert(["00Q1", "00Q2"], opportunity_stage="Qualification", owner_ids={"00Q1": "005O"})
    assert outcome.written == {"00Q1": "006N"}
    assert outcome.failed["00Q2"].code == "CANNOT_UPDATE_CONVERTED_LEAD"
    soap = next(c.request for c in mock.calls if "/Soap/" in c.request.url)
    assert b"<sessionId>token-1</sessionId>" in soap.body and b"<ownerId>005O</ownerId>" in soap.body
    assert b"<convertedStatus>Closed - Converted</convertedStatus>" in soap.body
    stage = json.loads(mock.calls[-1].request.body)
    assert stage["records"] == [{"attributes": {"type": "Opportunity"}, "id": "006N", "StageName": "Qualification"}]
    assert crm.policy.usage()["salesforce"]["remaining"] == 979   # 20 reported by SOAP + the stage PATCH


def test_given_an_expired_soap_session_then_convert_signs_in_again_and_resends(adapter):
    crm, mock = adapter
    fault = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
             '<soapenv:Fault><faultcode>sf:INVALID_SESSION_ID</faultcode><faultstring>INVALID_SESSION_ID: '
             'Invalid Session ID</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>')
    ok = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
          '<convertLeadResponse><result><leadId>00Q1</leadId><opportunityId>006N</opportunityId>'
          '<success>true</success></result></convertLeadResponse></soapenv:Body></soapenv:Envelope>')
    mock.add(responses.POST, f"{ORG}/services/Soap/u/59.0", body=fault, status=500)
    mock.add(responses.POST, f"{ORG}/services/Soap/u/59.0", body=ok)
    mock.add(responses.PATCH, f"{DATA}/composite/sobjects", json=[{"id": "006N", "success": True, "errors": []}])
    assert crm.convert(["00Q1"], opportunity_stage="Qualification").written == {"00Q1": "006N"}
    sessions = [re.search(rb"<sessionId>(.*?)</sessionId>", c.request.body).group(1)
                for c in mock.calls if "/Soap/" in c.request.url]
    assert sessions == [b"token-1", b"token-2"]


def test_given_accounts_then_websites_match_by_normalised_domain(adapter):
    crm, mock = adapter
    seen = route_queries(mock, lambda soql: {"done": True, "totalSize": 3, "records": [
        {"Id": "001A", "Name": "Acme", "Website": "https://www.Acme.test/about", "OwnerId": "005A", "Type": "Prospect"},
        {"Id": "001B", "Name": "Acme Inc", "Website": "acme.test", "OwnerId": "005B", "Type": "Customer"},
        {"Id": "001C", "Name": "Not Acme", "Website": "https://notacme.test", "OwnerId": "005C", "Type": "Customer"},
    ]})
    accounts = crm.accounts_by_domain(["ACME.test", "o'hara.test"])
    assert list(accounts) == ["acme.test"]
    assert accounts["acme.test"].id == "001B" and accounts["acme.test"].is_customer
    assert "Website LIKE '%o\\'hara.test%'" in seen[0]


def test_given_tasks_and_events_then_they_are_sales_touches_except_our_open_reminder(adapter):
    crm, mock = adapter

    def answer(soql):
        if "FROM Task" in soql:
            return {"done": True, "records": [
                {"Id": "00T1", "WhoId": "00Q1", "TaskSubtype": "Call", "Subject": "Call", "Status": "Completed",
                 "CreatedDate": "2026-01-02T10:00:00.000+0000"},
                {"Id": "00T2", "WhoId": "00Q1", "TaskSubtype": "Task", "Subject": "Follow up leadsync handoff",
                 "Status": "Not Started", "CreatedDate": "2026-01-02T09:00:00.000+0000"}]}
        return {"done": True, "records": [{"Id": "00U1", "WhoId": "00Q1",
                                           "StartDateTime": "2026-01-03T15:00:00.000+0000"}]}
    route_queries(mock, answer)
    record = CrmRecord("00Q1", "lead", None, "hs-1", None, None, {}, datetime(2026, 1, 1, tzinfo=UTC))
    touches = crm.touches([record], datetime(2026, 1, 1, tzinfo=UTC))
    assert [(a.id, a.attrs["kind"]) for a in touches["00Q1"]] == [("00T1", "call"), ("00U1", "meeting")]


def test_given_a_mapped_field_missing_on_lead_then_the_mapping_key_is_named(adapter):
    crm, mock = adapter
    mock.replace(responses.GET, f"{DATA}/sobjects/Lead/describe",
                 json={"fields": [{"name": f} for f in LEAD_FIELDS if f != "Need__c"]})
    with pytest.raises(ConfigError) as caught:
        list(crm.changed_records(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)))
    assert "lead.fields.bant_need.field: Lead has no field Need__c" in str(caught.value)


def test_convert_envelope_escapes_and_round_trips():
    body = convert_envelope("sid<&>", ["00Q1"], "Closed & Converted")
    assert b"<sessionId>sid&lt;&amp;&gt;</sessionId>" in body
    assert b"Closed &amp; Converted" in body
    with pytest.raises(ValueError):
        convert_envelope("s", [f"00Q{n}" for n in range(101)], "x")
    results, usage = parse_convert_response(
        '<Envelope><Body><convertLeadResponse><result><leadId>00Q1</leadId><success>false</success>'
        '<errors><statusCode>X</statusCode><message>m</message></errors></result></convertLeadResponse>'
        '</Body></Envelope>')
    assert results[0].errors[0].status_code == "X" and usage is None


@pytest.mark.parametrize("website,domain", [
    ("https://www.example.com/path?x=1", "example.com"), ("HTTP://Example.COM:8080", "example.com"),
    ("www.example.co.uk", "example.co.uk"), ("", ""), (None, ""),
])
def test_website_domain(website, domain):
    assert website_domain(website) == domain


# -- end to end: simple-salesforce and the SOAP call against the sandbox's Salesforce emulator ----

@pytest.fixture(scope="module")
def org():
    from leadsync_sandbox.server import Sandbox
    with Sandbox(people=60) as box:
        yield box


@pytest.fixture
def live(org, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(org.certs.bundle_path))
    org.faults.clear()

    def make(share: float = 0.5, **settings):
        policy = HttpPolicy(PolicySettings(backoff_base=0.01, backoff_max=0.05, read_timeout=5.0,
                                           max_daily_share={"salesforce": share, "hubspot": 0.5}))
        c = org.credentials
        values = dict(auth="client_credentials", login_url=org.salesforce_url, client_id=c["SF_CLIENT_ID"],
                      client_secret=c["SF_CLIENT_SECRET"])
        values.update(settings)
        return SalesforceAdapter(SalesforceSettings(**values), load_salesforce_mapping(REPO / "mappings" /
                                                                                     "salesforce.toml"), policy)
    return make


def _handoff(crm, key: str, email: str, **values):
    lead_values = {"LastName": "Handoff", "Company": "E2E Co", "Email": email, "Status": "Open - Not Contacted",
                   "Leadsync_Stage__c": "mql", "Leadsync_Handoff_At__c": datetime.now(UTC), **values}
    outcome = crm.upsert([Write(key, None, lead_values, "lead")])
    assert key in outcome.written, outcome.failed
    return outcome.written[key]


@pytest.mark.e2e
def test_e2e_upsert_twice_never_duplicates_and_changes_come_back(org, live):
    crm = live()
    start = datetime.now(UTC) - timedelta(seconds=5)
    first = _handoff(crm, "hs-e2e-1", "ann.o'hara@e2e.test")
    again = crm.upsert([Write("hs-e2e-1", None, {"Leadsync_Score__c": 75.0}, "lead")])
    assert again.written == {"hs-e2e-1": first} and not again.created
    changed = [r for batch in crm.changed_records(start, datetime.now(UTC) + timedelta(minutes=1)) for r in batch]
    mine = [r for r in changed if r.hubspot_id == "hs-e2e-1"]
    assert len(mine) == 1 and mine[0].written["Leadsync_Score__c"] == 75.0
    found = crm.find_records(emails=["ann.o'hara@e2e.test"])
    assert [r.id for r in found] == [first]


@pytest.mark.e2e
def test_e2e_sales_feedback_touches_and_conversion(org, live):
    crm = live()
    lead_id = _handoff(crm, "hs-e2e-2", "bo.feedback@e2e.test")
    task = crm.follow_up([FollowUp("hs-e2e-2", lead_id, None, datetime.now(UTC) + timedelta(days=1),
                                   "Follow up leadsync handoff", "first touch within 30 minutes")])
    assert "hs-e2e-2" in task.created
    again = crm.follow_up([FollowUp("hs-e2e-2", lead_id, None, datetime.now(UTC) + timedelta(days=1),
                                    "Follow up leadsync handoff", "first touch within 30 minutes")])
    assert again.written == task.written and not again.created   # an open reminder is not added twice
    org.salesforce.set_lead_status(lead_id, "Working - Contacted")
    org.salesforce.log_touch(lead_id, "call")
    record = crm.find_records(ids=[lead_id])[0]
    assert record.status == "Working - Contacted"
    touches = crm.touches([record], datetime.now(UTC) - timedelta(days=1))
    assert [a.attrs["kind"] for a in touches[lead_id]] == ["call"]     # our open reminder is not a touch
    converted = crm.convert([lead_id], opportunity_stage="Qualification")
    opportunity_id = converted.written[lead_id]
    assert crm.opportunities([opportunity_id])[opportunity_id].stage == "Qualification"
    assert crm.find_records(ids=[lead_id])[0].is_converted


@pytest.mark.e2e
def test_e2e_a_locked_row_fails_alone_and_transiently(org, live):
    crm = live()
    _handoff(crm, "hs-e2e-3", "locked@e2e.test")
    org.salesforce.lock_record("hs-e2e-3")
    outcome = crm.upsert([Write("hs-e2e-3", None, {"Leadsync_Score__c": 1.0}, "lead"),
                          Write("hs-e2e-4", None, {"LastName": "Free", "Company": "E2E Co"}, "lead")])
    assert outcome.failed["hs-e2e-3"].transient and "hs-e2e-4" in outcome.written


@pytest.mark.e2e
def test_e2e_an_expired_session_is_renewed_once(org, live):
    crm = live()
    lead_id = _handoff(crm, "hs-e2e-5", "renew@e2e.test")
    org.salesforce.expire_sessions()
    assert crm.find_records(ids=[lead_id])[0].id == lead_id
    org.salesforce.expire_sessions()
    assert crm.convert([lead_id], opportunity_stage="Qualification").written   # SOAP fault → sign in again


@pytest.mark.e2e
def test_e2e_the_budget_governor_stops_before_the_share_is_spent(org, live):
    crm = live(share=0.5)
    limit = org.salesforce.daily_limit
    org.salesforce.set_api_usage(int(limit * 0.5) - 2)
    with pytest.raises(QuotaExhausted):
        for _ in range(5):
            crm.opportunities(["006000000000000AAA"])
    assert org.salesforce.api_usage() <= limit * 0.5
    org.salesforce.set_api_usage(0)


@pytest.mark.e2e
def test_e2e_password_flow_and_wrong_secret(org, live):
    c = org.credentials
    crm = live(auth="password", username=c["SF_USERNAME"], password=c["SF_PASSWORD"])
    assert crm.opportunities([]) == {} and crm.find_records(emails=["nobody@e2e.test"]) == []
    wrong = live(client_secret="not-the-secret")
    with pytest.raises(ConfigError) as caught:
        wrong.find_records(emails=["x@e2e.test"])
    assert "not-the-secret" not in str(caught.value) + str(caught.value.detail)


@pytest.mark.e2e
def test_e2e_both_adapters_share_one_policy_for_a_handoff(org, monkeypatch):
    from connector.adapters.hubspot.adapter import HubSpotAdapter, HubSpotSettings
    from connector.core.mapping import load_hubspot_mapping
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(org.certs.bundle_path))
    policy = HttpPolicy(PolicySettings(backoff_base=0.01))
    c = org.credentials
    hubspot = HubSpotAdapter(HubSpotSettings(base_url=org.hubspot_url, token=c["HUBSPOT_TOKEN"]),
                             load_hubspot_mapping(REPO / "mappings" / "hubspot.toml"), policy)
    crm = SalesforceAdapter(SalesforceSettings(login_url=org.salesforce_url, client_id=c["SF_CLIENT_ID"],
                                               client_secret=c["SF_CLIENT_SECRET"]),
                            load_salesforce_mapping(REPO / "mappings" / "salesforce.toml"), policy)
    hubspot.ensure_schema()
    contact = org.hubspot.add_contact({"email": "both.sides@e2e.test", "firstname": "Both", "lastname": "Sides",
                                       "company": "Two Systems Ltd"})
    person = hubspot.people([contact])[0]
    lead_id = crm.upsert([Write(person.id, None, {"Email": person.fields["email"], "LastName": person.fields["last_name"],
                                                  "Company": person.fields["company"], "Leadsync_Stage__c": "mql"},
                                "lead")]).written[person.id]
    written = hubspot.write([Write(person.id, person.id, {"leadsync_stage": "mql",
                                                          "lifecyclestage": "marketingqualifiedlead"})])
    assert written.written == {contact: contact}
    assert org.salesforce.lead_by_external_id(contact)["Id"] == lead_id
    usage = policy.usage()
    assert usage["hubspot"]["calls"] > 0 and usage["salesforce"]["calls"] > 0
    assert usage["salesforce"]["limit"] == org.salesforce.daily_limit
