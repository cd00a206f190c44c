"""The SugarCRM emulator behaves as Sugar's REST v11 documents it, never kinder."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Iterator

import pytest
import requests

from leadsync_sandbox.server import Sandbox
from tests.sandbox_fixtures import NOW

VERSION = "v11_4"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7, people=60, now=NOW, crm="sugarcrm") as running:
        yield running


@pytest.fixture(autouse=True)
def _ca_bundle(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.env()["REQUESTS_CA_BUNDLE"])


class Sugar:
    def __init__(self, sandbox: Sandbox, platform: str = "leadsync") -> None:
        self.sandbox, self.base = sandbox, f"{sandbox.sugarcrm_url}/rest/{VERSION}"
        self.http = requests.Session()
        self.tokens = self.login(platform)

    def login(self, platform: str = "leadsync") -> dict[str, Any]:
        env = self.sandbox.env()
        response = self.http.post(f"{self.base}/oauth2/token", json={
            "grant_type": "password", "client_id": "leadsync", "client_secret": env["SUGAR_CLIENT_SECRET"],
            "username": env["SUGAR_USERNAME"], "password": env["SUGAR_PASSWORD"], "platform": platform})
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"OAuth-Token": token or self.tokens["access_token"]}
        return self.http.request(method, f"{self.base}/{path}", headers=headers, allow_redirects=False, **kwargs)


@pytest.fixture
def sugar(sandbox: Sandbox) -> Sugar:
    return Sugar(sandbox)


def test_given_a_valid_login_when_calling_then_token_lasts_an_hour_and_both_headers_work(sugar: Sugar) -> None:
    assert sugar.tokens["expires_in"] == 3600 and sugar.tokens["refresh_token"]
    bearer = sugar.http.get(f"{sugar.base}/me", headers={"Authorization": f"Bearer {sugar.tokens['access_token']}"})
    assert sugar.call("GET", "me").status_code == 200 and bearer.status_code == 200


def test_given_a_second_login_on_the_same_platform_when_the_first_token_is_used_then_it_is_refused(sugar: Sugar) -> None:
    first = sugar.tokens["access_token"]
    second = sugar.login()["access_token"]
    refused = sugar.call("GET", "me", token=first)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_grant"
    assert sugar.call("GET", "me", token=second).status_code == 200


def test_given_a_refresh_token_when_used_twice_then_the_second_use_is_refused(sugar: Sugar) -> None:
    grant = {"grant_type": "refresh_token", "client_id": "leadsync",
             "client_secret": sugar.sandbox.env()["SUGAR_CLIENT_SECRET"], "refresh_token": sugar.tokens["refresh_token"]}
    first = sugar.http.post(f"{sugar.base}/oauth2/token", json=grant)
    again = sugar.http.post(f"{sugar.base}/oauth2/token", json=grant)
    assert first.status_code == 200 and first.json()["access_token"] != sugar.tokens["access_token"]
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert sugar.call("GET", "me", token=sugar.tokens["access_token"]).status_code == 401   # the old session ended


def test_given_an_unregistered_platform_when_logging_in_then_it_is_refused_naming_the_admin_step(sandbox: Sandbox) -> None:
    env = sandbox.env()
    response = requests.post(f"{sandbox.sugarcrm_url}/rest/{VERSION}/oauth2/token", json={
        "grant_type": "password", "client_id": "leadsync", "client_secret": env["SUGAR_CLIENT_SECRET"],
        "username": env["SUGAR_USERNAME"], "password": env["SUGAR_PASSWORD"], "platform": "zapier"})
    assert response.status_code == 422 and "Configure API Platforms" in response.json()["error_message"]


def test_given_expired_tokens_when_calling_then_401_invalid_grant_and_no_token_is_need_login(sugar: Sugar) -> None:
    sugar.sandbox.sugarcrm.expire_tokens()
    expired = sugar.call("GET", "me")
    anonymous = sugar.http.get(f"{sugar.base}/me")
    assert (expired.status_code, expired.json()["error"]) == (401, "invalid_grant")
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "need_login")


def test_given_an_unknown_api_version_when_calling_then_301_incorrect_version(sugar: Sugar) -> None:
    response = sugar.http.get(f"{sugar.sandbox.sugarcrm_url}/rest/v9/Leads", allow_redirects=False,
                              headers={"OAuth-Token": sugar.tokens["access_token"]})
    assert response.status_code == 301 and response.json()["error"] == "incorrect_version"


def test_given_bad_filters_when_filtering_then_422_not_400(sugar: Sugar) -> None:
    for body in ({"filter": [{"nope": "x"}]}, {"filter": [{"status": {"$like": "x"}}]}, {"filter": {"status": "New"}},
                 {"order_by": "nope:ASC"}, {"max_num": "many"}):
        response = sugar.call("POST", "Leads/filter", json=body)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_parameter"), body


def test_given_the_filter_language_when_filtering_then_operators_compose(sugar: Sugar) -> None:
    leads = sugar.sandbox.sugarcrm.records("Leads")
    some = leads[0]
    body = {"filter": [{"$or": [{"email1": some["email1"].upper()}, {"last_name": {"$starts": "zzz"}}]},
                       {"status": {"$in": [some["status"]]}}, {"opportunity_id": {"$is_null": True}}],
            "fields": "email1,status"}
    records = sugar.call("POST", "Leads/filter", json=body).json()["records"]
    assert [r["id"] for r in records] == [some["id"]]
    assert set(records[0]) == {"id", "date_modified", "email1", "status", "_acl", "_module"}


def test_given_no_max_num_when_filtering_then_twenty_come_back_newest_first(sugar: Sugar) -> None:
    page = sugar.call("GET", "Calls").json()
    stamps = [r["date_modified"] for r in page["records"]]
    total = len(sugar.sandbox.sugarcrm.records("Calls"))
    assert len(stamps) == min(20, total) and stamps == sorted(stamps, reverse=True)
    assert page["next_offset"] == (-1 if total <= 20 else 20)


def test_given_records_saved_while_paging_by_offset_when_reading_then_one_is_skipped(sugar: Sugar) -> None:
    """Offset pages are evaluated again per page: a record saved mid-pull moves and is missed."""
    args = {"order_by": "date_modified:ASC,id:ASC", "max_num": 3, "fields": "id"}
    first = sugar.call("POST", "Accounts/filter", json={**args, "offset": 0}).json()
    sugar.call("PUT", f"Accounts/{first['records'][0]['id']}", json={"description": "touched"})
    rest, offset = [], first["next_offset"]
    while offset != -1:
        page = sugar.call("POST", "Accounts/filter", json={**args, "offset": offset}).json()
        rest += [r["id"] for r in page["records"]]
        offset = page["next_offset"]
    seen = [r["id"] for r in first["records"]] + rest
    every = {r["id"] for r in sugar.sandbox.sugarcrm.records("Accounts")}
    assert len(every - set(seen)) == 1


def test_given_a_save_when_reading_then_date_modified_moves_to_the_whole_second(sugar: Sugar) -> None:
    account = sugar.sandbox.sugarcrm.records("Accounts")[1]
    saved = sugar.call("PUT", f"Accounts/{account['id']}", json={}).json()
    assert saved["date_modified"] > account["date_modified"].isoformat()
    assert saved["date_modified"].endswith("+00:00") and "." not in saved["date_modified"]


def test_given_invalid_values_when_saving_then_sugar_neither_refuses_nor_keeps_them_whole(sugar: Sugar) -> None:
    response = sugar.call("POST", "Leads", json={"first_name": "F" * 150, "status": "Hot", "email1": "x@example.org"})
    record = response.json()
    assert response.status_code == 200 and record["last_name"] == ""        # required, not checked
    assert len(record["first_name"]) == 100 and record["status"] == "Hot"   # cut silently; any enum value


def test_given_deleted_rows_when_asked_then_only_id_and_flag_come_back(sugar: Sugar) -> None:
    created = sugar.call("POST", "Tasks", json={"name": "temp"}).json()
    sugar.call("DELETE", f"Tasks/{created['id']}")
    hidden = sugar.call("POST", "Tasks/filter", json={"filter": [{"id": created["id"]}]}).json()["records"]
    shown = sugar.call("POST", "Tasks/filter", json={"deleted": True, "max_num": 1000}).json()["records"]
    assert hidden == [] and {"id": created["id"], "deleted": True, "_module": "Tasks"} in shown


def test_given_a_stale_timestamp_when_updating_then_409_edit_conflict(sugar: Sugar) -> None:
    account = sugar.sandbox.sugarcrm.records("Accounts")[2]
    stale = (account["date_modified"] - timedelta(seconds=5)).isoformat()
    response = sugar.http.put(f"{sugar.base}/Accounts/{account['id']}", json={"description": "x"},
                              headers={"OAuth-Token": sugar.tokens["access_token"], "X-Timestamp": stale})
    assert (response.status_code, response.json()["error"]) == (409, "edit_conflict")


def test_given_a_lead_when_converted_then_linked_records_exist_and_nothing_was_copied(sugar: Sugar) -> None:
    lead = sugar.call("POST", "Leads", json={"last_name": "Ng", "title": "CTO", "email1": "ng@example.org"}).json()
    response = sugar.call("POST", f"Leads/{lead['id']}/convert", json={"modules": {
        "Contacts": {"last_name": "Ng"}, "Opportunities": {"name": "Ng deal", "sales_stage": "Prospecting"}}})
    modules = {m["_module"]: m for m in response.json()["modules"]}
    assert modules["Leads"]["status"] == "Converted" and modules["Leads"]["converted"] is True
    assert modules["Leads"]["opportunity_id"] == modules["Opportunities"]["id"]
    assert modules["Contacts"]["title"] == "" and modules["Contacts"]["email"] == []


def test_given_a_failing_sub_create_when_converting_then_424_with_the_labels_swapped(sugar: Sugar) -> None:
    state = sugar.sandbox.sugarcrm
    state.add_validation_hook("Opportunities", lambda r: not r.get("date_closed"), "Expected Close Date is required")
    try:
        lead = sugar.call("POST", "Leads", json={"last_name": "Oz"}).json()
        response = sugar.call("POST", f"Leads/{lead['id']}/convert", json={"modules": {
            "Contacts": {"last_name": "Oz"}, "Opportunities": {"name": "Oz deal"}}})
    finally:
        state.clear_validation_hooks()
    assert response.status_code == 424
    assert response.json() == {"error": "Expected Close Date is required", "error_message": "invalid_parameter"}


def test_given_bulk_requests_when_sent_then_each_answers_with_its_own_status(sugar: Sugar) -> None:
    lead = sugar.sandbox.sugarcrm.records("Leads")[3]
    answer = sugar.call("POST", "bulk", json={"requests": [
        {"url": f"/{VERSION}/Leads/{lead['id']}", "method": "PUT", "data": json.dumps({"title": "VP Sales"})},
        {"url": f"/{VERSION}/Leads/missing", "method": "GET"}]}).json()
    assert [a["status"] for a in answer] == [200, 404] and answer[0]["contents"]["title"] == "VP Sales"


def test_given_a_call_linked_to_a_lead_when_listing_the_link_then_it_is_there(sugar: Sugar) -> None:
    lead = sugar.call("POST", "Leads", json={"last_name": "Ray"}).json()
    call = sugar.call("POST", "Calls", json={"name": "Intro", "status": "Held", "date_start": NOW.isoformat()}).json()
    sugar.call("POST", f"Leads/{lead['id']}/link/calls/{call['id']}")
    linked = sugar.call("GET", f"Leads/{lead['id']}/link/calls").json()["records"]
    assert [c["id"] for c in linked] == [call["id"]] and linked[0]["parent_type"] == "Leads"


def test_given_metadata_when_read_then_dropdowns_are_named_and_values_come_from_enum(sugar: Sugar) -> None:
    fields = sugar.call("GET", "metadata", params={"module_filter": "Opportunities"}).json()["modules"]["Opportunities"]["fields"]
    values = sugar.call("GET", "Opportunities/enum/sales_stage").json()
    assert fields["sales_stage"]["options"] == "sales_stage_dom" and "values" not in fields["sales_stage"]
    assert list(values)[:2] == ["Prospecting", "Qualification"] and "Closed Won" in values


def test_given_the_seed_when_started_then_it_looks_like_someone_elses_years_of_use(sandbox: Sandbox) -> None:
    state = sandbox.sugarcrm
    accounts, leads = state.records("Accounts"), state.records("Leads")
    assert any(a["account_type"] == "Customer" for a in accounts)
    assert sum(1 for lead in leads if lead.get("hubspot_contact_id_c")) == 2
    assert state.records("Calls") and any(o["sales_stage"] == "Closed Won" for o in state.records("Opportunities"))
    emails = {c.properties["email"] for c in sandbox.seed.hubspot.contacts}
    assert sum(1 for lead in leads if lead.get("email1") in emails and not lead.get("hubspot_contact_id_c")) >= 3
