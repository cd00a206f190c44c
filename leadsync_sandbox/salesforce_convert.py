"""Lead conversion as the org performs it (convertLead, or a rep's "Convert" button).

Conversion creates (or reuses) an Account, creates a Contact and, unless told not to, an
Opportunity at the sales process's *first* stage: convertLead takes no stage, so a caller that
wants "Qualification" must update the Opportunity afterwards. The Lead becomes read-only
(IsConverted, ConvertedDate, Converted*Id); converting it again is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from leadsync_sandbox.salesforce_schema import (
    ACCOUNT, CONTACT, CONVERTED_STATUSES, DEFAULT_OPPORTUNITY_STAGE, OPPORTUNITY,
)
from leadsync_sandbox.salesforce_store import Record, RecordError, Store

# Lead fields the org's "Map Lead Fields" setup copies onto the new Contact.
CONTACT_FIELD_MAP = ("FirstName", "LastName", "Email", "Title", "Phone", "HubSpot_Contact_Id__c",
                     "Leadsync_Stage__c", "Leadsync_Score__c", "Leadsync_Handoff_At__c",
                     "Leadsync_Reason__c", "Leadsync_Definition_Version__c")
ACCOUNT_FIELD_MAP = {"Company": "Name", "Industry": "Industry",
                     "NumberOfEmployees": "NumberOfEmployees", "AnnualRevenue": "AnnualRevenue",
                     "Country": "BillingCountry"}


@dataclass(frozen=True)
class LeadConvert:
    lead_id: str
    converted_status: str
    account_id: str | None = None
    contact_id: str | None = None
    owner_id: str | None = None
    do_not_create_opportunity: bool = False
    opportunity_name: str | None = None
    overwrite_lead_source: bool = False
    send_notification_email: bool = False


@dataclass
class ConvertResult:
    lead_id: str | None
    account_id: str | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    errors: list[RecordError] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.errors


def convert_lead(store: Store, request: LeadConvert, *, actor: str) -> ConvertResult:
    """Convert one lead atomically; failures come back in the result, never raised."""
    try:
        with store.atomic():
            return _convert(store, request, actor)
    except RecordError as error:
        return ConvertResult(request.lead_id, errors=[error])


def _convert(store: Store, request: LeadConvert, actor: str) -> ConvertResult:
    lead = store.get("Lead", request.lead_id)
    if lead is None:
        raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                          ["LeadId"])
    if lead.get("IsConverted"):
        raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "This lead was already converted to "
                          f"the contact {lead.get('ConvertedContactId')}.")
    if request.converted_status not in CONVERTED_STATUSES:
        raise RecordError("INVALID_STATUS", f"invalid convertedStatus: {request.converted_status}",
                          ["ConvertedStatus"])
    store._take_lock(lead["Id"], lead.get("HubSpot_Contact_Id__c"))
    owner = request.owner_id or lead.get("OwnerId") or actor
    account = _account(store, request, lead, owner, actor)
    contact = _contact(store, request, lead, account, owner, actor)
    opportunity = None
    if not request.do_not_create_opportunity:
        opportunity = store.save(OPPORTUNITY, {
            "Name": request.opportunity_name or f"{lead.get('Company')}-",
            "AccountId": account["Id"], "OwnerId": owner, "StageName": DEFAULT_OPPORTUNITY_STAGE,
            "CloseDate": end_of_quarter(store.clock().date()),
            "LeadSource": lead.get("LeadSource"),
        }, actor=actor)
    store.system_update("Lead", lead["Id"], {
        "IsConverted": True, "Status": request.converted_status,
        "ConvertedAccountId": account["Id"], "ConvertedContactId": contact["Id"],
        "ConvertedOpportunityId": opportunity["Id"] if opportunity else None,
        "ConvertedDate": store.clock().date(),
    }, actor=actor)
    return ConvertResult(lead["Id"], account["Id"], contact["Id"],
                         opportunity["Id"] if opportunity else None)


def _account(store: Store, request: LeadConvert, lead: Record, owner: str, actor: str) -> Record:
    if request.account_id:
        account = store.get("Account", request.account_id)
        if account is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                              ["AccountId"])
        return account
    values = {target: lead.get(source) for source, target in ACCOUNT_FIELD_MAP.items()
              if lead.get(source) is not None}
    return store.save(ACCOUNT, {**values, "OwnerId": owner}, actor=actor)


def _contact(store: Store, request: LeadConvert, lead: Record, account: Record, owner: str,
             actor: str) -> Record:
    if request.contact_id:
        contact = store.get("Contact", request.contact_id)
        if contact is None or contact.get("AccountId") != account["Id"]:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                              ["ContactId"])
        return contact
    values = {name: lead.get(name) for name in CONTACT_FIELD_MAP if lead.get(name) is not None}
    return store.save(CONTACT, {**values, "AccountId": account["Id"], "OwnerId": owner},
                      actor=actor)


def end_of_quarter(today: date) -> date:
    """Default CloseDate of a converted opportunity: the last day of the current quarter."""
    quarter_start = (today.month - 1) // 3 * 3 + 1
    year, month = (today.year + 1, 1) if quarter_start == 10 else (today.year, quarter_start + 3)
    return date(year, month, 1) - timedelta(days=1)
