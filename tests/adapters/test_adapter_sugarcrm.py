"""The SugarCRM adapter and its transport rules against Sugar-shaped responses (``responses``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.adapters.sugarcrm import SugarAdapter, SugarAuth, SugarSettings
from connector.adapters.sugarcrm import client as sugar_client
from connector.app.config import parse_config
from connector.core.errors import ConfigError
from connector.adapters.sugarcrm.mapping import load_sugar_mapping
from connector.ports import LEAD, Write
from connector.transport import HttpPolicy, PolicySettings, classify

REPO = Path(__file__).resolve().parents[2]
BASE = "https://acme.sugar.test"
REST = f"{BASE}/rest/v11_4"
UTC = timezone.utc
LEAD_META = {"last_name": {"name": "last_name", "type": "varchar", "len": 100, "required": True},
             "first_name": {"name": "first_name", "type": "varchar", "len": 100},
             "title": {"name": "title", "type": "varchar", "len": 100},
             "status": {"name": "status", "type": "enum", "len": 100, "options": "lead_status_dom"},
             "email1": {"name": "email1", "type": "email", "len": 100},
             "hubspot_contact_id_c": {"name": "hubspot_contact_id_c", "type": "varchar", "len": 36},
             "leadsync_stage_c": {"name": "leadsync_stage_c", "type": "varchar", "len": 30},
             "assigned_user_id": {"name": "assigned_user_id", "type": "relate", "len": 36}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def adapter() -> SugarAdapter:
    clock = Clock()
    policy = HttpPolicy(PolicySettings(), clock=clock, sleep=clock.sleep, wall_clock=clock, rng=lambda: 0.5)
    settings = SugarSettings(base_url=BASE, api_version="v11_4", platform="leadsync", client_id="leadsync",
                             client_secret="s3cret", username="leadsync", password="pw")
    return SugarAdapter(settings, load_sugar_mapping(REPO / "mappings" / "sugarcrm.toml"), policy,
                        SugarAuth(settings, policy, clock=clock))


def sign_in(rsps: responses.RequestsMock, *tokens: str) -> None:
    for n, token in enumerate(tokens or ("t1",)):
        rsps.post(f"{REST}/oauth2/token", json={"access_token": token, "refresh_token": f"r{n + 1}",
                                                "expires_in": 3600, "token_type": "bearer"})


def body(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


# -- the transport's table ------------------------------------------------------------------------

@pytest.mark.parametrize("status,payload,single,action", [
    (401, {"error": "invalid_grant", "error_message": "The access token provided is invalid."}, False, "reauth"),
    (401, {"error": "need_login", "error_message": "No valid authentication for user."}, False, "reauth"),
    (409, {"error": "edit_conflict", "error_message": "Edit conflict"}, True, "retry"),
    (422, {"error": "invalid_parameter", "error_message": "Unknown field: x"}, True, "skip_record"),
    (422, {"error": "invalid_parameter", "error_message": "Unknown field: x"}, False, "fatal"),
    (424, {"error": "Expected Close Date is required", "error_message": "invalid_parameter"}, True, "skip_record"),
    (301, {"error": "incorrect_version", "error_message": "The API version v9 is not supported"}, False, "fatal_config"),
    (400, {"error": "invalid_grant", "error_message": "Invalid refresh token"}, False, "fatal_config"),
    (422, {"error": "invalid_parameter", "error_message": "The platform 'x' is not allowed; an administrator must "
                                                         "register it in Admin > Configure API Platforms"}, False,
     "fatal_config"),
    (503, {"error": "maintenance", "error_message": "Sugar is down for maintenance"}, False, "retry"),
])
def test_given_sugars_error_shapes_when_classified_then_the_action_fits(status, payload, single, action):
    assert classify("sugarcrm", status, {}, json.dumps(payload), None, single_record=single).action == action


# -- reading --------------------------------------------------------------------------------------

def _lead(n: int, stamp: str) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "date_modified": stamp, "email1": f"p{n}@example.org",
            "hubspot_contact_id_c": str(n), "status": "New", "converted": False, "opportunity_id": ""}


def test_given_more_changes_than_a_page_when_pulled_then_pages_follow_the_keyset_never_an_offset(adapter, monkeypatch):
    monkeypatch.setattr(sugar_client, "PAGE", 2)
    since, until = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    pages = [[_lead(1, "2026-11-01T10:00:00+00:00"), _lead(2, "2026-11-01T10:00:00+00:00")],
             [_lead(3, "2026-11-01T11:00:00+00:00")]]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        sign_in(rsps)
        rsps.post(f"{REST}/Leads/filter", json={"next_offset": 2, "records": pages[0]})
        rsps.post(f"{REST}/Leads/filter", json={"next_offset": -1, "records": pages[1]})
        rsps.post(f"{REST}/Contacts/filter", json={"next_offset": -1, "records": []})
        rsps.post(f"{REST}/Opportunities/filter", json={"next_offset": -1, "records": []})
        rsps.get(f"{REST}/metadata", json={"modules": {"Contacts": {"fields": {
            "id": {}, "email1": {}, "hubspot_contact_id_c": {}, "assigned_user_id": {}, "account_id": {},
            "date_modified": {}}}}})
        batches = list(adapter.changed_records(since, until))
        lead_calls = [body(c) for c in rsps.calls if c.request.url.endswith("/Leads/filter")]
    assert [r.hubspot_id for batch in batches for r in batch] == ["1", "2", "3"]
    assert all("offset" not in call for call in lead_calls)
    assert lead_calls[0]["order_by"] == "date_modified:ASC,id:ASC"
    keyset = lead_calls[1]["filter"][-1]["$or"]
    assert keyset[0] == {"date_modified": {"$gt": "2026-11-01T10:00:00+00:00"}}
    assert keyset[1]["$and"][1] == {"id": {"$gt": pages[0][1]["id"]}}
    window = lead_calls[0]["filter"][1:3]
    assert window == [{"date_modified": {"$gte": "2026-11-01T00:00:00+00:00"}},
                      {"date_modified": {"$lt": "2026-11-02T00:00:00+00:00"}}]


# -- writing --------------------------------------------------------------------------------------

@pytest.mark.parametrize("values,reason", [
    ({"title": "T" * 101, "last_name": "Ng"}, "Leads.title takes at most 100 characters"),
    ({"status": "Hot", "last_name": "Ng"}, "Leads.status: 'Hot' is not a value of the lead_status_dom dropdown"),
    ({"first_name": "Kim"}, "Leads.last_name is required"),
    ({"last_name": "Ng", "favourite_colour": "red"}, "Leads has no field favourite_colour"),
])
def test_given_a_value_sugar_would_not_check_when_written_then_quarantined_and_nothing_sent(adapter, values, reason):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        sign_in(rsps)
        rsps.get(f"{REST}/metadata?type_filter=modules&module_filter=Leads",
                 json={"modules": {"Leads": {"fields": LEAD_META}}})
        rsps.get(f"{REST}/Leads/enum/status", json={"": "", "New": "New", "In Process": "In Process"})
        rsps.post(f"{REST}/Leads/filter", json={"next_offset": -1, "records": []})
        rsps.post(f"{REST}/Contacts/filter", json={"next_offset": -1, "records": []})
        rsps.get(f"{REST}/metadata?type_filter=modules&module_filter=Contacts",
                 json={"modules": {"Contacts": {"fields": {"id": {}, "email1": {}}}}})
        outcome = adapter.upsert([Write("42", None, values, LEAD)])
        writes = [c for c in rsps.calls if c.request.method in ("POST", "PUT") and not c.request.url.endswith(
            ("/filter", "/oauth2/token"))]
    assert reason in str(outcome.failed["42"]) and not outcome.written and writes == []


def test_given_an_expired_token_when_writing_then_the_refresh_token_is_used_and_the_write_retried(adapter):
    with responses.RequestsMock() as rsps:
        sign_in(rsps, "t1", "t2")
        rsps.get(f"{REST}/metadata", json={"modules": {"Leads": {"fields": LEAD_META}}})
        rsps.post(f"{REST}/bulk", status=401,
                  json={"error": "invalid_grant", "error_message": "The access token provided is invalid."})
        rsps.post(f"{REST}/bulk", json=[{"status": 200, "headers": {}, "contents": {"id": "L1"}}])
        outcome = adapter.update([Write("42", "L1", {"leadsync_stage_c": "sal"}, LEAD)])
        grants = [body(c) for c in rsps.calls if c.request.url.endswith("/oauth2/token")]
        puts = [c.request.headers["OAuth-Token"] for c in rsps.calls if c.request.url.endswith("/bulk")]
        [sub] = body(rsps.calls[-1])["requests"]
    assert outcome.written == {"42": "L1"}
    assert (sub["method"], sub["url"]) == ("PUT", "/v11_4/Leads/L1")
    assert json.loads(sub["data"]) == {"leadsync_stage_c": "sal", "hubspot_contact_id_c": "42"}
    assert [g["grant_type"] for g in grants] == ["password", "refresh_token"] and grants[1]["refresh_token"] == "r1"
    assert grants[0]["platform"] == "leadsync" and puts == ["t1", "t2"]


def test_given_a_failed_sub_create_when_converting_then_the_lead_fails_with_sugars_words(adapter):
    lead = {**_lead(7, "2026-11-01T10:00:00+00:00"), "first_name": "Ana", "last_name": "Ruiz", "title": "CTO",
            "account_name": "Ruiz GmbH", "assigned_user_id": "u1", "account_id": ""}
    metas = {"Contacts": {"last_name": {"type": "varchar", "len": 100, "required": True}, "first_name": {},
                          "title": {}, "email1": {}, "assigned_user_id": {}, "lead_source": {"type": "enum"}},
             "Accounts": {"name": {"type": "name", "len": 150, "required": True}, "assigned_user_id": {}},
             "Opportunities": {"name": {"type": "name", "len": 50, "required": True},
                               "sales_stage": {"type": "enum", "options": "sales_stage_dom", "required": True},
                               "date_closed": {"type": "date", "required": True}, "hubspot_contact_id_c": {},
                               "assigned_user_id": {}}}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        sign_in(rsps)
        rsps.post(f"{REST}/Leads/filter", json={"next_offset": -1, "records": [lead]})
        rsps.post(f"{REST}/Accounts/filter", json={"next_offset": -1, "records": []})   # no account for the domain
        for module, fields in metas.items():
            rsps.get(f"{REST}/metadata?type_filter=modules&module_filter={module}",
                     json={"modules": {module: {"fields": fields}}})
        rsps.get(f"{REST}/Opportunities/enum/sales_stage", json={"Prospecting": "Prospecting"})
        rsps.post(f"{REST}/Leads/{lead['id']}/convert", status=424,
                  json={"error": "Expected Close Date is required", "error_message": "invalid_parameter"})
        outcome = adapter.convert([lead["id"]], opportunity_stage="Prospecting")
        [sent] = [body(c) for c in rsps.calls if c.request.url.endswith("/convert")]
    contact, opportunity = sent["modules"]["Contacts"], sent["modules"]["Opportunities"]
    assert (contact["first_name"], contact["last_name"], contact["email1"]) == ("Ana", "Ruiz", "p7@example.org")
    assert (opportunity["sales_stage"], opportunity["hubspot_contact_id_c"]) == ("Prospecting", "7")
    assert sent["modules"]["Accounts"]["name"] == "Ruiz GmbH" and "hubspot_contact_id_c" not in contact
    assert "Expected Close Date is required" in str(outcome.failed[lead["id"]]) and not outcome.written


# -- configuration --------------------------------------------------------------------------------

@pytest.mark.parametrize("data,key,words", [
    ({"crm": {"system": "dynamics"}}, "crm.system", "expected one of"),
    ({"sugarcrm": {"api_version": "11.4"}}, "sugarcrm.api_version", "Sugar REST version"),
    ({"sugarcrm": {"platform": "lead sync!"}}, "sugarcrm.platform", "platform name"),
    ({"sugarcrm": {"client_secret": "oops"}}, "sugarcrm.client_secret", "unknown key"),
    ({"sugarcrm": {"base_url": "sugar.example.com"}}, "sugarcrm.base_url", "http(s) URL"),
])
def test_given_bad_sugar_configuration_when_loaded_then_the_key_and_reason_are_named(data, key, words):
    with pytest.raises(ConfigError) as raised:
        parse_config(data, "leadsync.toml")
    [problem] = raised.value.problems
    assert (problem.file, problem.key) == ("leadsync.toml", key) and words in problem.reason


def test_given_the_sugar_section_when_loaded_then_spec_names_and_defaults_hold():
    config = parse_config({"crm": {"system": "sugarcrm"}, "sugarcrm": {
        "base_url": "https://example.sugarondemand.com", "api_version": "v11_4", "platform": "leadsync",
        "client_id": "sugar", "client_secret_env": "SUGAR_CLIENT_SECRET", "username_env": "SUGAR_USERNAME",
        "password_env": "SUGAR_PASSWORD"}}, "leadsync.toml")
    assert config.crm.system == "sugarcrm" and config.sugarcrm.platform == "leadsync"
    assert config.sugarcrm.base_url == "https://example.sugarondemand.com"
