"""The HubSpot adapter: pure rules without HTTP, then the real client against the sandbox's
HubSpot emulator on loopback HTTPS."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import urllib3

from connector.ports import Write
from connector.adapters.hubspot.adapter import HubSpotAdapter, HubSpotSettings, _batch_outcome, hubspot_client
from connector.adapters.hubspot.rules import keyset_search, lifecycle_phases, wire_value
from connector.core.errors import ConfigError, FatalError, QuotaExhausted
from connector.core.mapping import load_hubspot_mapping
from connector.transport import HttpPolicy, PolicySettings

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc


# -- keyset paging, against a fake search evaluated afresh on every page --------------------------

def fake_search(stamps: dict[str, int], page_size: int, calls: list, between_pages=None):
    """HubSpot's rules: the filters are evaluated again for every page against the data as it is
    then; one sort; ties in an arbitrary (here: reversed id) order. `after` would be an offset:
    the fake refuses it, so the pull can only page by key. ``between_pages`` edits ``stamps``."""
    def check(flt, stamp, rid):
        value = stamp if flt["propertyName"] == "lastmodifieddate" else int(rid)
        wanted = int(flt["value"])
        return {"GT": value > wanted, "GTE": value >= wanted, "LT": value < wanted,
                "EQ": value == wanted}[flt["operator"]]

    def search(groups, sort):
        calls.append((groups, sort))
        filters = groups[0]["filters"]
        matching = [(s, i) for i, s in stamps.items() if all(check(f, s, i) for f in filters)]
        if sort == "lastmodifieddate":
            matching.sort(key=lambda item: (item[0], -int(item[1])))
        else:
            matching.sort(key=lambda item: int(item[1]))
        page = matching[:page_size]
        if between_pages:
            between_pages([i for _, i in page])
        return {"total": len(matching), "results": [{"id": i, "properties": {"lastmodifieddate": str(s)}}
                                                    for s, i in page]}
    return search


def test_given_writes_to_each_page_read_and_to_unread_contacts_then_every_contact_comes_exactly_once():
    stamps = {str(n): 1000 + n // 3 for n in range(1, 61)}      # three contacts per instant
    clock = [5000]

    def write(rid):
        clock[0] += 1
        stamps[rid] = clock[0]                                   # still inside the pull's window

    def second_writer(page_ids):                                 # another integration, between pages
        unread = sorted(set(stamps) - set(page_ids), key=int)[:2]
        for rid in unread:
            write(rid)
    ids = []
    for page in keyset_search(fake_search(stamps, 7, [], second_writer), 1000, 99_999, page_size=7):
        ids += [r["id"] for r in page]
        for result in page:                                      # leadsync writes back what it read
            write(result["id"])
    assert sorted(ids, key=int) == [str(n) for n in range(1, 61)] and len(ids) == len(set(ids))


def test_given_a_page_full_of_one_instant_then_that_instant_is_read_by_id():
    stamps = {str(n): 1500 for n in range(1, 13)} | {"99": 1600}
    calls: list = []
    pages = list(keyset_search(fake_search(stamps, 5, calls), 1000, 2000, page_size=5))
    ids = [r["id"] for page in pages for r in page]
    assert sorted(ids) == sorted(stamps) and len(ids) == len(set(ids))
    assert any(sort == "hs_object_id" for _, sort in calls)


def test_given_more_than_the_cap_then_no_query_asks_for_an_offset():
    stamps = {str(n): 1000 + n for n in range(1, 231)}
    calls: list = []
    ids = [r["id"] for page in keyset_search(fake_search(stamps, 20, calls), 0, 9999, page_size=20) for r in page]
    assert len(ids) == 230 == len(set(ids))
    assert got_in_order(ids, stamps)


def got_in_order(ids, stamps):
    got = [stamps[i] for i in ids]
    return got == sorted(got)


def test_given_no_results_then_no_batches():
    assert list(keyset_search(fake_search({}, 5, []), 0, 10, page_size=5)) == []


# -- lifecycle, wire values, batch outcomes ------------------------------------------------------

def test_given_a_recycle_then_lifecyclestage_is_cleared_then_set():
    writes = [Write("1", "1", {"lifecyclestage": "lead", "leadsync_stage": "recycled"}),
              Write("2", "2", {"lifecyclestage": "salesqualifiedlead"}),
              Write("3", "3", {"leadsync_score": 5})]
    first, second = lifecycle_phases(writes, {"1": "opportunity", "2": "marketingqualifiedlead", "3": "customer"})
    assert first[0].values == {"lifecyclestage": "", "leadsync_stage": "recycled"}
    assert first[1:] == writes[1:]
    assert second == [Write("1", "1", {"lifecyclestage": "lead"})]


def test_given_an_unknown_current_stage_then_the_write_goes_as_it_is():
    writes = [Write("1", "1", {"lifecyclestage": "lead"})]
    assert lifecycle_phases(writes, {"1": "some_custom_stage"}) == (writes, [])


@pytest.mark.parametrize("value,wire", [
    (None, ""), (True, "true"), (61.0, "61"), (61.5, "61.5"), (3, "3"),
    (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000Z"), ("mql", "mql"),
])
def test_wire_values_are_text(value, wire):
    assert wire_value(value) == wire


def test_given_a_207_then_errors_are_per_record_and_the_rest_written():
    chunk = [Write("1", "1", {}), Write("2", "2", {}), Write("3", "3", {})]
    body = {"status": "COMPLETE", "results": [{"id": "1"}, {"id": "3"}], "numErrors": 1,
            "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects",
                        "context": {"ids": ["2"]}}]}
    outcome = _batch_outcome(chunk, body)
    assert outcome.written == {"1": "1", "3": "3"}
    assert outcome.failed["2"].code == "OBJECT_NOT_FOUND" and not outcome.failed["2"].transient


def test_the_client_never_retries_and_verifies_with_the_requests_bundle(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = hubspot_client(HubSpotSettings(base_url="https://hs.example.test/", token="pat-secret"))
    config = client.crm.contacts.basic_api.api_client.configuration
    assert isinstance(config.retries, urllib3.Retry) and config.retries.total == 0
    assert config.ssl_ca_cert == str(bundle) and config.host == "https://hs.example.test"
    assert "pat-secret" not in repr(HubSpotSettings(token="pat-secret"))


# -- end to end: the real client against the sandbox ------------------------------------------

@pytest.fixture(scope="module")
def sandbox():
    from leadsync_sandbox.server import Sandbox
    with Sandbox(salesforce=False, people=120, hubspot_rate_per_10s=1000) as box:
        yield box


@pytest.fixture
def hubspot_adapter(sandbox, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.certs.bundle_path))
    sandbox.faults.clear()

    def make(read_timeout: float = 10.0, **settings):
        policy = HttpPolicy(PolicySettings(hubspot_rate_limit_per_10s=900, backoff_base=0.01, backoff_max=0.05,
                                           read_timeout=read_timeout))
        return HubSpotAdapter(HubSpotSettings(base_url=sandbox.hubspot_url, token=sandbox.credentials["HUBSPOT_TOKEN"],
                                              **settings), load_hubspot_mapping(REPO / "mappings" / "hubspot.toml"),
                              policy)
    return make


def window():
    now = datetime.now(UTC)
    return now - timedelta(days=3650), now + timedelta(minutes=5)


@pytest.mark.e2e
def test_e2e_given_a_small_cap_then_changed_people_pages_by_key_and_returns_everyone_once(sandbox, hubspot_adapter):
    cap, sandbox.hubspot.search_result_cap = sandbox.hubspot.search_result_cap, 40
    try:
        adapter = hubspot_adapter(search_page_size=20)
        people = [p for batch in adapter.changed_people(*window()) for p in batch]
    finally:
        sandbox.hubspot.search_result_cap = cap
    assert len(people) == len({p.id for p in people}) == len(sandbox.hubspot.contacts())
    assert [p.modified_at for p in people] == sorted(p.modified_at for p in people)
    with_company = [p for p in people if p.company_id]
    assert with_company and all(p.fields["email_domain"] for p in people if p.fields.get("email"))
    assert "lifecyclestage" in people[0].written


@pytest.mark.e2e
def test_e2e_ensure_schema_creates_leadsync_properties_once(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    adapter.ensure_schema()
    mark = sandbox.calls.mark()
    adapter.ensure_schema()
    assert not [c for c in sandbox.calls.since(mark, "hubspot") if c.method == "POST"]
    props = sandbox.hubspot.properties["contacts"]
    assert {"leadsync_stage", "leadsync_score", "leadsync_handoff_at"} <= set(props)


@pytest.mark.e2e
def test_e2e_recycle_moves_lifecyclestage_backwards_in_two_updates(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    adapter.ensure_schema()
    contact = sandbox.hubspot.add_contact({"email": "recycle.me@acme-e2e.test", "firstname": "Re"})
    assert adapter.write([Write(contact, contact, {"lifecyclestage": "opportunity"})]).written == {contact: contact}
    outcome = adapter.write([Write(contact, contact, {"lifecyclestage": "lead", "leadsync_stage": "recycled"})])
    assert outcome.written == {contact: contact}
    assert sandbox.hubspot.contact(contact)["lifecyclestage"] == "lead"
    assert sandbox.hubspot.contact(contact)["leadsync_stage"] == "recycled"


@pytest.mark.e2e
def test_e2e_a_missing_contact_fails_alone(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    adapter.ensure_schema()
    real = sandbox.hubspot.add_contact({"email": "real.one@acme-e2e.test"})
    outcome = adapter.write([Write(real, real, {"leadsync_score": 42}), Write("999999", "999999", {"leadsync_score": 1})])
    assert outcome.written == {real: real} and "999999" in outcome.failed
    assert sandbox.hubspot.contact(real)["leadsync_score"] == "42"


@pytest.mark.e2e
def test_e2e_a_bad_value_in_a_batch_is_skipped_and_the_rest_written(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    adapter.ensure_schema()
    good = sandbox.hubspot.add_contact({"email": "good.value@acme-e2e.test"})
    bad = sandbox.hubspot.add_contact({"email": "bad.value@acme-e2e.test"})
    outcome = adapter.write([Write(good, good, {"leadsync_score": 7}),
                             Write(bad, bad, {"leadsync_score": "not a number"})])
    assert good in outcome.written and bad in outcome.failed
    assert sandbox.hubspot.contact(good)["leadsync_score"] == "7"


@pytest.mark.e2e
def test_e2e_activities_come_from_events_and_email_events(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    contact = sandbox.hubspot.add_contact({"email": "active.person@acme-e2e.test", "firstname": "Act"})
    sandbox.hubspot.add_demo_request(contact)
    sandbox.hubspot.add_page_view(contact, "https://www.example-vendor.com/pricing")
    sandbox.hubspot.add_email_click(contact, "https://www.example-vendor.com/whitepaper")
    sandbox.hubspot.add_unsubscribe(contact)
    person = adapter.people([contact])[0]
    found = adapter.activities([person], *window())[contact]
    types = sorted(a.type for a in found)
    assert types == ["email_click", "email_unsubscribe", "form_submission", "page_view"]
    click = next(a for a in found if a.type == "email_click")
    assert click.attrs["url"].endswith("/whitepaper") and click.source == "hubspot" and click.id


@pytest.mark.e2e
def test_e2e_people_of_company_by_domain_and_by_id(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    person = next(p for p in adapter.people([c["hs_object_id"] for c in sandbox.hubspot.contacts()[:40]
                                             if c.get("hs_object_id")]) if p.company_id)
    domain = sandbox.hubspot.company(person.company_id)["domain"]
    by_domain = {p.id for p in adapter.people_of_company(domain)}
    by_id = {p.id for p in adapter.people_of_company(person.company_id)}
    assert person.id in by_domain and by_domain == by_id


@pytest.mark.e2e
def test_e2e_server_errors_and_a_dropped_connection_are_retried(sandbox, hubspot_adapter):
    from leadsync_sandbox.faults import FaultRule
    # A body cut short either ends in EOF or, on a kept-alive connection, in a read timeout.
    adapter = hubspot_adapter(read_timeout=1.0)
    contact = sandbox.hubspot.add_contact({"email": "flaky.path@acme-e2e.test"})
    sandbox.faults.add(FaultRule("hubspot", path="/batch/read", status=502, times=1))
    sandbox.faults.add(FaultRule("hubspot", path="/batch/read", kind="reset", times=1))
    assert [p.id for p in adapter.people([contact])] == [contact]
    assert adapter.policy.usage()["hubspot"]["retries"] == 2


@pytest.mark.e2e
def test_e2e_a_429_with_retry_after_is_waited_out(sandbox, hubspot_adapter):
    from leadsync_sandbox.faults import FaultRule
    adapter = hubspot_adapter()
    sandbox.faults.add(FaultRule("hubspot", path="/search", status=429, headers={"Retry-After": "0"},
                                 body={"status": "error", "errorType": "RATE_LIMIT",
                                       "policyName": "TEN_SECONDLY_ROLLING", "message": "slow down"}))
    assert next(adapter.changed_people(*window()))
    assert adapter.policy.usage()["hubspot"]["retries"] == 1


@pytest.mark.e2e
def test_e2e_the_daily_limit_stops_the_cycle(sandbox, hubspot_adapter):
    from leadsync_sandbox.faults import FaultRule
    adapter = hubspot_adapter()
    sandbox.faults.add(FaultRule("hubspot", path="/search", status=429, times=0,
                                 body={"status": "error", "errorType": "RATE_LIMIT", "policyName": "DAILY",
                                       "message": "You have reached your daily limit."}))
    with pytest.raises(QuotaExhausted):
        next(adapter.changed_people(*window()))
    assert adapter.policy.usage()["hubspot"]["retries"] == 0


@pytest.mark.e2e
def test_e2e_a_wrong_token_is_a_config_error(sandbox, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.certs.bundle_path))
    adapter = HubSpotAdapter(HubSpotSettings(base_url=sandbox.hubspot_url, token="pat-wrong"),
                             load_hubspot_mapping(REPO / "mappings" / "hubspot.toml"), HttpPolicy())
    with pytest.raises(ConfigError) as caught:
        adapter.people(["1"])
    assert "hubspot.token_env: HubSpot does not recognise the access token" in str(caught.value)
    assert "pat-wrong" not in str(caught.value)


@pytest.mark.e2e
def test_e2e_activities_between_finds_everyones_events_by_time(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    start = datetime.now(UTC) - timedelta(seconds=1)
    contact = sandbox.hubspot.add_contact({"email": "Busy.Bee@acme-e2e.test", "firstname": "Busy"})
    sandbox.hubspot.add_webinar_attended(contact, "Pipeline 101")
    sandbox.hubspot.add_email_open(contact)
    found: dict = {}
    for chunk in adapter.activities_between(start, datetime.now(UTC) + timedelta(minutes=1)):
        for key, acts in chunk.items():
            found.setdefault(key, []).extend(acts)
    assert sorted(a.type for a in found[contact]) == ["email_open", "webinar_attended"]
    webinar = next(a for a in found[contact] if a.type == "webinar_attended")
    assert webinar.attrs == {"campaign": "Pipeline 101"}


def test_e2e_given_every_person_is_an_echo_then_no_association_or_company_is_read(sandbox, hubspot_adapter):
    adapter = hubspot_adapter()
    mark = sandbox.calls.mark()
    people = [p for batch in adapter.changed_people(*window(), echoes=lambda page: {p.id for p in page})
              for p in batch]
    assert people and all(p.echo and p.company_id is None for p in people)
    paths = [c.path for c in sandbox.calls.since(mark, "hubspot")]
    assert paths and all("/search" in path for path in paths)


class MemoryBook:
    """The company book as the state store keeps it, in memory."""

    def __init__(self):
        self.kept, self.cursors = {}, {}

    def companies(self, ids):
        return {i: self.kept[i] for i in ids if i in self.kept}

    def keep_companies(self, rows, now):
        self.kept.update({cid: dict(props) for cid, (props, _) in rows.items()})

    def cursor(self, name):
        return self.cursors.get(name)

    def set_cursor(self, name, value, now):
        self.cursors[name] = value


def test_e2e_given_a_company_book_then_people_come_with_their_company_and_no_association_or_company_read(
        sandbox, hubspot_adapter):
    adapter = hubspot_adapter(search_page_size=50)
    adapter.book = MemoryBook()
    mark = sandbox.calls.mark()
    people = [p for batch in adapter.changed_people(*window()) for p in batch]
    paths = [c.path for c in sandbox.calls.since(mark, "hubspot")]
    assert not [p for p in paths if "/associations/" in p or "companies/batch" in p]
    assert sum("companies/search" in p for p in paths) >= 1     # every company, pulled once into the book
    with_company = [p for p in people if p.company_id]
    assert with_company and all(p.company_id == sandbox.hubspot.primary_company[p.id] for p in with_company)
    assert all(p.company_id in adapter.book.kept for p in with_company)
    # A company created after the pull (not in the book yet) is read by batch once, then kept.
    company = next(iter(adapter.book.kept))
    del adapter.book.kept[company]
    mark = sandbox.calls.mark()
    again = [p for batch in adapter.changed_people(*window()) for p in batch if p.company_id == company]
    batch_reads = [c.path for c in sandbox.calls.since(mark, "hubspot") if "companies/batch/read" in c.path]
    assert again and len(batch_reads) == 1 and company in adapter.book.kept
