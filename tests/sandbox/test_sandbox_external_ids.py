"""The Salesforce sandbox finds records by external id through an index: what changed through
the store since the index was taken is found by its new value and no longer by its old one, and
a duplicate is refused as the org refuses it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from leadsync_sandbox.salesforce_schema import sobject
from leadsync_sandbox.salesforce_store import RecordError, Store
from leadsync_sandbox.salesforce_values import IdFactory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
FIELD = "HubSpot_Contact_Id__c"


def org_with_leads(count: int) -> tuple[Store, list[str]]:
    store = Store(lambda: NOW, IdFactory())
    ids = [store.load("Lead", {"LastName": f"L{n}", "Company": "Acme", FIELD: str(100 + n)})["Id"]
           for n in range(count)]
    return store, ids


def test_given_an_external_id_changed_through_the_store_then_found_by_the_new_value_only():
    store, ids = org_with_leads(50)
    assert store.by_external_id("Lead", FIELD, "110")["Id"] == ids[10]      # (the index is taken)
    store.save(sobject("Lead"), {FIELD: "9999"}, record_id=ids[10], actor="005")
    assert store.by_external_id("Lead", FIELD, "9999")["Id"] == ids[10]
    assert store.by_external_id("Lead", FIELD, "110") is None
    store.system_update("Lead", ids[11], {FIELD: "110"})
    assert store.by_external_id("Lead", FIELD, "110")["Id"] == ids[11]


def test_given_a_value_another_record_holds_then_the_write_is_refused_as_a_duplicate():
    store, ids = org_with_leads(20)
    assert store.by_external_id("Lead", FIELD, "nobody") is None
    with pytest.raises(RecordError, match="duplicate value found"):
        store.save(sobject("Lead"), {FIELD: "105"}, record_id=ids[3], actor="005")
    created = store.save(sobject("Lead"), {"LastName": "New", "Company": "Acme", FIELD: "777"}, actor="005")
    assert store.by_external_id("Lead", FIELD, "777")["Id"] == created["Id"]
    store.delete("Lead", created["Id"])
    assert store.by_external_id("Lead", FIELD, "777") is None
