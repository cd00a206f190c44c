"""The brownfield portal and org: shaped like two years of someone else's use, deterministic,
fast to build, and with a manifest whose audit a careful first sync leaves at zero."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from leadsync_sandbox.brownfield_manifest import audit
from leadsync_sandbox.hubspot_schema import LEAD_STATUSES, LIFECYCLE_STAGES, default_properties
from leadsync_sandbox.hubspot_search import to_millis
from leadsync_sandbox.salesforce_schema import LEAD_STATUSES as SF_LEAD_STATUSES
from leadsync_sandbox.seed_brownfield import EXTERNAL_ID_SPELLINGS, QUALIFIED_STAGES, build_brownfield
from leadsync_sandbox.seed_brownfield_catalog import DEMO_FORM_NAMES, FORMS
from leadsync_sandbox.server import Sandbox
from tests.sandbox.helpers import salesforce_client
from tests.sandbox_fixtures import NOW, hubspot_apis

REPO = Path(__file__).resolve().parents[2]
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RANGES = {"1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"}


@pytest.fixture(scope="module")
def big():
    started = time.perf_counter()
    seed, manifest = build_brownfield(7, 20_000, NOW)
    elapsed = time.perf_counter() - started
    print(f"\nbrownfield seed: 20,000 people built in {elapsed:.1f} s")
    assert elapsed < 60   # loose: a shared CI machine; about 4 s on a developer's
    return seed, manifest


@pytest.fixture(scope="module")
def box():
    with Sandbox(people=2_000, now=NOW, portal="brownfield", hubspot_rate_per_10s=100_000) as running:
        running.hubspot.limits.search_per_second = 10_000
        yield running


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _ext_id(record: dict) -> str | None:
    return next((record[k] for k in EXTERNAL_ID_SPELLINGS if record.get(k)), None)


# ---- determinism -----------------------------------------------------------------------------

def test_given_the_same_seed_then_the_same_portal_and_org_and_another_seed_differs() -> None:
    one, m_one = build_brownfield(3, 500, NOW)
    two, m_two = build_brownfield(3, 500, NOW)
    other, m_other = build_brownfield(4, 500, NOW)
    assert [c.properties for c in one.hubspot.contacts] == [c.properties for c in two.hubspot.contacts]
    assert one.salesforce.leads == two.salesforce.leads and m_one.to_json() == m_two.to_json()
    assert [e.id for e in one.hubspot.events] == [e.id for e in two.hubspot.events]
    assert m_other.to_json() != m_one.to_json()


def test_given_too_many_or_too_few_people_then_a_clear_error() -> None:
    for people in (0, 1_000_001):
        with pytest.raises(ValueError, match="1 to 1,000,000 people"):
            build_brownfield(7, people, NOW)
    with pytest.raises(ValueError, match="portal must be one of greenfield, brownfield"):
        Sandbox(people=1, portal="yellowfield")


# ---- HubSpot shape -------------------------------------------------------------------------

def test_given_20000_people_then_every_lifecycle_stage_and_sales_lead_status_is_there(big) -> None:
    seed, manifest = big
    contacts = seed.hubspot.contacts
    assert len(contacts) == 20_000 and len({c.id for c in contacts}) == 20_000
    stages = Counter(c.properties["lifecyclestage"] for c in contacts)
    assert set(stages) == set(LIFECYCLE_STAGES) and min(stages.values()) >= 200
    statuses = Counter(c.properties["hs_lead_status"] for c in contacts if c.properties["hs_lead_status"])
    assert set(statuses) == set(LEAD_STATUSES)
    assert len(manifest.sales_lead_status) == sum(statuses.values()) > 3_000


def test_given_the_seed_then_only_standard_properties_with_hubspots_values(big) -> None:
    seed, _ = big
    standard = {n for n, p in default_properties(custom=False)["contacts"].items() if p.hubspot_defined}
    used = {name for c in seed.hubspot.contacts for name, value in c.properties.items() if value}
    assert used <= standard
    assert {"numemployees", "annualrevenue", "jobtitle", "company", "industry", "country", "phone"} <= used
    ranges = Counter(c.properties["numemployees"] for c in seed.hubspot.contacts if c.properties["numemployees"])
    assert set(ranges) == RANGES


def test_given_the_seed_then_dates_span_two_years_and_ids_grow_with_createdate(big) -> None:
    seed, _ = big
    contacts = seed.hubspot.contacts
    created = [to_millis(c.properties["createdate"]) for c in contacts]
    modified = [to_millis(c.properties["lastmodifieddate"]) for c in contacts]
    day = 86_400_000
    assert (max(created) - min(created)) > 650 * day and (max(modified) - min(modified)) > 650 * day
    assert all(m >= c for c, m in zip(created, modified))
    assert created == sorted(created) and [int(c.id) for c in contacts] == sorted(int(c.id) for c in contacts)
    shared = Counter(modified).most_common(1)[0][1]
    assert shared > 100   # a workflow or import touched many contacts in one millisecond


def test_given_the_seed_then_submissions_name_forms_by_guid_and_activity_spans_two_years(big) -> None:
    seed, _ = big
    forms = [e for e in seed.hubspot.events if e.event_type == "e_submitted_form"]
    assert forms and all(GUID.match(e.properties["hs_form_id"]) for e in forms)
    assert not any("hs_form_title" in e.properties for e in forms)   # names live on the forms
    assert {e.properties["hs_form_id"] for e in forms} == set(FORMS)
    assert {f["name"] for f in seed.hubspot.forms} == {name for name, _, _ in FORMS.values()} >= set(DEMO_FORM_NAMES)
    views = [e.occurred_at for e in seed.hubspot.events if e.event_type == "e_visited_page"]
    opens = [e.created for e in seed.hubspot.email_events if e.type == "OPEN"]
    assert len(views) > 20_000 and len(opens) > 5_000
    for moments in (views, opens):
        assert max(moments) - min(moments) > timedelta(days=600) and max(moments) <= NOW


def test_given_the_seed_then_every_mql_or_later_was_made_one_by_a_buying_moment_at_its_stage_date(big) -> None:
    seed, manifest = big
    late = {guid for guid, (_, _, kind) in FORMS.items() if kind == "late"}
    events: dict[str, list] = {}
    for event in seed.hubspot.events:
        events.setdefault(event.contact_id, []).append(event)
    qualified = [c for c in seed.hubspot.contacts if c.properties["lifecyclestage"] in QUALIFIED_STAGES]
    assert len(qualified) > 0.3 * len(seed.hubspot.contacts)
    for contact in seed.hubspot.contacts:
        stage_date = contact.properties.get("hs_lifecyclestage_marketingqualifiedlead_date")
        if contact not in qualified:
            assert stage_date is None and contact.id not in manifest.qualified_at
            continue
        moment = to_millis(stage_date)
        assert manifest.qualified_at[contact.id] == stage_date
        assert to_millis(contact.properties["createdate"]) <= moment <= to_millis(contact.properties["lastmodifieddate"])
        before = [e for e in events[contact.id] if 0 <= moment - _ms(e.occurred_at) <= 5 * 86_400_000]
        forms = [e for e in before if e.properties.get("hs_form_id") in late and _ms(e.occurred_at) == moment]
        pricing = [e for e in before if e.properties.get("hs_url", "").endswith("/pricing")
                   and e.event_type == "e_visited_page"]
        assert forms or len(pricing) >= 2, contact.id
    # The portal keeps making MQLs: its last 30 days hold about a thirtieth of them.
    recent = sum(1 for c in qualified
                 if _ms(NOW) - to_millis(c.properties["hs_lifecyclestage_marketingqualifiedlead_date"])
                 <= 30 * 86_400_000)
    assert 0.02 * len(qualified) < recent < 0.2 * len(qualified)


def test_given_merged_contacts_then_the_survivor_lists_them_and_some_leads_carry_the_old_id(big) -> None:
    seed, manifest = big
    survivors = {c.id: c.properties["hs_merged_object_ids"] for c in seed.hubspot.contacts
                 if c.properties.get("hs_merged_object_ids")}
    assert len(survivors) > 100 and dict(seed.hubspot.merges) == {m: s for s, m in survivors.items()}
    old_ids = set(survivors.values())
    assert any(_ext_id(lead) in old_ids for lead in seed.salesforce.leads)


# ---- Salesforce shape ------------------------------------------------------------------------

def test_given_the_org_then_linked_leads_in_every_status_and_converted_ones_point_at_their_records(big) -> None:
    seed, manifest = big
    linked = [lead for lead in seed.salesforce.leads if _ext_id(lead)]
    assert {lead["Status"] for lead in linked} == set(SF_LEAD_STATUSES)
    converted = [lead for lead in linked if lead["Status"] == "Closed - Converted"]
    assert converted and all(lead["IsConverted"] for lead in converted)
    assert not any(lead["IsConverted"] for lead in seed.salesforce.leads if lead["Status"] != "Closed - Converted")
    contacts = {c["Id"] for c in seed.salesforce.contacts}
    opps = {o["Id"] for o in seed.salesforce.opportunities}
    assert all(lead["ConvertedContactId"] in contacts and lead["ConvertedOpportunityId"] in opps for lead in converted)
    spellings = Counter(k for lead in linked for k in EXTERNAL_ID_SPELLINGS if lead.get(k))
    assert set(spellings) == set(EXTERNAL_ID_SPELLINGS)
    assert sum(len(v) for v in manifest.linked_leads().values()) == len(linked)


def test_given_the_org_then_customers_opportunities_twins_and_salesforce_only_leads(big) -> None:
    seed, manifest = big
    sf = seed.salesforce
    customer_accounts = {a["Id"] for a in sf.accounts if a["Type"] == "Customer"}
    assert sum(1 for c in sf.contacts if c["AccountId"] in customer_accounts) > 1_000
    stages = Counter(o["StageName"] for o in sf.opportunities)
    assert stages["Closed Won"] > 0 and stages["Closed Lost"] > 0
    assert sum(n for s, n in stages.items() if not s.startswith("Closed")) > 0
    hubspot_emails = {c.properties["email"] for c in seed.hubspot.contacts}
    only_ids = set(manifest.salesforce_only_leads)
    only = [lead for lead in sf.leads if lead["Id"] in only_ids]
    assert len(only) == 800 and not any(lead["Email"] in hubspot_emails for lead in only)
    twin_ids = {i for ids in manifest.email_twins().values() for i in ids}
    twins = [lead for lead in sf.leads if lead["Id"] in twin_ids]
    assert twins and all(lead["Email"] in hubspot_emails and not _ext_id(lead) for lead in twins)


# ---- the manifest -----------------------------------------------------------------------------

def test_given_the_manifest_then_owned_covers_sales_stages_customers_opportunities_and_worked_leads(big) -> None:
    seed, manifest = big
    owned = manifest.owned()
    by_stage = {c.id: c.properties["lifecyclestage"] for c in seed.hubspot.contacts}
    assert {c for c, s in by_stage.items() if s in ("salesqualifiedlead", "opportunity", "customer", "evangelist")} <= set(owned)
    assert manifest.working_leads() <= set(owned) and manifest.open_or_won_opportunity() <= set(owned)
    assert manifest.customers() <= set(owned)
    # Sales also owns people HubSpot still calls a lead: a Lead worked in the CRM says so.
    assert any(by_stage[c] in ("subscriber", "lead", "marketingqualifiedlead") for c in owned)
    summary = manifest.summary()
    assert summary["owned"] == len(owned) and summary["people"] == 20_000


def test_given_the_manifest_written_then_it_is_json_with_the_counts(big, tmp_path: Path) -> None:
    _, manifest = big
    data = json.loads(manifest.write(tmp_path / "m.json").read_text())
    assert data["summary"]["owned"] == len(data["owned"]) and data["sales_lead_status"]
    assert set(data) >= {"owned", "customers", "open_or_won_opportunity", "working_leads", "linked_leads",
                         "email_twins", "sales_lead_status", "merged_ids"}


# ---- the running sandbox, through the real clients ---------------------------------------------

def test_given_a_running_brownfield_sandbox_then_the_clients_see_what_the_manifest_says(box) -> None:
    manifest = box.manifest
    hs = hubspot_apis(box)
    customers = hs.contacts_search.do_search({"limit": 1, "filterGroups": [{"filters": [
        {"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}]}]})
    assert customers.total == Counter(manifest.stages.values())["customer"]
    sf = salesforce_client(box)
    linked = sf.query("SELECT COUNT() FROM Lead WHERE HubSpot_Contact_Id__c != null")["totalSize"]
    assert linked == sum(len(v) for v in manifest.linked_leads().values())
    working = sf.query_all("SELECT HubSpot_Contact_Id__c FROM Lead WHERE Status = 'Working - Contacted' "
                           "AND HubSpot_Contact_Id__c != null")["records"]
    assert working and all(r["HubSpot_Contact_Id__c"] for r in working)
    survivor, old = next((s, ids[0]) for s, ids in manifest.merged_ids.items())
    assert hs.contacts.get_by_id(old).id == survivor
    properties = {p.name for p in hs.properties.get_all("contacts").results}
    assert "wants_sales_contact" not in properties and "numemployees" in properties
    demo = {f["name"]: f["id"] for f in _all_forms(box)}
    assert set(DEMO_FORM_NAMES) <= set(demo) and all(GUID.match(i) for i in demo.values())


def _all_forms(box: Sandbox) -> list[dict]:
    """Every form through marketing forms v3, page by page (raw JSON, as the adapter reads)."""
    forms_api = hubspot_apis(box).client.marketing.forms.forms_api
    found, after = [], None
    while True:
        kwargs = {"limit": 4, "_preload_content": False, **({"after": after} if after else {})}
        page = json.loads(forms_api.get_page(**kwargs).data)
        found += page["results"]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return found


def test_given_an_untouched_brownfield_then_the_audit_counts_zero_and_each_harm_counts_one(box) -> None:
    manifest = box.manifest
    assert audit(manifest, box.hubspot, box.salesforce).counts() == {
        "owned_disqualified": 0, "owned_moved_back": 0, "sales_status_overwritten": 0, "second_leads": 0,
        "contacts_missing": 0}
    owned = sorted(set(manifest.owned()) - set(manifest.sales_lead_status), key=int)[0]
    with_status = next(c for c in sorted(manifest.sales_lead_status, key=int) if c not in manifest.owned())
    linked_person = next(iter(manifest.linked_leads()))
    box.hubspot.put_raw(owned, {"leadsync_stage": "disqualified"})
    box.hubspot.put_raw(with_status, {"hs_lead_status": "NEW" if manifest.sales_lead_status[with_status] != "NEW"
                                      else "OPEN"})
    second = box.salesforce.add_record("Lead", LastName="Again", Company="Dup Co", HubSpot_Contact_Id__c=linked_person)
    result = audit(manifest, box.hubspot, box.salesforce)
    assert result.owned_disqualified == [owned]
    assert result.sales_status_overwritten == [with_status]
    assert result.second_leads == [second]
    assert result.owned_moved_back == [] and result.contacts_missing == []


# ---- the command line ---------------------------------------------------------------------------

def test_given_leadsync_sandbox_portal_brownfield_then_it_announces_the_portal_and_writes_the_manifest(
        tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "connector.cli.commands", "sandbox", "--portal", "brownfield", "--people", "1500",
         "--dir", str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        lines = []
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Ctrl-C" in line:
                break
        announced = "".join(lines)
        assert "brownfield, 1500 people, seed 7" in announced and "Search lag:         2.5 s" in announced
        assert (tmp_path / "brownfield-manifest.json").exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("args,message", [
    (["--people", "0"], "--people must be between 1 and 200000, got 0"),
    (["--search-lag", "-1"], "--search-lag must be 0 or more seconds, got -1.0"),
])
def test_given_bad_sandbox_arguments_then_exit_2_naming_the_option(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "connector.cli.commands", "sandbox", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.returncode == 2 and message in done.stderr


def test_given_an_unknown_form_id_then_404_in_hubspots_shape(box) -> None:
    from hubspot.marketing.forms import ApiException as FormsError
    forms_api = hubspot_apis(box).client.marketing.forms.forms_api
    with pytest.raises(FormsError) as caught:
        forms_api.get_by_id("00000000-0000-4000-8000-000000000000", _preload_content=False)
    assert caught.value.status == 404 and json.loads(caught.value.body)["category"] == "OBJECT_NOT_FOUND"
