"""The Salesforce emulator over loopback HTTPS, driven by unmodified simple-salesforce and
plain requests, the way the connector will drive the real API."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession, SalesforceMalformedRequest, SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from werkzeug.serving import make_server

from leadsync_sandbox.faults import CallLog, Faults
from leadsync_sandbox.salesforce import SalesforceState, create_app
from leadsync_sandbox.seed import build_seed
from leadsync_sandbox.tls import make_certificates

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SEED = build_seed(7, 40, NOW)
RULE_USERS = SEED.salesforce.assignment_rule["RoundRobinUserIds"]


class _Switch:
    """One HTTPS server per module; each test plugs in a fresh org behind it."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    certs = make_certificates(tmp_path_factory.mktemp("certs"))
    switch = _Switch()
    httpd = make_server("127.0.0.1", 0, switch, threaded=True,
                        ssl_context=(str(certs.cert_path), str(certs.key_path)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield switch, f"https://127.0.0.1:{httpd.server_port}", certs
    httpd.shutdown()
    thread.join(timeout=5)


class Clock:
    """Wall-clock time that a test can move forward."""

    def __init__(self) -> None:
        self.skew = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.skew


class Org:
    def __init__(self, state: SalesforceState, url: str, calls: CallLog, clock: Clock) -> None:
        self.state, self.url, self.calls, self.clock = state, url, calls, clock

    def token(self, **overrides: str) -> requests.Response:
        c = self.state.credentials
        form = {"grant_type": "client_credentials", "client_id": c["client_id"],
                "client_secret": c["client_secret"], **overrides}
        return requests.post(f"{self.url}/services/oauth2/token", data=form, timeout=10)

    def client(self, version: str = "59.0") -> Salesforce:
        answer = self.token().json()
        return Salesforce(instance_url=answer["instance_url"], session_id=answer["access_token"],
                          version=version)


@pytest.fixture
def org(server, monkeypatch):
    switch, url, certs = server
    # requests ignores Session.verify when REQUESTS_CA_BUNDLE is set: trust the sandbox CA here.
    # Loopback only, so the CA alone will do (parsing the whole bundle per connection is slow).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca_path))
    calls, clock = CallLog(), Clock()
    state = SalesforceState(SEED.salesforce, daily_limit=500, clock=clock)
    switch.app = create_app(state, Faults(), calls)
    return Org(state, url, calls, clock)


def lead(**fields):
    return {"attributes": {"type": "Lead"}, "LastName": "Lovelace", "Company": "Acme", **fields}


def collection(sf: Salesforce, method: str, path: str = "composite/sobjects", **body):
    return sf.restful(path, method=method, json=body)


# --- authentication, allocation --------------------------------------------------------------

def test_given_client_credentials_when_token_requested_then_oauth_shape(org):
    answer = org.token()
    assert answer.status_code == 200
    body = answer.json()
    assert body["instance_url"] == org.url and body["token_type"] == "Bearer"
    assert {"access_token", "id", "issued_at", "signature"} <= set(body)


@pytest.mark.parametrize("overrides, error", [
    ({"client_secret": "wrong"}, "invalid_client"),
    ({"grant_type": "password", "username": "x@y.com", "password": "nope"}, "invalid_grant"),
])
def test_given_bad_credentials_when_token_requested_then_400(org, overrides, error):
    answer = org.token(**overrides)
    assert (answer.status_code, answer.json()["error"]) == (400, error)


def test_given_password_grant_when_credentials_match_then_token(org):
    c = org.state.credentials
    assert org.token(grant_type="password", username=c["username"],
                     password=c["password"]).status_code == 200


def test_given_rest_calls_when_answered_then_limit_header_counts_each(org):
    sf = org.client()
    sf.query("SELECT Id FROM Lead")
    sf.limits()
    assert sf.api_usage["api-usage"].used == 2 and sf.api_usage["api-usage"].total == 500
    assert sf.limits()["DailyApiRequests"] == {"Max": 500, "Remaining": 497}


def test_given_expired_sessions_when_calling_then_401_invalid_session(org):
    sf = org.client()
    org.state.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_given_spent_allocation_when_calling_then_403_request_limit_exceeded(org):
    sf = org.client()
    org.state.set_api_usage(500)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.",
                                     "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert org.state.api_usage() == 500


# --- query ----------------------------------------------------------------------------------

def test_given_more_rows_than_a_page_when_query_all_then_every_row_over_query_more(org):
    for n in range(2100):
        org.state.add_record("Lead", LastName=f"L{n}", Company="Bulk", Email=f"l{n}@bulk.com")
    sf = org.client()
    first = sf.query("SELECT Id, Email FROM Lead WHERE Company = 'Bulk'")
    assert (first["totalSize"], len(first["records"]), first["done"]) == (2100, 2000, False)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    everything = sf.query_all("SELECT Id FROM Lead WHERE Company = 'Bulk'")
    assert len({r["Id"] for r in everything["records"]}) == 2100


def test_given_small_page_size_when_query_all_then_pages_follow_locators(org):
    org.state.set_page_size(3)
    sf = org.client()
    mark = org.calls.mark()
    rows = sf.query_all("SELECT Id FROM Lead")["records"]
    assert len(rows) == len(SEED.salesforce.leads)
    assert len(org.calls.since(mark)) == -(-len(rows) // 3)


def test_given_bad_locator_when_query_more_then_invalid_query_locator(org):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        org.client().query_more("01gdeadbeef-2000")
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


@pytest.mark.parametrize("soql, code", [
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
    ("SELECT Nope__c FROM Lead", "INVALID_FIELD"),
    ("SELECT Id FROM Nope", "INVALID_TYPE"),
])
def test_given_bad_soql_when_queried_then_400_with_code(org, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        org.client().query(soql)
    assert caught.value.content[0]["errorCode"] == code


def test_given_deleted_lead_when_query_all_then_only_query_all_sees_it(org):
    sf = org.client()
    doomed = SEED.salesforce.leads[0]["Id"]
    sf.Lead.delete(doomed)
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{doomed}'"
    assert sf.query(soql)["totalSize"] == 0
    assert sf.query_all(soql, include_deleted=True)["records"][0]["IsDeleted"] is True


# --- single records, upsert -----------------------------------------------------------------

def test_given_external_id_when_upserted_twice_then_one_lead_created_then_updated(org):
    sf = org.client()
    first = sf.Lead.upsert("HubSpot_Contact_Id__c/hs-1", {"LastName": "Ada", "Company": "Acme"},
                           raw_response=True)
    again = sf.Lead.upsert("HubSpot_Contact_Id__c/hs-1", {"Title": "VP"}, raw_response=True)
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (again.status_code, again.json()) == (200, {"id": first.json()["id"], "success": True,
                                                       "errors": [], "created": False})
    assert [r["Title"] for r in org.state.records("Lead")
            if r["HubSpot_Contact_Id__c"] == "hs-1"] == ["VP"]


def test_given_api_before_46_when_upsert_updates_then_204_without_body(org):
    sf = org.client()
    sf.Lead.upsert("HubSpot_Contact_Id__c/hs-2", {"LastName": "Ada", "Company": "Acme"})
    assert org.client("45.0").Lead.upsert("HubSpot_Contact_Id__c/hs-2", {"Title": "CTO"}) == 204


def test_given_unchanged_write_when_saved_then_modstamp_still_moves(org):
    sf = org.client()
    lead_id = sf.Lead.create({"LastName": "Ada", "Company": "Acme"})["id"]
    before = org.state.record("Lead", lead_id)["SystemModstamp"]
    sf.Lead.update(lead_id, {"Company": "Acme"})
    assert org.state.record("Lead", lead_id)["SystemModstamp"] > before


@pytest.mark.parametrize("body, code", [
    ({"LastName": "Ada"}, "REQUIRED_FIELD_MISSING"),
    ({"LastName": "Ada", "Company": "A", "Status": "Hot"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
    ({"LastName": "Ada", "Company": "A", "Title": "x" * 129}, "STRING_TOO_LONG"),
    ({"LastName": "Ada", "Company": "A", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
    ({"LastName": "Ada", "Company": "A", "IsConverted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ({"LastName": "Ada", "Company": "A", "Shoe_Size__c": 9}, "INVALID_FIELD"),
    ({"LastName": "Ada", "Company": "A", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR"),
    ({"LastName": "Ada", "Company": "A", "OwnerId": "005000000000000"}, "INVALID_CROSS_REFERENCE_KEY"),
])
def test_given_invalid_lead_when_created_then_400_with_real_status_code(org, body, code):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        org.client().Lead.create(body)
    assert caught.value.content[0]["errorCode"] == code


def test_given_describe_when_read_then_realistic_field_metadata(org):
    fields = {f["name"]: f for f in org.client().Lead.describe()["fields"]}
    assert fields["HubSpot_Contact_Id__c"]["externalId"] and fields["HubSpot_Contact_Id__c"]["unique"]
    assert fields["Status"]["restrictedPicklist"]
    assert [p["value"] for p in fields["Timeline__c"]["picklistValues"]] == \
        ["0-3 months", "3-6 months", "6-12 months", "12+ months"]
    assert fields["Title"]["length"] == 128 and not fields["IsConverted"]["updateable"]


def test_given_changes_when_replicating_then_updated_and_deleted_report_them(org):
    sf = org.client()
    created = sf.Lead.create({"LastName": "Ada", "Company": "Acme"})["id"]
    sf.Lead.delete(SEED.salesforce.leads[1]["Id"])
    start, end = NOW - timedelta(minutes=5), org.clock() + timedelta(minutes=5)
    # Seconds are ignored and the window ends at the current minute: this minute's changes
    # show up once it is over.
    org.clock.skew = timedelta(minutes=1)
    assert created in sf.Lead.updated(start, end)["ids"]
    deleted = sf.Lead.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [SEED.salesforce.leads[1]["Id"]]
    assert {"earliestDateAvailable", "latestDateCovered"} <= set(deleted)
    with pytest.raises(SalesforceMalformedRequest):
        sf.Lead.updated(NOW - timedelta(days=31), end)


# --- collections ----------------------------------------------------------------------------

def test_given_mixed_batch_when_created_then_per_record_results_in_order(org):
    sf = org.client()
    results = collection(sf, "POST", allOrNone=False,
                         records=[lead(), lead(Company=None), lead(Status="Hot")])
    assert [r["success"] for r in results] == [True, False, False]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[2]["errors"][0]["fields"] == ["Status"]


def test_given_all_or_none_when_one_fails_then_nothing_is_saved(org):
    sf = org.client()
    before = len(org.state.records("Lead"))
    results = collection(sf, "POST", allOrNone=True, records=[lead(), lead(LastName=None)])
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert len(org.state.records("Lead")) == before


def test_given_collection_upsert_when_rerun_then_no_duplicates_and_created_flags(org):
    sf = org.client()
    records = [lead(HubSpot_Contact_Id__c=f"hs-{n}", Email=f"p{n}@acme.com") for n in range(3)]
    path = "composite/sobjects/Lead/HubSpot_Contact_Id__c"
    first = collection(sf, "PATCH", path, allOrNone=False, records=records)
    second = collection(sf, "PATCH", path, allOrNone=False, records=records)
    assert [r["created"] for r in first] == [True] * 3
    assert [r["created"] for r in second] == [False] * 3
    assert [r["id"] for r in first] == [r["id"] for r in second]


def test_given_repeated_external_id_in_one_call_when_upserted_then_both_fail(org):
    sf = org.client()
    results = collection(sf, "PATCH", "composite/sobjects/Lead/HubSpot_Contact_Id__c",
                         records=[lead(HubSpot_Contact_Id__c="hs-9"), lead(HubSpot_Contact_Id__c="HS-9")])
    assert {r["errors"][0]["statusCode"] for r in results} == {"DUPLICATE_EXTERNAL_ID"}


def test_given_collection_update_and_retrieve_when_read_back_then_values_and_nulls(org):
    sf = org.client()
    ids = [r["id"] for r in collection(sf, "POST", records=[lead(), lead()])]
    updated = collection(sf, "PATCH", records=[{**lead(Title="CTO"), "Id": ids[0]},
                                               {**lead(Title="CEO")}])
    assert updated[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    missing = "00Q5g0000009999"
    rows = sf.restful(f"composite/sobjects/Lead?ids={ids[0]},{missing}&fields=Id,Title")
    assert rows[0]["Title"] == "CTO" and rows[1] is None


def test_given_over_200_records_when_sent_then_exceeded_id_limit(org):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        collection(org.client(), "POST", records=[lead()] * 201)
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_given_locked_row_when_written_then_unable_to_lock_until_released(org):
    sf = org.client()
    target = SEED.salesforce.leads[0]["Id"]
    org.state.lock_record(target, times=1)
    first = collection(sf, "PATCH", records=[{"attributes": {"type": "Lead"}, "Id": target,
                                              "Title": "CFO"}])
    assert first[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert collection(sf, "PATCH", records=[{"attributes": {"type": "Lead"}, "Id": target,
                                             "Title": "CFO"}])[0]["success"]


def test_given_validation_rule_when_violated_then_custom_validation_exception(org):
    org.state.add_validation_rule("Lead", "Reason on rejection",
                                  lambda r: r["Status"] == "Closed - Not Converted"
                                  and not r["Rejection_Reason__c"],
                                  "Give a reason", field="Rejection_Reason__c")
    results = collection(org.client(), "POST", records=[lead(Status="Closed - Not Converted")])
    assert results[0]["errors"][0] == {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                       "message": "Give a reason",
                                       "fields": ["Rejection_Reason__c"]}


def test_given_duplicate_external_id_when_created_then_duplicate_value(org):
    sf = org.client()
    sf.Lead.create({"LastName": "A", "Company": "B", "HubSpot_Contact_Id__c": "hs-7"})
    results = collection(sf, "POST", records=[lead(HubSpot_Contact_Id__c="hs-7")])
    assert results[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"


# --- assignment -----------------------------------------------------------------------------

def test_given_default_header_when_leads_created_then_round_robin_over_rule_users(org):
    sf = org.client()
    ids = [sf.Lead.create({"LastName": f"L{n}", "Company": "A"})["id"] for n in range(4)]
    owners = [org.state.record("Lead", i)["OwnerId"] for i in ids]
    assert owners == (RULE_USERS * 2)[:4]


def test_given_auto_assign_false_when_created_then_given_owner_or_integration_user(org):
    sf = org.client()
    header = {"Sforce-Auto-Assign": "FALSE"}
    chosen = SEED.salesforce.manager_id
    kept = sf.Lead.create({"LastName": "A", "Company": "B", "OwnerId": chosen}, headers=header)
    mine = sf.Lead.create({"LastName": "A", "Company": "B"}, headers=header)
    assert org.state.record("Lead", kept["id"])["OwnerId"] == chosen
    assert org.state.record("Lead", mine["id"])["OwnerId"] == SEED.salesforce.integration_user_id


def test_given_update_without_header_when_saved_then_rule_reassigns_like_salesforce(org):
    sf = org.client()
    lead_id = SEED.salesforce.leads[0]["Id"]
    owner = org.state.record("Lead", lead_id)["OwnerId"]
    sf.Lead.update(lead_id, {"Title": "CFO"}, headers={"Sforce-Auto-Assign": "FALSE"})
    assert org.state.record("Lead", lead_id)["OwnerId"] == owner
    sf.Lead.update(lead_id, {"Title": "CEO"})
    assert org.state.record("Lead", lead_id)["OwnerId"] == RULE_USERS[0]


# --- SOAP convertLead -----------------------------------------------------------------------

def convert_envelope(session_id: str, lead_id: str, status: str = "Closed - Converted") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:urn="urn:partner.soap.sforce.com">
  <soapenv:Header><urn:SessionHeader><urn:sessionId>{session_id}</urn:sessionId></urn:SessionHeader></soapenv:Header>
  <soapenv:Body><urn:convertLead><urn:leadConverts>
    <urn:convertedStatus>{status}</urn:convertedStatus>
    <urn:doNotCreateOpportunity>false</urn:doNotCreateOpportunity>
    <urn:leadId>{lead_id}</urn:leadId>
    <urn:opportunityName>Acme - new business</urn:opportunityName>
    <urn:sendNotificationEmail>false</urn:sendNotificationEmail>
  </urn:leadConverts></urn:convertLead></soapenv:Body>
</soapenv:Envelope>"""


def soap(org: Org, envelope: str) -> requests.Response:
    return requests.post(f"{org.url}/services/Soap/u/59.0", data=envelope.encode(), timeout=10,
                         headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'})


def test_given_lead_when_converted_over_soap_then_account_contact_opportunity(org):
    import xml.etree.ElementTree as ET
    token = org.token().json()["access_token"]
    lead_id = SEED.salesforce.leads[2]["Id"]
    answer = soap(org, convert_envelope(token, lead_id))
    assert answer.status_code == 200
    ns = {"p": "urn:partner.soap.sforce.com"}
    result = ET.fromstring(answer.content).find(".//p:convertLeadResponse/p:result", ns)
    assert result.findtext("p:success", namespaces=ns) == "true"
    opp_id = result.findtext("p:opportunityId", namespaces=ns)
    converted = org.state.record("Lead", lead_id)
    assert converted["IsConverted"] and converted["Status"] == "Closed - Converted"
    assert converted["ConvertedOpportunityId"] == opp_id
    opp = org.state.record("Opportunity", opp_id)
    assert (opp["StageName"], opp["Name"]) == ("Prospecting", "Acme - new business")
    # convertLead takes no stage: the caller moves the opportunity on afterwards.
    sf = org.client()
    sf.Opportunity.update(opp_id, {"StageName": "Qualification"})
    assert org.state.record("Opportunity", opp_id)["StageName"] == "Qualification"
    again = ET.fromstring(soap(org, convert_envelope(token, lead_id)).content)
    assert again.findtext(".//p:result/p:success", namespaces=ns) == "false"
    assert again.findtext(".//p:errors/p:statusCode", namespaces=ns) == "CANNOT_UPDATE_CONVERTED_LEAD"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead_id, {"Title": "CFO"})
    assert caught.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_given_expired_session_when_soap_called_then_invalid_session_fault(org):
    token = org.token().json()["access_token"]
    org.state.expire_sessions()
    answer = soap(org, convert_envelope(token, SEED.salesforce.leads[0]["Id"]))
    assert answer.status_code == 500
    assert b"<faultcode>sf:INVALID_SESSION_ID</faultcode>" in answer.content


# --- acting as sales --------------------------------------------------------------------------

def test_given_sales_feedback_when_read_back_then_status_touches_and_merge_visible(org):
    sf = org.client()
    master, dup = (SEED.salesforce.leads[0]["Id"], SEED.salesforce.leads[1]["Id"])
    org.state.set_lead_status(master, "Working - Contacted")
    org.state.set_bant(master, budget=True, timeline="0-3 months")
    org.state.log_touch(dup, "call")
    org.state.merge_leads(master, dup)
    row = sf.query(f"SELECT Status, Budget_Confirmed__c, Timeline__c FROM Lead WHERE Id = '{master}'")
    assert row["records"][0]["Status"] == "Working - Contacted"
    assert row["records"][0]["Timeline__c"] == "0-3 months"
    assert [t["WhoId"] for t in org.state.tasks_for(master)] == [master]
    merged = sf.query_all(f"SELECT MasterRecordId FROM Lead WHERE Id = '{dup}'", include_deleted=True)
    assert merged["records"][0]["MasterRecordId"] == master


def test_given_admin_route_when_called_then_not_counted_against_allocation(org):
    answer = requests.post(f"{org.url}/__admin__/actions/set_api_usage", json={"used": 7}, timeout=10)
    assert answer.status_code == 200
    assert requests.get(f"{org.url}/__admin__/state", timeout=10).json()["api_usage"]["used"] == 7
    assert org.calls.count("salesforce") == 0


def test_given_unknown_record_when_fetched_then_404_not_found(org):
    with pytest.raises(SalesforceResourceNotFound):
        org.client().Lead.get("00Q5g0000009999")
