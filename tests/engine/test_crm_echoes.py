"""A CRM record that says what leadsync already holds is no news: leadsync's own write to it
(profile fields copied from HubSpot) costs no people reads; anything sales can change is."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from connector.core import plan as P
from connector.engine.cycle import _as_known
from connector.ports import LEAD, CrmRecord

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
MAPS = P.WriteMaps(hubspot_write={}, lifecycle={}, lead_status={}, crm_write={},
                   crm_fields={"title": ("Title", "hubspot_unless_blank"), "phone": ("Phone", "two_way"),
                               "bant_budget": ("BANT_Budget__c", "always_salesforce")},
                   contact_fields=())
SALES = P.sales_owned_fields(MAPS)
STORED = {"hubspot_id": "1", "crm_id": "00QA", "crm_object": LEAD, "crm_status": "Working - Contacted",
          "owner_id": "005A", "crm_fields": {"title": "CTO", "bant_budget": True}}
RECORD = CrmRecord("00QA", LEAD, "a@acme.test", "1", "Working - Contacted", "005A",
                   {"title": "CTO", "bant_budget": True, "phone": None}, NOW)


def test_given_the_record_as_leadsync_holds_it_then_it_is_no_news():
    assert _as_known(RECORD, STORED, SALES)


def test_given_only_fields_leadsync_copies_from_hubspot_changed_then_it_is_no_news():
    assert _as_known(replace(RECORD, fields={**RECORD.fields, "title": "VP Data", "phone": "+1 555"}), STORED, SALES)


def test_given_anything_sales_changed_then_it_is_news():
    assert not _as_known(replace(RECORD, status="Qualified"), STORED, SALES)
    assert not _as_known(replace(RECORD, owner_id="005B"), STORED, SALES)
    assert not _as_known(replace(RECORD, opportunity_id="006A"), STORED, SALES)
    assert not _as_known(replace(RECORD, fields={**RECORD.fields, "bant_budget": False}), STORED, SALES)
    assert not _as_known(replace(RECORD, id="00QB"), STORED, SALES)
