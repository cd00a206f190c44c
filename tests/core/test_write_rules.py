"""What leadsync writes to each system, at the edges of the mapping: unmapped stages, blanks,
fractions, sync rules, and the fewer fields a CRM contact carries."""

from __future__ import annotations

from datetime import datetime, timezone

from connector.core import plan as P

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)

MAPS = P.WriteMaps(
    hubspot_write={"stage": "leadsync_stage", "score": "leadsync_score", "reason": "leadsync_reason",
                   "handoff_at": "leadsync_handoff_at"},
    lifecycle={"subscriber": "subscriber", "mql": "marketingqualifiedlead", "disqualified": ""},
    lead_status={"mql": "NEW", "disqualified": ""},
    crm_write={"stage": "Leadsync_Stage__c", "handoff_at": "Leadsync_Handoff_At__c",
               "missing": "Leadsync_Missing__c"},
    crm_fields={"email": ("Email", "hubspot_unless_blank"), "phone": ("Phone", "two_way"),
                "title": ("Title", "always_hubspot"), "industry": ("Industry", "hubspot_unless_blank"),
                "bant_budget": ("Budget_Confirmed__c", "always_salesforce")},
    contact_fields=frozenset({"email", "phone", "title", "not_mapped"}),
)


def out(stage="mql", score=72.0, handoff_at=NOW, reason="Demo request 2026-11-20", missing=""):
    return P.Outputs(stage, score, 30.0, 42.0, handoff_at, reason, missing, 1)


# --- HubSpot ------------------------------------------------------------------------------------

def test_given_stage_without_lifecycle_or_status_mapping_when_planning_hubspot_then_both_left_alone():
    for stage in ("sal", "disqualified"):
        values = P.hubspot_values(out(stage=stage), MAPS, None, recycling=False)
        assert "lifecyclestage" not in values and "hs_lead_status" not in values
        assert values["leadsync_stage"] == stage


def test_given_contact_without_lifecycle_when_planning_subscriber_then_lifecycle_is_set():
    for current in (None, "", "some-custom-stage"):
        assert P.hubspot_values(out(stage="subscriber"), MAPS, current, recycling=False)["lifecyclestage"] == "subscriber"


def test_given_no_handoff_time_when_planning_hubspot_then_the_property_is_blanked_not_spelled_none():
    values = P.hubspot_values(out(stage="lead", handoff_at=None, score=None), MAPS, None, recycling=False)
    assert (values["leadsync_handoff_at"], values["leadsync_score"]) == ("", "")


def test_given_fractional_score_when_planning_hubspot_then_two_decimals_and_text_as_is():
    values = P.hubspot_values(out(score=72.456), MAPS, None, recycling=False)
    assert values["leadsync_score"] == "72.46"
    assert values["leadsync_reason"] == "Demo request 2026-11-20"


# --- CRM ----------------------------------------------------------------------------------------

def test_given_sync_rules_when_planning_crm_then_hubspot_owned_values_flow_and_blanks_only_where_hubspot_always_wins():
    lead = {"email": "", "phone": "+1 555", "title": "", "industry": None, "bant_budget": True}
    values = P.crm_values(out(), lead, MAPS)
    assert values["Phone"] == "+1 555"             # two-way: HubSpot's value flows
    assert values["Title"] == ""                   # always_hubspot: even a blank
    assert "Email" not in values and "Industry" not in values   # hubspot_unless_blank: a blank never erases
    assert "Budget_Confirmed__c" not in values


def test_given_handoff_time_and_blank_missing_when_planning_crm_then_iso_utc_and_null():
    values = P.crm_values(out(missing=""), {}, MAPS)
    assert values["Leadsync_Handoff_At__c"] == "2026-11-24T12:00:00.000Z"
    assert values["Leadsync_Missing__c"] is None


def test_given_contact_record_when_values_filtered_then_only_contact_fields_and_leadsync_fields_remain():
    values = {"Email": "a@acme.io", "Phone": "+1", "Title": "VP", "Industry": "Software",
              "Leadsync_Stage__c": "mql", "Leadsync_Missing__c": None}
    assert P.for_kind(values, "contact", MAPS) == {"Email": "a@acme.io", "Phone": "+1", "Title": "VP",
                                                   "Leadsync_Stage__c": "mql", "Leadsync_Missing__c": None}
    assert P.for_kind(values, "lead", MAPS) == values      # a lead carries everything


# --- What changed -------------------------------------------------------------------------------

def test_given_blank_never_written_when_diffed_then_it_is_written_once():
    assert P.changed({"leadsync_missing": ""}, {}) == {"leadsync_missing": ""}
    assert P.changed({"Leadsync_Missing__c": None}, {}) == {"Leadsync_Missing__c": None}


def test_given_blank_written_in_another_spelling_when_diffed_then_nothing_changes():
    assert P.changed({"leadsync_missing": ""}, {"leadsync_missing": None}) == {}
    assert P.changed({"Leadsync_Missing__c": None}, {"Leadsync_Missing__c": ""}) == {}
