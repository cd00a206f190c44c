"""The HubSpot emulator, driven by the unmodified hubspot-api-client over loopback HTTPS."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from hubspot.crm.contacts import ApiException as ContactsError
from hubspot.crm.properties import ApiException as PropertiesError
from hubspot.events import ApiException as EventsError

from leadsync_sandbox.seed_catalog import FORM_GUIDS
from leadsync_sandbox.server import Sandbox
from tests.sandbox_fixtures import NOW, HubSpotApis, _no_leftover_faults, hs, hubspot_apis, sandbox  # noqa: F401


def _update(hs: HubSpotApis, *inputs: tuple[str, dict]) -> object:
    return hs.contacts_batch.update({"inputs": [{"id": i, "properties": p} for i, p in inputs]})


def _error_body(exc: Exception) -> dict:
    return json.loads(exc.body)


# ---- listing and reading -------------------------------------------------------------------

def test_given_a_seeded_portal_when_paging_contacts_then_every_contact_comes_exactly_once(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    seen, after = [], None
    while True:
        page = hs.contacts.get_page(limit=25, after=after, properties=["email", "jobtitle"])
        seen += [c.id for c in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert sorted(seen, key=int) == [c["id"] for c in sandbox.hubspot.contacts()]
    assert len(seen) == 60


def test_given_a_contact_with_a_company_when_read_with_associations_then_the_company_is_listed(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    contact = hs.contacts.get_by_id("101", properties=["email", "no_such_property"], associations=["companies"])
    assert contact.properties["email"] == sandbox.hubspot.contact("101")["email"]
    assert "no_such_property" not in contact.properties  # unknown names are silently left out
    company_ids = {a.id for a in contact.associations["companies"].results}
    assert company_ids == {sandbox.hubspot.primary_company["101"]}


def test_given_an_unknown_id_when_read_then_404_object_not_found(hs: HubSpotApis) -> None:
    with pytest.raises(ContactsError) as caught:
        hs.contacts.get_by_id("999999")
    assert caught.value.status == 404
    assert _error_body(caught.value)["category"] == "OBJECT_NOT_FOUND"


def test_given_ids_some_missing_when_batch_read_then_207_names_the_missing(hs: HubSpotApis) -> None:
    result = hs.contacts_batch.read({"inputs": [{"id": "102"}, {"id": "424242"}], "properties": ["email"]})
    assert [r.id for r in result.results] == ["102"]
    assert result.num_errors == 1
    assert result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["424242"]}


def test_given_emails_when_batch_read_by_email_then_contacts_come_back(sandbox: Sandbox, hs: HubSpotApis) -> None:
    email = sandbox.hubspot.contact("103")["email"]
    result = hs.contacts_batch.read({"inputs": [{"id": email.upper()}], "idProperty": "email", "properties": ["email"]})
    assert [r.id for r in result.results] == ["103"]


# ---- search ---------------------------------------------------------------------------------

def test_given_recent_changes_when_searching_lastmodifieddate_then_only_newer_come_sorted(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    cutoff = int((NOW - timedelta(days=20)).timestamp() * 1000)
    body = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(cutoff)}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["email", "lastmodifieddate"], "limit": 200}
    found = hs.contacts_search.do_search(body)
    stamps = [r.properties["lastmodifieddate"] for r in found.results]
    expected = [c for c in sandbox.hubspot.contacts() if c["lastmodifieddate"] >= _iso(cutoff)]
    assert found.total == len(expected) == len(stamps)
    assert stamps == sorted(stamps)


def test_given_filter_groups_when_searching_then_groups_or_and_filters_and(sandbox: Sandbox, hs: HubSpotApis) -> None:
    body = {"filterGroups": [
        {"filters": [{"propertyName": "hs_object_id", "operator": "IN", "values": ["101", "102"]}]},
        {"filters": [{"propertyName": "hs_object_id", "operator": "BETWEEN", "value": "150", "highValue": "152"},
                     {"propertyName": "email", "operator": "HAS_PROPERTY"}]},
    ], "limit": 10}
    found = hs.contacts_search.do_search(body)
    assert sorted(r.id for r in found.results) == ["101", "102", "150", "151", "152"]


def test_given_a_search_page_larger_than_200_then_400(hs: HubSpotApis) -> None:
    with pytest.raises(ContactsError) as caught:
        hs.contacts_search.do_search({"filterGroups": [], "limit": 201})
    assert caught.value.status == 400


def test_given_a_filter_on_a_missing_property_then_400(hs: HubSpotApis) -> None:
    with pytest.raises(ContactsError) as caught:
        hs.contacts_search.do_search({"filterGroups": [{"filters": [
            {"propertyName": "leadsync_stage", "operator": "EQ", "value": "mql"}]}]})
    assert caught.value.status == 400


def test_given_more_than_10000_matches_when_paging_search_then_the_10000th_is_the_end() -> None:
    with Sandbox(people=5, now=NOW, salesforce=False, hubspot_rate_per_10s=100_000) as big:
        big.hubspot.limits.search_per_second = 10_000
        big.hubspot.bulk_add_contacts(10_100)
        api = hubspot_apis(big).contacts_search
        last = api.do_search({"filterGroups": [], "limit": 200, "after": "9800"})
        assert last.total == 10_105
        assert last.paging is None  # the window ends even though more records match
        with pytest.raises(ContactsError) as caught:
            api.do_search({"filterGroups": [], "limit": 100, "after": "10000"})
        assert caught.value.status == 400
        assert _error_body(caught.value)["category"] == "VALIDATION_ERROR"


# ---- writes ---------------------------------------------------------------------------------

def test_given_an_unchanged_value_when_written_then_lastmodifieddate_still_moves(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    before = sandbox.hubspot.contact("104")
    result = _update(hs, ("104", {"jobtitle": before.get("jobtitle", "")}))
    after = sandbox.hubspot.contact("104")
    assert result.status == "COMPLETE"
    assert after["lastmodifieddate"] > before["lastmodifieddate"]


def test_given_an_unknown_property_when_batch_updating_then_the_whole_batch_fails_400(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    before = sandbox.hubspot.contact("105")["lastmodifieddate"]
    with pytest.raises(ContactsError) as caught:
        _update(hs, ("105", {"jobtitle": "CTO"}), ("106", {"leadsync_score": "80"}))
    body = _error_body(caught.value)
    assert caught.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert "PROPERTY_DOESNT_EXIST" in body["message"] and "leadsync_score" in body["message"]
    assert sandbox.hubspot.contact("105")["lastmodifieddate"] == before  # nothing was written


@pytest.mark.parametrize("values, error", [
    ({"hs_lead_status": "MAYBE"}, "INVALID_OPTION"),
    ({"numberofemployees": "lots"}, "INVALID_NUMBER"),
    ({"wants_sales_contact": "perhaps"}, "INVALID_BOOLEAN"),
])
def test_given_an_invalid_value_when_batch_updating_then_400_names_the_property(
        hs: HubSpotApis, values: dict, error: str) -> None:
    with pytest.raises(ContactsError) as caught:
        _update(hs, ("107", values))
    assert caught.value.status == 400
    assert error in _error_body(caught.value)["message"]


def test_given_a_record_set_to_fail_when_batch_updating_then_207_and_the_rest_are_written(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    sandbox.hubspot.fail_record("108", "Record is locked by a workflow", times=1)
    result = _update(hs, ("108", {"hs_lead_status": "NEW"}), ("109", {"hs_lead_status": "NEW"}))
    assert [r.id for r in result.results] == ["109"]
    assert result.num_errors == 1
    error = result.errors[0]
    assert (error.category, error.message, error.context) == ("VALIDATION_ERROR", "Record is locked by a workflow", {"ids": ["108"]})
    assert sandbox.hubspot.contact("109")["hs_lead_status"] == "NEW"
    assert "hs_lead_status" not in sandbox.hubspot.contact("108")
    assert _update(hs, ("108", {"hs_lead_status": "NEW"})).status == "COMPLETE"  # only once


def test_given_more_than_100_inputs_when_batch_updating_then_400(hs: HubSpotApis) -> None:
    with pytest.raises(ContactsError) as caught:
        _update(hs, *[(str(101 + n), {"jobtitle": "x"}) for n in range(101)])
    assert caught.value.status == 400


def test_given_a_later_stage_when_setting_an_earlier_one_then_it_is_ignored_until_cleared(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    _update(hs, ("110", {"lifecyclestage": "marketingqualifiedlead"}))
    _update(hs, ("110", {"lifecyclestage": "lead"}))
    assert sandbox.hubspot.contact("110")["lifecyclestage"] == "marketingqualifiedlead"
    _update(hs, ("110", {"lifecyclestage": ""}))
    _update(hs, ("110", {"lifecyclestage": "lead"}))
    assert sandbox.hubspot.contact("110")["lifecyclestage"] == "lead"


def test_given_upsert_by_email_then_existing_is_updated_and_unknown_is_created(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    known = sandbox.hubspot.contact("111")["email"]
    result = hs.contacts_batch.upsert({"inputs": [
        {"id": known, "idProperty": "email", "properties": {"jobtitle": "Head of Data"}},
        {"id": "new.person@newco.example", "idProperty": "email", "properties": {"firstname": "New"}},
    ]})
    created = {r.properties.get("hs_object_id"): r.new for r in result.results}
    assert created["111"] is False and list(created.values()).count(True) == 1
    assert sandbox.hubspot.by_email("new.person@newco.example")["firstname"] == "New"


# ---- properties -----------------------------------------------------------------------------

def test_given_a_fresh_portal_when_creating_leadsync_properties_then_201_then_409(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    with pytest.raises(PropertiesError) as missing:
        hs.properties.get_by_name("contacts", "leadsync_stage")
    assert missing.value.status == 404
    spec = {"name": "leadsync_stage", "label": "leadsync stage", "type": "string", "fieldType": "text",
            "groupName": "leadsync"}
    with pytest.raises(PropertiesError) as no_group:
        hs.properties.create("contacts", spec)
    assert no_group.value.status == 400
    hs.groups.create("contacts", {"name": "leadsync", "label": "leadsync", "displayOrder": -1})
    created = hs.properties.create("contacts", spec)
    assert created.name == "leadsync_stage" and created.hubspot_defined is False
    with pytest.raises(PropertiesError) as again:
        hs.properties.create("contacts", spec)
    assert again.value.status == 409
    assert _update(hs, ("112", {"leadsync_stage": "mql"})).status == "COMPLETE"
    assert sandbox.hubspot.contact("112")["leadsync_stage"] == "mql"


def test_given_the_seeded_portal_then_the_mapped_properties_exist(hs: HubSpotApis) -> None:
    names = {p.name for p in hs.properties.get_all("contacts").results}
    assert {"email", "firstname", "jobtitle", "lifecyclestage", "hs_lead_status", "wants_sales_contact",
            "numberofemployees", "industry", "country"} <= names
    assert "leadsync_score" not in names  # leadsync's own properties wait for the connector


# ---- associations and activities ------------------------------------------------------------

def test_given_contacts_when_reading_company_associations_then_primary_and_unlabeled_types(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    orphan = sandbox.hubspot.add_contact({"email": "lonely@nowhere.example"})
    result = hs.associations.get_page("contacts", "companies", {"inputs": [{"id": "113"}, {"id": orphan}]})
    first = result.results[0]
    assert first._from.id == "113"
    assert str(first.to[0].to_object_id) == sandbox.hubspot.primary_company["113"]
    assert {t.type_id for t in first.to[0].association_types} == {1, 279}
    assert result.errors and result.errors[0].context == {"fromObjectId": [orphan]}


def test_given_many_page_views_when_paging_events_then_cursor_walks_all_newest_first(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    expected = [e for e in sandbox.hubspot.events if e.event_type == "e_visited_page"]
    seen, after = [], None
    while True:
        page = hs.events.get_page(event_type="e_visited_page", limit=50, after=after)
        seen += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) == len(expected) and len({e.id for e in seen}) == len(seen)
    assert [e.occurred_at for e in seen] == sorted((e.occurred_at for e in seen), reverse=True)


def test_given_a_demo_request_when_reading_a_contacts_events_since_then_it_is_there(
        sandbox: Sandbox, hs: HubSpotApis) -> None:
    before = sandbox.hubspot.contact("114")["lastmodifieddate"]
    sandbox.hubspot.add_demo_request("114")
    page = hs.events.get_page(object_type="contact", object_id="114", event_type="e_submitted_form",
                              occurred_after=sandbox.hubspot.clock.now() - timedelta(minutes=1))
    # HubSpot names forms by GUID, never by a slug.
    assert [e.properties["hs_form_id"] for e in page.results] == [FORM_GUIDS["demo-request"]]
    contact = sandbox.hubspot.contact("114")
    assert contact["wants_sales_contact"] == "true" and contact["lastmodifieddate"] > before


def test_given_an_object_id_without_type_then_events_answer_400(hs: HubSpotApis) -> None:
    with pytest.raises(EventsError) as caught:
        hs.events.get_page(object_id="101")
    assert caught.value.status == 400


def test_given_email_events_when_paging_by_offset_then_newest_first_and_complete(sandbox: Sandbox) -> None:
    url = f"{sandbox.hubspot_url}/email/public/v1/events"
    headers = {"Authorization": f"Bearer {sandbox.hubspot.token}"}
    verify = str(sandbox.certs.bundle_path)
    events, params = [], {"limit": 100}
    while True:
        body = requests.get(url, params=params, headers=headers, verify=verify, timeout=5).json()
        events += body["events"]
        if not body["hasMore"]:
            break
        params = {"limit": 100, "offset": body["offset"]}
    assert len(events) == len(sandbox.hubspot.email_events)
    assert [e["created"] for e in events] == sorted((e["created"] for e in events), reverse=True)
    clicks = requests.get(url, params={"eventType": "CLICK"}, headers=headers, verify=verify, timeout=5).json()
    assert clicks["events"] and all(e["url"].startswith("https://") for e in clicks["events"])


# ---- merges and deletes ---------------------------------------------------------------------

def test_given_two_contacts_merged_then_the_old_id_answers_as_the_survivor(sandbox: Sandbox, hs: HubSpotApis) -> None:
    sandbox.hubspot.merge("115", "116")
    survivor = hs.contacts.get_by_id("116", properties=["hs_merged_object_ids"])
    assert survivor.id == "115" and survivor.properties["hs_merged_object_ids"] == "116"
    assert "116" not in {c["id"] for c in sandbox.hubspot.contacts()}


def test_given_a_hard_deleted_contact_then_reads_answer_404(sandbox: Sandbox, hs: HubSpotApis) -> None:
    sandbox.hubspot.hard_delete("117")
    with pytest.raises(ContactsError) as caught:
        hs.contacts.get_by_id("117")
    assert caught.value.status == 404


# ---- auth and limits ------------------------------------------------------------------------

def test_given_a_wrong_token_then_401_invalid_authentication(sandbox: Sandbox) -> None:
    with pytest.raises(ContactsError) as caught:
        hubspot_apis(sandbox, token="pat-na1-wrong").contacts.get_page(limit=1)
    assert caught.value.status == 401
    assert _error_body(caught.value)["category"] == "INVALID_AUTHENTICATION"


def test_given_an_expired_token_then_401_until_the_new_token_is_used() -> None:
    with Sandbox(people=3, now=NOW, salesforce=False) as box:
        old = hubspot_apis(box)
        assert old.contacts.get_page(limit=1).results
        box.hubspot.expire_token()
        with pytest.raises(ContactsError) as caught:
            old.contacts.get_page(limit=1)
        assert caught.value.status == 401
        assert _error_body(caught.value)["category"] == "EXPIRED_AUTHENTICATION"
        assert hubspot_apis(box, token=box.hubspot.token).contacts.get_page(limit=1).results


def test_given_the_ten_second_budget_spent_then_429_with_policy_and_headers() -> None:
    with Sandbox(people=3, now=NOW, salesforce=False, hubspot_rate_per_10s=3) as box:
        api = hubspot_apis(box).contacts
        _, status, headers = api.get_page_with_http_info(limit=1)
        assert (headers["X-HubSpot-RateLimit-Max"], headers["X-HubSpot-RateLimit-Remaining"]) == ("3", "2")
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) < int(headers["X-HubSpot-RateLimit-Daily"])
        api.get_page(limit=1)
        api.get_page(limit=1)
        with pytest.raises(ContactsError) as caught:
            api.get_page(limit=1)
        body = _error_body(caught.value)
        assert caught.value.status == 429
        assert (body["policyName"], body["errorType"]) == ("TEN_SECONDLY_ROLLING", "RATE_LIMIT")
        assert body["message"] == "You have reached your ten_secondly_rolling limit."


def test_given_searches_faster_than_five_a_second_then_429_secondly() -> None:
    with Sandbox(people=3, now=NOW, salesforce=False) as box:
        search = hubspot_apis(box).contacts_search
        statuses = []
        for _ in range(7):
            try:
                search.do_search({"filterGroups": [], "limit": 1})
                statuses.append(200)
            except ContactsError as exc:
                statuses.append((exc.status, _error_body(exc)["policyName"]))
        assert statuses[0] == 200
        assert (429, "SECONDLY") in statuses


def test_given_the_daily_cap_spent_then_429_daily() -> None:
    with Sandbox(people=3, now=NOW, salesforce=False) as box:
        box.hubspot.set_daily_remaining(0)
        with pytest.raises(ContactsError) as caught:
            hubspot_apis(box).contacts.get_page(limit=1)
        assert caught.value.status == 429 and _error_body(caught.value)["policyName"] == "DAILY"


def test_given_calls_then_the_log_tells_reads_from_writes(sandbox: Sandbox, hs: HubSpotApis) -> None:
    mark = sandbox.calls.mark()
    hs.contacts_search.do_search({"filterGroups": [], "limit": 1})
    hs.contacts_batch.read({"inputs": [{"id": "101"}]})
    _update(hs, ("118", {"jobtitle": "CTO"}))
    calls = sandbox.calls.since(mark, "hubspot")
    assert [(c.path.rsplit("/", 1)[-1], c.write) for c in calls] == [("search", False), ("read", False), ("update", True)]


def _iso(millis: int) -> str:
    from datetime import datetime, timezone
    from leadsync_sandbox.seed import iso
    return iso(datetime.fromtimestamp(millis / 1000, tz=timezone.utc))


def test_given_a_datetime_written_as_epoch_millis_then_it_reads_back_as_iso(sandbox: Sandbox, hs: HubSpotApis) -> None:
    hs.properties.create("contacts", {"name": "leadsync_handoff_at", "label": "leadsync handoff at",
                                      "type": "datetime", "fieldType": "date", "groupName": "contactinformation"})
    _update(hs, ("119", {"leadsync_handoff_at": str(int(NOW.timestamp() * 1000))}))
    assert sandbox.hubspot.contact("119")["leadsync_handoff_at"] == "2026-11-02T09:30:00.000Z"
