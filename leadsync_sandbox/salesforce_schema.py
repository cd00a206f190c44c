"""The emulated org's objects and fields: one table drives describe, SOQL and record validation.

Adding a field to the sandbox is one entry here. Types, lengths, picklists and flags follow a
stock Salesforce org (Enterprise Edition) with the custom fields leadsync's mappings name.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterable, Mapping

# Status values the org flags as "converted" (LeadStatus.IsConverted): only these may be passed
# as convertedStatus to convertLead, and only they are hidden from the Lead picklist in the UI.
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                 "Closed - Not Converted")
CONVERTED_STATUSES = frozenset({"Closed - Converted"})
OPPORTUNITY_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
                      "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost")
# The sales process's first open stage: what convertLead gives a new Opportunity.
DEFAULT_OPPORTUNITY_STAGE = "Prospecting"
CLOSED_STAGES = {"Closed Won": True, "Closed Lost": False}  # stage → IsWon
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Other")
TIMELINES = ("0-3 months", "3-6 months", "6-12 months", "12+ months")
INDUSTRIES = ("Agriculture", "Banking", "Communications", "Consulting", "Education",
              "Electronics", "Energy", "Finance", "Government", "Healthcare", "Insurance",
              "Manufacturing", "Media", "Retail", "Technology", "Telecommunications", "Other")
ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Customer",
                 "Channel Partner / Reseller", "Installation Partner", "Technology Partner",
                 "Other")

TEXT_TYPES = frozenset({"string", "email", "phone", "url", "textarea", "picklist", "id",
                        "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    length: int = 0
    label: str = ""
    required: bool = False          # not nillable on create/update (REQUIRED_FIELD_MISSING)
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False        # restricted picklist: other values are rejected
    default: object = None
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    custom: bool = False

    @property
    def nillable(self) -> bool:
        return not self.required and self.type != "boolean" and self.name != "Id"


@dataclass(frozen=True, slots=True)
class SObject:
    name: str
    label: str
    key_prefix: str
    fields: tuple[Field, ...]
    by_lower: dict[str, Field] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_lower.update({f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        key = f"{self.name}.{name}".lower()
        org = ORG_FIELDS.get()
        if key in org.created:
            return org.created[key]
        if key in org.absent:
            return None
        return self.by_lower.get(name.lower())

    def visible_fields(self) -> list[Field]:
        """The fields this org has: the stock ones less those not created, plus new ones."""
        org = ORG_FIELDS.get()
        prefix = self.name.lower() + "."
        stock = [org.created.get(prefix + f.name.lower(), f) for f in self.fields
                 if prefix + f.name.lower() not in org.absent or prefix + f.name.lower() in org.created]
        names = {f.name.lower() for f in stock}
        extra = [f for key, f in org.created.items() if key.startswith(prefix) and f.name.lower() not in names]
        return stock + extra

    def relationship(self, name: str) -> Field | None:
        """The reference field behind a relationship name (``Owner`` → ``OwnerId``)."""
        lower = name.lower()
        return next((f for f in self.fields if f.relationship and f.relationship.lower() == lower),
                    None)

    @property
    def external_ids(self) -> list[Field]:
        return [f for f in self.visible_fields() if f.external_id]


@dataclass(frozen=True, slots=True)
class OrgFields:
    """How one org's fields differ from the stock schema below: custom fields it does not have
    (``absent``, keys "object.field" in lower case) and fields an admin or the Tooling API
    created (``created``). Set for each request from the org's state (``ORG_FIELDS``)."""

    absent: frozenset[str] = frozenset()
    created: Mapping[str, Field] = field(default_factory=dict)


ORG_FIELDS: ContextVar[OrgFields] = ContextVar("org_fields", default=OrgFields())


def _s(name, length=255, **kw) -> Field:
    return Field(name, "string", length, **kw)


def _ro(name, type_, **kw) -> Field:
    """A system field: read-only through the API."""
    return Field(name, type_, createable=False, updateable=False, **kw)


def _ref(name, *targets, relationship=None, **kw) -> Field:
    return Field(name, "reference", 18, reference_to=targets,
                 relationship=relationship or name[:-2], **kw)


def _pick(name, values, restricted=False, **kw) -> Field:
    return Field(name, "picklist", 255, picklist=tuple(values), restricted=restricted, **kw)


def _audit() -> tuple[Field, ...]:
    return (
        _ro("CreatedDate", "datetime"), _ref("CreatedById", "User", createable=False,
                                             updateable=False, relationship="CreatedBy"),
        _ro("LastModifiedDate", "datetime"),
        _ref("LastModifiedById", "User", createable=False, updateable=False,
             relationship="LastModifiedBy"),
        _ro("SystemModstamp", "datetime"), _ro("IsDeleted", "boolean", default=False),
    )


def _leadsync_fields() -> tuple[Field, ...]:
    return (
        Field("HubSpot_Contact_Id__c", "string", 64, external_id=True, unique=True, custom=True),
        _s("Leadsync_Stage__c", 40, custom=True),
        Field("Leadsync_Score__c", "double", custom=True),
        Field("Leadsync_Handoff_At__c", "datetime", custom=True),
        _s("Leadsync_Reason__c", 255, custom=True),
        Field("Leadsync_Definition_Version__c", "double", custom=True),
    )


_ID = _ro("Id", "id", length=18)
_OWNER = _ref("OwnerId", "User", relationship="Owner")

USER = SObject("User", "User", "005", (
    _ID, _s("Username", 80, required=True), _s("Name", 121, createable=False, updateable=False),
    _s("FirstName", 40), _s("LastName", 80, required=True), Field("Email", "email", 128,
                                                                  required=True),
    _s("Title", 80), Field("IsActive", "boolean", default=True), _s("UserRoleName", 80),
    _s("ProfileName", 80),
    *_audit()[:5],
))

ACCOUNT = SObject("Account", "Account", "001", (
    _ID, _s("Name", 255, required=True), Field("Website", "url", 255),
    _pick("Type", ACCOUNT_TYPES), _pick("Industry", INDUSTRIES),
    Field("NumberOfEmployees", "int"), Field("AnnualRevenue", "currency"),
    _s("BillingCountry", 80), _OWNER, *_audit(),
))

LEAD = SObject("Lead", "Lead", "00Q", (
    _ID, Field("Email", "email", 80), _s("FirstName", 40), _s("LastName", 80, required=True),
    _s("Name", 121, createable=False, updateable=False),
    _s("Company", 255, required=True), _s("Title", 128), Field("Phone", "phone", 40),
    Field("NumberOfEmployees", "int"), Field("AnnualRevenue", "currency"),
    _pick("Industry", INDUSTRIES), _s("Country", 80), _pick("LeadSource", LEAD_SOURCES),
    _pick("Status", LEAD_STATUSES, restricted=True, required=True,
          default="Open - Not Contacted"),
    _OWNER, _ro("IsConverted", "boolean", default=False),
    _ref("ConvertedOpportunityId", "Opportunity", createable=False, updateable=False),
    _ref("ConvertedContactId", "Contact", createable=False, updateable=False),
    _ref("ConvertedAccountId", "Account", createable=False, updateable=False),
    _ro("ConvertedDate", "date"),
    _ref("MasterRecordId", "Lead", createable=False, updateable=False),
    *_audit(), *_leadsync_fields(),
    _s("Rejection_Reason__c", 255, custom=True),
    Field("Budget_Confirmed__c", "boolean", default=False, custom=True),
    Field("Decision_Maker__c", "boolean", default=False, custom=True),
    _s("Need__c", 255, custom=True),
    _pick("Timeline__c", TIMELINES, restricted=True, custom=True),
))

CONTACT = SObject("Contact", "Contact", "003", (
    _ID, _ref("AccountId", "Account"), Field("Email", "email", 80), _s("FirstName", 40),
    _s("LastName", 80, required=True), _s("Name", 121, createable=False, updateable=False),
    _s("Title", 128), Field("Phone", "phone", 40), _OWNER,
    _ref("MasterRecordId", "Contact", createable=False, updateable=False),
    *_audit(), *_leadsync_fields(),
))

OPPORTUNITY = SObject("Opportunity", "Opportunity", "006", (
    _ID, _s("Name", 120, required=True), _ref("AccountId", "Account"), _OWNER,
    _pick("StageName", OPPORTUNITY_STAGES, restricted=True, required=True),
    Field("Amount", "currency"), Field("CloseDate", "date", required=True),
    _ro("IsClosed", "boolean", default=False), _ro("IsWon", "boolean", default=False),
    _pick("LeadSource", LEAD_SOURCES),
    *_audit(),
))

TASK = SObject("Task", "Task", "00T", (
    _ID, _ref("WhoId", "Lead", "Contact", relationship="Who"),
    _ref("WhatId", "Account", "Opportunity", relationship="What"), _OWNER,
    _s("Subject", 255), _pick("Status", ("Not Started", "In Progress", "Completed",
                                         "Waiting on someone else", "Deferred"),
                              restricted=True, required=True, default="Not Started"),
    _pick("Priority", ("High", "Normal", "Low"), restricted=True, required=True,
          default="Normal"),
    Field("ActivityDate", "date"), _pick("TaskSubtype", ("Call", "Email", "Task"),
                                         restricted=True, default="Task", updateable=False),
    Field("Description", "textarea", length=32000),
    *_audit(),
))

EVENT = SObject("Event", "Event", "00U", (
    _ID, _ref("WhoId", "Lead", "Contact", relationship="Who"),
    _ref("WhatId", "Account", "Opportunity", relationship="What"), _OWNER,
    _s("Subject", 255), Field("StartDateTime", "datetime", required=True),
    Field("EndDateTime", "datetime", required=True), *_audit(),
))

# The running user's permissions (one row, whoever asks): what setup reads to see whether the
# integration user may convert leads or create fields.
USER_PERMISSION_ACCESS = SObject("UserPermissionAccess", "User Permission Access", "0Ua", (
    _ID, _ro("PermissionsApiEnabled", "boolean", default=True),
    _ro("PermissionsConvertLeads", "boolean", default=True),
    _ro("PermissionsCustomizeApplication", "boolean", default=True),
))

OBJECTS: dict[str, SObject] = {o.name.lower(): o for o in (USER, ACCOUNT, LEAD, CONTACT,
                                                            OPPORTUNITY, TASK, EVENT,
                                                            USER_PERMISSION_ACCESS)}
BY_PREFIX: dict[str, SObject] = {o.key_prefix: o for o in OBJECTS.values()}


def sobject(name: str) -> SObject | None:
    return OBJECTS.get(name.lower())


# --- describe ---------------------------------------------------------------------------

_SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
               "double": "xsd:double", "currency": "xsd:double", "date": "xsd:date",
               "datetime": "xsd:dateTime"}


def describe_field(f: Field) -> dict:
    precision, scale = {"currency": (18, 2), "double": (18, 0), "int": (9, 0)}.get(f.type, (0, 0))
    return {
        "name": f.name, "label": f.label or _label(f.name), "type": f.type,
        "length": f.length if f.type in TEXT_TYPES else 0,
        "precision": precision, "scale": scale, "digits": 9 if f.type == "int" else 0,
        "soapType": _SOAP_TYPES.get(f.type, "xsd:string"),
        "custom": f.custom, "externalId": f.external_id, "unique": f.unique,
        "caseSensitive": False, "idLookup": f.name == "Id" or f.external_id,
        "nillable": f.nillable, "createable": f.createable, "updateable": f.updateable,
        "defaultedOnCreate": f.default is not None or f.name in ("Id", "OwnerId"),
        "filterable": f.type != "textarea", "sortable": f.type != "textarea",
        "calculated": False, "restrictedPicklist": f.restricted,
        "picklistValues": [
            {"active": True, "defaultValue": v == f.default, "label": v, "value": v,
             "validFor": None} for v in f.picklist],
        "referenceTo": list(f.reference_to), "relationshipName": f.relationship,
        "polymorphicForeignKey": len(f.reference_to) > 1,
    }


def describe(obj: SObject, base: str) -> dict:
    return {**describe_global_entry(obj, base),
            "fields": [describe_field(f) for f in obj.visible_fields()],
            "childRelationships": [], "recordTypeInfos": []}


def describe_global_entry(obj: SObject, base: str) -> dict:
    url = f"{base}/sobjects/{obj.name}"
    return {
        "name": obj.name, "label": obj.label, "labelPlural": obj.label + "s",
        "keyPrefix": obj.key_prefix, "custom": False, "queryable": True,
        "createable": obj.name != "User", "updateable": True, "deletable": obj.name != "User",
        "searchable": True, "retrieveable": True, "replicateable": True,
        "urls": {"sobject": url, "describe": f"{url}/describe", "rowTemplate": f"{url}/{{ID}}"},
    }


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id").replace("_", " ")
    return "".join(" " + c if c.isupper() and i and not base[i - 1].isupper() else c
                   for i, c in enumerate(base)).strip() or name


def custom_field_keys(objects: Iterable[str]) -> frozenset[str]:
    """Every custom field of these objects, as ``OrgFields.absent`` keys: an org leadsync has
    never been set up in."""
    return frozenset(f"{o.name}.{f.name}".lower() for name in objects if (o := sobject(name))
                     for f in o.fields if f.custom)


def field_names(obj: SObject, names: Iterable[str]) -> list[str]:
    """Canonical spellings of ``names`` (unknown ones kept as given, for error messages)."""
    return [(obj.field(n).name if obj.field(n) else n) for n in names]
