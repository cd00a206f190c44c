"""Mapping files as validated data: bad snippets → messages naming file and key; values
normalised by declared type, garbage → None plus a note."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from connector.core.errors import ConfigError
from connector.adapters.salesforce.mapping import load_salesforce_mapping
from connector.core.mapping import email_domain, fill_blanks, load_hubspot_mapping, normalise, read_fields

REPO = Path(__file__).resolve().parents[2]
HUBSPOT = (REPO / "mappings" / "hubspot.toml").read_text()
SALESFORCE = (REPO / "mappings" / "salesforce.toml").read_text()


def test_given_the_shipped_mappings_then_they_load():
    hubspot = load_hubspot_mapping(REPO / "mappings" / "hubspot.toml")
    salesforce = load_salesforce_mapping(REPO / "mappings" / "salesforce.toml")
    assert {f.name for f in hubspot.contact_write} >= {"leadsync_stage", "leadsync_missing"}
    assert hubspot.lifecyclestage["mql"] == "marketingqualifiedlead"
    assert hubspot.email_events["CLICK"].attrs == {"url": "url", "campaign": "emailCampaignId"}
    assert salesforce.status.reason_field == "Rejection_Reason__c"
    assert salesforce.status.feedback["Working - Contacted"] == "sal"
    assert [f.sync for f in salesforce.lead_fields if f.canonical == "bant_budget"] == ["always_salesforce"]


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (which file, edit to the shipped file, expected key, words in the reason)
BAD_MAPPINGS = [
    ("hubspot", ('employees = { property = "numemployees", type = "range" }',
                 'employees = { property = "numemployees", type = "integer" }'),
     "contact.fields.employees.type", "unknown type 'integer'"),
    ("hubspot", ('phone = { property = "phone" }', 'phone = { prop = "phone" }'),
     "contact.fields.phone", "needs property"),
    ("hubspot", ('country = { property = "country" }\n# Opt in', 'country = { property = "country", sync = "sometimes" }\n# Opt in'),
     "contact.fields.country.sync", "unknown sync rule"),
    ("hubspot", ('stage = { property = "leadsync_stage"', 'stage = { property = "lifecyclestage"'),
     "contact.write.stage.property", "its own properties"),
    ("hubspot", ('mql = "marketingqualifiedlead"', 'hot = "marketingqualifiedlead"'),
     "lifecyclestage.hot", "unknown stage"),
    ("hubspot", ('e_booked_meeting = { type = "meeting_booked", attrs = {} }',
                 'e_booked_meeting = { type = "meeting", attrs = {} }'),
     "activities.events.e_booked_meeting.type", "unknown activity type"),
    ("hubspot", ('{ type = "page_view", attrs = { url = "hs_url" } }', '{ type = "page_view", attrs = { link = "hs_url" } }'),
     "activities.events.e_visited_page.attrs.link", "no attribute 'link'"),
    ("hubspot", ('\n[contact.fields]\n', '\n[contact.fieldz]\n'), "contact.fields", "missing"),
    ("hubspot", ('\n[contact.fields]\n', '\n[contact.fieldz]\n'), "contact.fieldz", "unknown key"),
    ("salesforce", ('[touches]', '[touch]'), "touch", "unknown section"),
    ("hubspot", ('[company.fields]\n', '[company.fields]\n"bad name" = { property = "x" }\n'),
     "company.fields.bad name", "letters, digits"),
    ("salesforce", ('"Working - Contacted" = "sal"', '"Working - Contacted" = "accepted"'),
     "status.feedback.Working - Contacted", "unknown stage 'accepted'"),
    ("salesforce", ('routing = "assignment_rule"', 'routing = "round_robin"'), "handoff.users", "at least one user"),
    ("salesforce", ('routing = "assignment_rule"', 'routing = "random"'), "handoff.routing", "unknown routing"),
    ("salesforce", ('stalled_after_days = 90', 'stalled_after_days = "90"'),
     "opportunity.stalled_after_days", "whole number"),
    ("salesforce", ('Event = "meeting"', 'Event = "lunch"'), "touches.Event", "unknown touch kind"),
    ("salesforce", ('handoff = "Open - Not Contacted"\n', ''), "status.handoff", "missing"),
    ("salesforce", ('title = { field = "Title" }', 'title = { field = "Title, Id FROM User --" }'),
     "lead.fields.title.field", "not an API name"),
    ("salesforce", ('reason_field = "Rejection_Reason__c"', 'reason_field = "Reason; x"'),
     "status.reason_field", "not an API name"),
    ("salesforce", ('email = { field = "Email" }', 'email = { field = "Email", colour = "red" }'),
     "lead.fields.email", "unknown key(s) colour"),
    # A typo in what leadsync writes is caught at load, not half-way through a cycle.
    ("hubspot", ('\nscore = { property = "leadsync_score"', '\nscroe = { property = "leadsync_score"'),
     "contact.write.scroe", "unknown output"),
    ("salesforce", ('handoff_at = { field = "Leadsync_Handoff_At__c" }', 'handed_at = { field = "Leadsync_Handoff_At__c" }'),
     "lead.write.handed_at", "unknown output"),
]


@pytest.mark.parametrize("system,edit,key,reason", BAD_MAPPINGS)
def test_given_a_bad_mapping_when_loaded_then_the_message_names_file_key_and_reason(tmp_path, system, edit, key,
                                                                                   reason):
    text = _replace(HUBSPOT if system == "hubspot" else SALESFORCE, *edit)
    path = tmp_path / f"{system}.toml"
    path.write_text(text)
    loader = load_hubspot_mapping if system == "hubspot" else load_salesforce_mapping
    with pytest.raises(ConfigError) as caught:
        loader(path)
    matching = [p for p in caught.value.problems if p.key == key]
    assert any(reason in p.reason for p in matching), caught.value.problems
    assert str(path) in str(caught.value)


def test_given_several_mistakes_then_all_are_reported_at_once(tmp_path):
    text = _replace(HUBSPOT, 'type = "range" }', 'type = "integer" }')
    text = _replace(text, 'mql = "marketingqualifiedlead"', 'hot = "marketingqualifiedlead"')
    path = tmp_path / "hubspot.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_hubspot_mapping(path)
    keys = {p.key for p in caught.value.problems}
    assert {"contact.fields.employees.type", "lifecyclestage.hot", "lifecyclestage"} <= keys


def test_given_invalid_toml_or_no_file_then_the_file_is_named(tmp_path):
    broken = tmp_path / "hubspot.toml"
    broken.write_text("[contact.fields\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_hubspot_mapping(broken)
    with pytest.raises(ConfigError, match="file not found"):
        load_salesforce_mapping(tmp_path / "nope.toml")


UTC = timezone.utc
VALUES = [
    ("1,200", "int", 1200, None),
    (" 250 ", "int", 250, None),
    ("12.0", "int", 12, None),
    ("12.5", "int", None, "not a whole number"),
    ("lots", "int", None, "not a int"),
    ("1,200.50", "float", 1200.5, None),
    ("nan", "float", None, "not a float"),
    ("Yes", "bool", True, None),
    ("0", "bool", False, None),
    ("maybe", "bool", None, "not a bool"),
    ("1767225600000", "datetime", datetime(2026, 1, 1, tzinfo=UTC), None),
    (1767225600000, "datetime", datetime(2026, 1, 1, tzinfo=UTC), None),
    ("2026-01-01T00:00:00Z", "datetime", datetime(2026, 1, 1, tzinfo=UTC), None),
    ("2026-01-01T01:00:00.000+01:00", "datetime", datetime(2026, 1, 1, tzinfo=UTC), None),
    ("2026-01-01", "datetime", datetime(2026, 1, 1, tzinfo=UTC), None),
    ("last tuesday", "datetime", None, "not a datetime"),
    ("  Acme\x00 Corp\r\n", "string", "Acme Corp", None),
    ("", "int", None, None),
    (None, "bool", None, None),
]


@pytest.mark.parametrize("raw,type_,expected,note", VALUES)
def test_given_a_vendor_value_when_normalised_then_it_is_canonical_or_none_with_a_note(raw, type_, expected, note):
    value, got_note = normalise(raw, type_)
    assert value == expected
    assert (got_note is None) if note is None else (note in got_note)


def test_given_a_long_string_then_it_is_capped_with_a_note():
    assert normalise("x" * 20, "string", max_length=8) == ("x" * 8, "cut to 8 characters")


def test_given_raw_properties_then_read_fields_maps_and_notes_garbage():
    mapping = load_hubspot_mapping(REPO / "mappings" / "hubspot.toml")
    values, notes = read_fields({"email": "a@b.io", "numemployees": "many", "annualrevenue": "1,000"},
                                mapping.contact_fields)
    assert values["email"] == "a@b.io" and values["annual_revenue"] == 1000.0
    assert values["employees"] is None and values["title"] is None
    assert notes == ["numemployees: not a range: 'many'"]


def test_given_company_values_then_they_fill_only_blanks():
    values = {"industry": None, "employees": 50}
    fill_blanks(values, {"industry": "Software", "employees": 5000})
    assert values == {"industry": "Software", "employees": 50}


def test_email_domain_is_the_lowercased_part_after_the_at():
    assert email_domain("Ann@Example.COM ") == "example.com"
    assert email_domain("no-at-sign") is None
