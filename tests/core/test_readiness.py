"""The readiness judgements and the range type, without HTTP: each (fact, mapping) pair gives
one finding with its exact message and fix."""

from __future__ import annotations

import pytest

from connector.adapters.hubspot.setup import read_finding, write_finding
from connector.adapters.salesforce.setup import TEXT, Need, field_finding
from connector.core.mapping import FieldMap, normalise
from connector.core.predicate import Predicate, range_bounds
from connector.core.readiness import PortalFacts, definition_findings
from connector.core.definition import load_definition
from connector.core.definition_check import DEFAULT_BANT_FIELDS
from connector.app.config import DEFAULT_MAPPINGS

NUMEMPLOYEES = {"name": "numemployees", "type": "enumeration", "options": [
    {"value": v} for v in ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")]}


@pytest.mark.parametrize("text, bounds", [("100-500", (100, 500)), ("1000+", (1000, None)), ("5 - 25", (5, 25)),
                                          ("10,000+", (10000, None)), ("500-100", None), ("lots", None), ("", None)])
def test_given_range_picklist_text_then_bounds_are_parsed(text, bounds):
    assert range_bounds(text) == bounds


# (value, min, max, verdict): a range passes only when every size in it does
RANGE_ROWS = [("100-500", 100, None, True), ("50-100", 100, None, False), ("1000+", 100, None, True),
              ("100-500", None, 999, True), ("500-1000", None, 999, False), ("1000+", None, 999, False),
              ("100-500", 100, 500, True), ("garbage", 100, None, None), (250, 100, None, True)]


@pytest.mark.parametrize("value, low, high, verdict", RANGE_ROWS)
def test_given_a_range_value_when_min_max_apply_then_the_lower_bound_counts_for_min_and_the_upper_for_max(
        value, low, high, verdict):
    assert Predicate("employees", "range", (low, high)).verdict(value) is verdict


def test_given_range_type_when_normalised_then_text_is_kept_and_garbage_noted():
    assert normalise("100-500", "range") == ("100-500", None)
    assert normalise("about 500", "range") == (None, "not a range: 'about 500'")


def test_given_a_range_picklist_mapped_as_int_then_wrong_with_the_range_type_as_fix():
    found = read_finding("hubspot.toml", "contact.fields", "contacts",
                         FieldMap("employees", "numemployees", "int"), NUMEMPLOYEES)
    assert (found.status, found.key) == ("wrong", "contact.fields.employees.type")
    assert found.message == "numemployees is enumeration (range picklist), mapped as int: every value would be dropped"
    assert found.fix == 'it is a range picklist ("100-500", "1000+"): use type = "range"'
    ok = read_finding("hubspot.toml", "contact.fields", "contacts", FieldMap("employees", "numemployees", "range"),
                      NUMEMPLOYEES)
    assert ok.status == "ok"


def test_given_a_misspelt_property_then_missing_naming_the_canonical_field():
    found = read_finding("hubspot.toml", "contact.fields", "contacts", FieldMap("title", "job_title"), None)
    assert (found.status, found.key, found.creatable) == ("missing", "contact.fields.title.property", False)
    assert found.message == "the portal has no contact property job_title (read into title)"


def test_given_leadsync_property_of_another_type_then_wrong():
    found = write_finding("hubspot.toml", FieldMap("score", "leadsync_score", "number"),
                          {"name": "leadsync_score", "type": "string"})
    assert found.status == "wrong" and found.message == "leadsync_score is string, leadsync writes number"


def describe(**field):
    return {"fields": [{"name": "HubSpot_Contact_Id__c", "type": "string", "length": 64, "externalId": True,
                        "unique": True, "createable": True, "updateable": True, **field}]}


EXTERNAL = Need("Lead", "HubSpot_Contact_Id__c", "lead.external_id", TEXT, True, 18, {"type": "Text"}, True)
# (describe overrides, status, message)
FIELD_ROWS = [
    ({}, "ok", "Lead.HubSpot_Contact_Id__c (string)"),
    ({"name": "hubspot_contact_id__C"}, "ok", "Lead.hubspot_contact_id__C (string)"),
    ({"externalId": False}, "wrong", "Lead.HubSpot_Contact_Id__c is not marked External ID and Unique: upserts on "
                                     "it would fail or duplicate"),
    ({"unique": False}, "wrong", "Lead.HubSpot_Contact_Id__c is not marked External ID and Unique: upserts on it "
                                 "would fail or duplicate"),
    ({"length": 10}, "wrong", "Lead.HubSpot_Contact_Id__c holds 10 characters; leadsync needs 18"),
    ({"type": "double"}, "wrong", "Lead.HubSpot_Contact_Id__c is double, which cannot hold what leadsync puts there"),
    ({"updateable": False}, "wrong", "the integration user cannot edit Lead.HubSpot_Contact_Id__c (field-level security)"),
    ({"name": "Other__c"}, "missing", "Lead has no field HubSpot_Contact_Id__c (or the integration user cannot see it)"),
]


@pytest.mark.parametrize("overrides, status, message", FIELD_ROWS)
def test_given_an_external_id_field_as_described_then_its_finding(overrides, status, message):
    found = field_finding("salesforce.toml", EXTERNAL, describe(**overrides))
    assert (found.status, found.message) == (status, message)


def test_given_shipped_definition_and_a_portal_without_its_forms_then_each_form_rule_is_a_placeholder_warning():
    definition = load_definition(DEFAULT_MAPPINGS / "qualification.toml", DEFAULT_BANT_FIELDS)
    facts = PortalFacts({"0f9c1f2e-3f0b-4c59-9d0f-0e4d2b8e9a11": "Request a demo"},
                        frozenset({"page_view", "form_submission", "email_open"}))
    found = definition_findings(definition, facts, {"email", "first_name", "last_name", "company", "title",
                                                    "employees", "industry", "country", "bant_budget",
                                                    "bant_need", "bant_timeline"})
    forms = [f for f in found if f.kind == "form"]
    assert len(forms) == 7 and all(f.status == "warn" for f in forms)
    assert forms[0].message == ('rule "Demo request" names a placeholder (\'<GUID of your demo request form>\'), '
                                "so it never matches")
    assert forms[0].fix == ('put the GUID of the right form in form_id (this portal\'s forms: "Request a demo" = '
                            "0f9c1f2e-3f0b-4c59-9d0f-0e4d2b8e9a11)")
    never_seen = sorted(f.name for f in found if f.kind == "activity")
    assert never_seen == ["email_click", "email_unsubscribe", "meeting_booked", "webinar_attended"]
