"""HubSpot CRM search in the sandbox is as strict as HubSpot's: offset paging over a result set
evaluated again per page, the 200-per-page and 10,000-result limits, index lag, the search rate
limit, merged and archived ids. Driven by the unmodified hubspot-api-client."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

import pytest
from hubspot.crm.contacts import ApiException as ContactsError

from leadsync_sandbox.hubspot_search import to_millis
from leadsync_sandbox.second_writer import SecondWriter
from leadsync_sandbox.server import REALISTIC_SEARCH_LAG, Sandbox
from tests.sandbox.helpers import error_body, modified_window
from tests.sandbox_fixtures import NOW, HubSpotApis, hubspot_apis, roomy_sandbox

PEOPLE = 60


@pytest.fixture
def box():
    with roomy_sandbox() as running:
        yield running


@pytest.fixture
def hs(box: Sandbox) -> HubSpotApis:
    return hubspot_apis(box)


def _now_ms(box: Sandbox) -> int:
    return to_millis(box.hubspot.clock.now().isoformat())


def _page_by_offset(hs: HubSpotApis, groups: list[dict[str, Any]], limit: int) -> list[str]:
    seen, after = [], None
    while True:
        body: dict[str, Any] = {"filterGroups": groups, "limit": limit, "properties": ["lastmodifieddate"],
                                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
        if after:
            body["after"] = after
        page = hs.contacts_search.do_search(body)
        seen += [r.id for r in page.results]
        if page.paging is None:
            return seen
        after = page.paging.next.after


def _page_by_keyset(hs: HubSpotApis, until_ms: int, limit: int) -> list[str]:
    """Keyset paging on hs_object_id inside a fixed window: each page starts after the last id,
    so records that move out of the window cannot shift the unread ones."""
    seen, last = [], "0"
    while True:
        page = hs.contacts_search.do_search({
            "filterGroups": [{"filters": [
                {"propertyName": "lastmodifieddate", "operator": "LT", "value": str(until_ms)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": last}]}],
            "limit": limit, "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]})
        if not page.results:
            return seen
        seen += [r.id for r in page.results]
        last = page.results[-1].id


# ---- offset paging under concurrent writes --------------------------------------------------

def test_given_no_writes_when_paging_by_offset_then_every_contact_comes_exactly_once(box, hs) -> None:
    seen = _page_by_offset(hs, modified_window(_now_ms(box)), limit=10)
    assert sorted(seen, key=int) == sorted(box.hubspot.objects["contacts"], key=int)
    assert len(seen) == len(set(seen)) == PEOPLE


def test_given_read_contacts_written_between_pages_when_paging_by_offset_then_unread_ones_are_skipped(
        box, hs) -> None:
    until = _now_ms(box)
    writer = SecondWriter(box.hubspot, per_page=5, pick="read")
    with writer.between_search_pages():
        seen = _page_by_offset(hs, modified_window(until), limit=10)
    never_read = set(box.hubspot.objects["contacts"]) - set(seen)
    # Each page's five written contacts leave the window (their lastmodifieddate is now past
    # `until`), so the next offset lands five records further on: unread, unwritten contacts lost.
    assert len(never_read) >= 5 * 3
    assert not never_read & set(writer.edited)
    assert len(seen) + len(never_read) == PEOPLE


def test_given_the_same_writes_when_paging_by_keyset_then_no_unwritten_contact_is_skipped(box, hs) -> None:
    until = _now_ms(box)
    writer = SecondWriter(box.hubspot, per_page=5, pick="read")
    with writer.between_search_pages():
        seen = _page_by_keyset(hs, until, limit=10)
    assert set(seen) == set(box.hubspot.objects["contacts"])
    assert len(seen) == len(set(seen)) == PEOPLE


def test_given_unread_contacts_written_between_pages_then_they_are_read_once_at_their_new_place(box, hs) -> None:
    writer = SecondWriter(box.hubspot, per_page=3, pick="unread", seed=4)
    with writer.between_search_pages():
        seen = _page_by_offset(hs, [], limit=10)   # no upper bound: moved contacts sort last
    assert len(seen) == len(set(seen)) == PEOPLE
    assert set(seen[-len(writer.edited):]) == set(writer.edited)


def test_given_read_contacts_written_without_an_upper_bound_then_some_come_twice_and_others_never(box, hs) -> None:
    writer = SecondWriter(box.hubspot, per_page=4, pick="read")
    with writer.between_search_pages():
        seen = _page_by_offset(hs, [], limit=10)
    twice = {i for i in seen if seen.count(i) > 1}
    never = set(box.hubspot.objects["contacts"]) - set(seen)
    assert twice and twice <= set(writer.edited)
    assert never and not never & set(writer.edited)


def test_given_a_matching_contact_changed_between_pages_then_total_is_evaluated_again(box, hs) -> None:
    groups = [{"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}]}]
    first = hs.contacts_search.do_search({"filterGroups": groups, "limit": 5})
    box.hubspot.update_contact(first.results[0].id, {"lifecyclestage": "customer"})
    second = hs.contacts_search.do_search({"filterGroups": groups, "limit": 5, "after": first.paging.next.after})
    assert second.total == first.total - 1


def test_given_a_timer_writer_then_contacts_keep_moving_while_it_runs(box) -> None:
    before = {c["id"]: c["lastmodifieddate"] for c in box.hubspot.contacts()}
    writer = SecondWriter(box.hubspot, per_page=2, pick="any", limit=6)
    with writer.every(0.02):
        deadline = time.monotonic() + 5
        while len(writer.edited) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
    after = {c["id"]: c["lastmodifieddate"] for c in box.hubspot.contacts()}
    assert len(writer.edited) == 6
    assert {i for i in before if after[i] != before[i]} == set(writer.edited)


# ---- limits ---------------------------------------------------------------------------------

def test_given_limit_over_200_then_400_validation_error_in_hubspots_shape(hs) -> None:
    assert len(hs.contacts_search.do_search({"filterGroups": [], "limit": 200}).results) == PEOPLE
    with pytest.raises(ContactsError) as caught:
        hs.contacts_search.do_search({"filterGroups": [], "limit": 201})
    body = error_body(caught.value)
    assert caught.value.status == 400
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert body["correlationId"] and "200" in body["message"]


def test_given_more_than_10000_matches_then_after_plus_limit_past_10000_is_refused() -> None:
    with Sandbox(people=5, now=NOW, salesforce=False, hubspot_rate_per_10s=100_000) as big:
        big.hubspot.limits.search_per_second = 10_000
        big.hubspot.bulk_add_contacts(10_050)
        search = hubspot_apis(big).contacts_search.do_search
        last = search({"filterGroups": [], "limit": 100, "after": "9900"})
        assert len(last.results) == 100 and last.total == 10_055 and last.paging is None
        for after, limit in (("9901", 100), ("9999", 2), ("10000", 1)):
            with pytest.raises(ContactsError) as caught:
                search({"filterGroups": [], "limit": limit, "after": after})
            assert caught.value.status == 400
            assert error_body(caught.value)["category"] == "VALIDATION_ERROR"


def test_given_six_searches_in_one_second_then_the_sixth_is_429_secondly() -> None:
    with Sandbox(people=5, now=NOW, salesforce=False, hubspot_rate_per_10s=100_000) as box:
        search = hubspot_apis(box).contacts_search.do_search
        statuses = []
        for _ in range(6):
            try:
                search({"filterGroups": [], "limit": 1})
                statuses.append(200)
            except ContactsError as exc:
                statuses.append(exc.status)
                assert error_body(exc)["policyName"] == "SECONDLY"
        assert box.hubspot.limits.search_per_second == 5
        assert statuses[:5] == [200] * 5 and statuses[5] == 429


# ---- filters and sorts on the keys a keyset pull uses ---------------------------------------

def test_given_no_sorts_then_results_come_in_hs_object_id_order(hs) -> None:
    ids = [r.id for r in hs.contacts_search.do_search({"filterGroups": [], "limit": 200}).results]
    assert ids == sorted(ids, key=int)


@pytest.mark.parametrize("operator,check", [
    ("GT", lambda i, v: i > v), ("GTE", lambda i, v: i >= v), ("LT", lambda i, v: i < v),
    ("LTE", lambda i, v: i <= v), ("EQ", lambda i, v: i == v), ("NEQ", lambda i, v: i != v),
])
def test_given_an_hs_object_id_filter_then_ids_compare_as_numbers(box, hs, operator: str,
                                                                   check: Callable[[int, int], bool]) -> None:
    pivot = sorted(box.hubspot.objects["contacts"], key=int)[PEOPLE // 2]
    found = hs.contacts_search.do_search({"limit": 200, "filterGroups": [{"filters": [
        {"propertyName": "hs_object_id", "operator": operator, "value": pivot}]}]})
    expected = {i for i in box.hubspot.objects["contacts"] if check(int(i), int(pivot))}
    assert {r.id for r in found.results} == expected and found.total == len(expected)


def test_given_many_contacts_with_one_lastmodifieddate_then_ties_are_not_in_id_order_unless_sorted_by_id() -> None:
    with Sandbox(people=400, now=NOW, salesforce=False, portal="brownfield", hubspot_rate_per_10s=100_000) as box:
        box.hubspot.limits.search_per_second = 10_000
        hs = hubspot_apis(box)
        stamp = Counter(c["lastmodifieddate"] for c in box.hubspot.contacts()).most_common(1)[0][0]
        groups = [{"filters": [{"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(to_millis(stamp))}]}]

        def ids(sort: str) -> list[str]:
            return [r.id for r in hs.contacts_search.do_search(
                {"filterGroups": groups, "limit": 200, "sorts": [{"propertyName": sort, "direction": "ASCENDING"}]}).results]
        by_modified = ids("lastmodifieddate")
        assert len(by_modified) > 10 and by_modified == ids("lastmodifieddate")   # stable between requests
        assert by_modified != sorted(by_modified, key=int)
        assert ids("hs_object_id") == sorted(by_modified, key=int)


def test_given_between_on_lastmodifieddate_then_both_ends_are_inclusive_and_sort_descends(box, hs) -> None:
    stamps = sorted({to_millis(c["lastmodifieddate"]) for c in box.hubspot.contacts()})
    low, high = stamps[10], stamps[30]
    found = hs.contacts_search.do_search({"limit": 200, "properties": ["lastmodifieddate"],
                                          "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
                                          "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate",
                                                                         "operator": "BETWEEN", "value": str(low),
                                                                         "highValue": str(high)}]}]})
    got = [to_millis(r.properties["lastmodifieddate"]) for r in found.results]
    assert got == sorted(got, reverse=True) and got[0] == high and got[-1] == low
    assert len(got) == sum(1 for s in (to_millis(c["lastmodifieddate"]) for c in box.hubspot.contacts())
                           if low <= s <= high)


# ---- index lag ------------------------------------------------------------------------------

def _search_email(hs: HubSpotApis, email: str) -> list[str]:
    page = hs.contacts_search.do_search({"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "EQ", "value": email}]}], "properties": ["jobtitle"]})
    return [r.properties.get("jobtitle") or "" for r in page.results]


def test_given_a_lagging_index_when_a_contact_changes_then_get_sees_it_at_once_and_search_later() -> None:
    with roomy_sandbox(search_lag_seconds=0.8) as box:
        hs = hubspot_apis(box)
        contact = box.hubspot.contacts()[0]
        hs.contacts.update(contact["id"], {"properties": {"jobtitle": "Chief Lag Officer"}})
        assert hs.contacts.get_by_id(contact["id"], properties=["jobtitle"]).properties["jobtitle"] == "Chief Lag Officer"
        read = hs.contacts_batch.read({"inputs": [{"id": contact["id"]}], "properties": ["jobtitle"]})
        assert read.results[0].properties["jobtitle"] == "Chief Lag Officer"
        assert _search_email(hs, contact["email"]) == [contact.get("jobtitle") or ""]   # the old value
        time.sleep(0.9)
        assert _search_email(hs, contact["email"]) == ["Chief Lag Officer"]


def test_given_a_lagging_index_when_a_contact_is_created_then_search_finds_it_only_after_the_lag() -> None:
    with roomy_sandbox(search_lag_seconds=0.6) as box:
        hs = hubspot_apis(box)
        created = box.hubspot.add_contact({"email": "late@example.org", "jobtitle": "New"})   # a form fill
        assert hs.contacts.get_by_id(created).id == created
        assert _search_email(hs, "late@example.org") == []
        assert box.hubspot.index.pending() == 1
        time.sleep(0.7)
        assert _search_email(hs, "late@example.org") == ["New"]
        assert box.hubspot.index.pending() == 0


def test_given_the_defaults_then_greenfield_search_is_immediate_and_brownfield_lags() -> None:
    assert Sandbox(people=1, now=NOW, salesforce=False).hubspot.index.lag == 0
    assert Sandbox(people=50, now=NOW, salesforce=False, portal="brownfield").hubspot.index.lag == REALISTIC_SEARCH_LAG
    assert 2 <= REALISTIC_SEARCH_LAG <= 3


# ---- merged and archived ids ----------------------------------------------------------------

def test_given_a_merge_then_the_merged_away_id_reads_as_the_survivor(box, hs) -> None:
    keep, lose, earlier = (c["id"] for c in box.hubspot.contacts()[:3])
    box.hubspot.merge(lose, earlier)
    box.hubspot.merge(keep, lose)
    got = hs.contacts.get_by_id(lose, properties=["hs_merged_object_ids", "email"])
    assert got.id == keep
    assert set(got.properties["hs_merged_object_ids"].split(";")) == {lose, earlier}
    assert hs.contacts.get_by_id(earlier).id == keep
    read = hs.contacts_batch.read({"inputs": [{"id": lose}, {"id": earlier}], "properties": ["email"]})
    assert [r.id for r in read.results] == [keep, keep]


def test_given_an_archived_contact_then_get_is_404_and_batch_read_lists_it_under_errors(box, hs) -> None:
    victim, other = (c["id"] for c in box.hubspot.contacts()[:2])
    hs.contacts.archive(victim)
    with pytest.raises(ContactsError) as caught:
        hs.contacts.get_by_id(victim)
    assert caught.value.status == 404 and error_body(caught.value)["category"] == "OBJECT_NOT_FOUND"
    read = hs.contacts_batch.read({"inputs": [{"id": victim}, {"id": other}], "properties": ["email"]})
    assert [r.id for r in read.results] == [other]
    assert read.errors[0].category == "OBJECT_NOT_FOUND" and read.errors[0].context["ids"] == [victim]
    found = hs.contacts_search.do_search({"filterGroups": [], "limit": 200})
    assert victim not in {r.id for r in found.results} and found.total == PEOPLE - 1
    assert hs.contacts.get_by_id(victim, archived=True).archived is True
