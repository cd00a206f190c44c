"""definition simulate replays the lead the sync would build, not a blend of both systems."""

from __future__ import annotations

from datetime import datetime, timezone

from connector.cli.definition_cmd import _history
from connector.state.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
RULES = {"title": ("Title", "hubspot_unless_blank"), "phone": ("Phone", "hubspot_unless_blank"),
         "bant_budget": ("Budget_Confirmed__c", "always_salesforce")}


def test_given_fields_in_both_systems_when_history_is_built_then_each_sync_rule_decides(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.save_people([{"hubspot_id": "1", "email": "ann@acme.io", "stage": "mql",
                        "fields": {"email": "ann@acme.io", "title": "VP Sales", "phone": ""},
                        "crm_fields": {"title": "Intern", "phone": "+1 555", "bant_budget": True}}], NOW)
    [(lead, activities, transitions)] = _history(store, RULES)
    assert lead["title"] == "VP Sales"          # HubSpot wins unless blank: the CRM does not override it
    assert lead["phone"] == "+1 555"            # … but fills the blank
    assert lead["bant_budget"] is True          # the CRM always wins for BANT
    assert activities == [] and transitions == []
    store.close()
