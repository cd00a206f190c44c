"""The CRM pull pages by (SystemModstamp, Id) keyset: many records sharing one second, and
records written between pages, are each read exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import connector.adapters.salesforce.adapter as salesforce_adapter
from tests.adapters.test_adapter_salesforce import live, org  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def test_e2e_given_ties_and_writes_between_pages_then_every_record_comes_exactly_once(org, live, monkeypatch):
    monkeypatch.setattr(salesforce_adapter, "QUERY_PAGE", 5)   # small pages: the same logic as 2,000
    second = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    ids = [org.salesforce.add_record("Lead", LastName=f"Tie {n}", Company="Keyset Ltd", Status="Open - Not Contacted",
                                     Email=f"tie{n}@keyset.test", HubSpot_Contact_Id__c=f"ks-{n}",
                                     SystemModstamp=second, CreatedDate=second, LastModifiedDate=second)
           for n in range(13)]
    ids += [org.salesforce.add_record("Lead", LastName=f"Later {n}", Company="Keyset Ltd", Email=f"later{n}@keyset.test",
                                      HubSpot_Contact_Id__c=f"ks-later-{n}", SystemModstamp=second + timedelta(seconds=n + 1),
                                      CreatedDate=second, LastModifiedDate=second)
            for n in range(9)]
    crm = live()
    crm.batch_size = 4
    read: list[str] = []
    for batch in crm.changed_records(second - timedelta(seconds=1), second + timedelta(minutes=5)):
        read += [r.id for r in batch if r.hubspot_id and r.hubspot_id.startswith("ks-")]
        for record in batch:               # sales edits each record as it is read: it moves later
            if record.hubspot_id and record.hubspot_id.startswith("ks-"):
                org.salesforce.set_lead_status(record.id, "Working - Contacted")
    assert sorted(read) == sorted(ids) and len(read) == len(set(read))
