"""HubSpot property definitions (properties v3) and value validation.

A portal starts with HubSpot's default contact and company properties plus the custom ones
this marketing team created (``wants_sales_contact``, and ``numberofemployees`` on contacts:
HubSpot's own contact property is ``numemployees``, a range picklist). leadsync's own
``leadsync_*`` properties are absent until the connector creates them, as on a fresh portal.

Validation mirrors the real API: a write naming an unknown property, or a value the property's
type refuses, fails the whole request with 400 VALIDATION_ERROR and the message
``Property values were not valid: [{"isValid":false,"message":…,"error":…,"name":…}]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

OBJECT_TYPES = {"contacts": "contacts", "contact": "contacts", "0-1": "contacts",
                "companies": "companies", "company": "companies", "0-2": "companies"}
# Object types HubSpot has that this portal holds no records of (a request may still name them).
UNSEEDED_OBJECT_TYPES = frozenset({"deals", "deal", "0-3", "tickets", "ticket", "0-5"})

LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                    "opportunity", "customer", "evangelist", "other")
LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
                 "CONNECTED", "BAD_TIMING")
COMPANY_INDUSTRIES = (
    "COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "BANKING", "HOSPITAL_HEALTH_CARE", "MEDICAL_DEVICES",
    "MACHINERY", "INDUSTRIAL_AUTOMATION", "RETAIL", "EDUCATION_MANAGEMENT", "GOVERNMENT_ADMINISTRATION",
    "LOGISTICS_AND_SUPPLY_CHAIN", "MEDIA_PRODUCTION", "INFORMATION_TECHNOLOGY_AND_SERVICES",
)
FIELD_TYPES = {"string": "text", "number": "number", "bool": "booleancheckbox", "date": "date",
               "datetime": "date", "enumeration": "select", "phone_number": "phonenumber"}
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate",
                       "hs_merged_object_ids", "hs_lifecyclestage_marketingqualifiedlead_date"})
CREATED_AT = "2019-08-06T02:41:08.000Z"  # when HubSpot defined its defaults; any fixed past date


@dataclass(slots=True)
class PropertyDef:
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group: str = "contactinformation"
    options: tuple[str, ...] = ()
    hubspot_defined: bool = True
    description: str = ""
    created_at: str = CREATED_AT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "updatedAt": self.created_at, "createdAt": self.created_at,
            "name": self.name, "label": self.label, "type": self.type, "fieldType": self.field_type,
            "description": self.description, "groupName": self.group,
            "options": [{"label": o.replace("_", " ").title(), "value": o, "displayOrder": i, "hidden": False,
                         "description": ""} for i, o in enumerate(self.options)],
            "displayOrder": -1, "calculated": False, "externalOptions": False,
            "hasUniqueValue": self.name == "email", "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {"archivable": not self.hubspot_defined,
                                     "readOnlyDefinition": self.hubspot_defined,
                                     "readOnlyValue": self.name in READ_ONLY},
            "formField": True, "dataSensitivity": "non_sensitive", **self.extra,
        }


def _p(name: str, label: str, type_: str = "string", group: str = "contactinformation",
       options: tuple[str, ...] = (), hubspot_defined: bool = True) -> PropertyDef:
    field_type = "phonenumber" if name == "phone" else FIELD_TYPES.get(type_, "text")
    return PropertyDef(name, label, type_, field_type, group, options, hubspot_defined)


def default_properties(*, custom: bool = True) -> dict[str, dict[str, PropertyDef]]:
    """HubSpot's own properties, plus (``custom``) the ones this marketing team created."""
    contact = [
        _p("email", "Email"), _p("firstname", "First Name"), _p("lastname", "Last Name"),
        _p("company", "Company Name"), _p("jobtitle", "Job Title"), _p("phone", "Phone Number"),
        _p("country", "Country/Region"), _p("industry", "Industry"), _p("annualrevenue", "Annual Revenue"),
        _p("lifecyclestage", "Lifecycle Stage", "enumeration", options=LIFECYCLE_STAGES),
        _p("hs_lead_status", "Lead Status", "enumeration", options=LEAD_STATUSES),
        _p("numemployees", "Number of Employees", "enumeration",
           options=("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")),
        _p("createdate", "Create Date", "datetime"), _p("lastmodifieddate", "Last Modified Date", "datetime"),
        _p("hs_object_id", "Record ID", "number"),
        _p("hs_merged_object_ids", "Merged Record IDs", "enumeration"),
        # Set by HubSpot when the contact first enters the stage (the portal's own verdict).
        _p("hs_lifecyclestage_marketingqualifiedlead_date", "Became a Marketing Qualified Lead Date",
           "datetime", group="contactinformation"),
        # HubSpot keeps it equal to the primary associated company's id.
        _p("associatedcompanyid", "Primary Associated Company ID", "number"),
        # Kept up to date by HubSpot's analytics and email tools (read-only for integrations):
        # each update moves lastmodifieddate, which is how a sync notices new activity.
        _p("hs_analytics_num_page_views", "Number of Pageviews", "number", group="analyticsinformation"),
        _p("hs_analytics_last_timestamp", "Time Last Seen", "datetime", group="analyticsinformation"),
        _p("hs_email_open", "Marketing emails opened", "number", group="emailinformation"),
        _p("hs_email_click", "Marketing emails clicked", "number", group="emailinformation"),
        _p("hs_email_last_open_date", "Last marketing email open date", "datetime", group="emailinformation"),
        _p("hs_email_last_click_date", "Last marketing email click date", "datetime", group="emailinformation"),
        _p("hs_email_optout", "Unsubscribed from all email", "bool", group="emailinformation",
           options=("true", "false")),
    ]
    if custom:  # created by this portal's admins
        contact += [
            _p("numberofemployees", "Number of employees (company size)", "number", hubspot_defined=False),
            _p("wants_sales_contact", "Would you like to be contacted by sales?", "bool",
               options=("true", "false"), hubspot_defined=False),
        ]
    company = [
        _p("name", "Company name", group="companyinformation"),
        _p("domain", "Company Domain Name", group="companyinformation"),
        _p("numberofemployees", "Number of Employees", "number", group="companyinformation"),
        _p("annualrevenue", "Annual Revenue", "number", group="companyinformation"),
        _p("industry", "Industry", "enumeration", group="companyinformation", options=COMPANY_INDUSTRIES),
        _p("country", "Country/Region", group="companyinformation"),
        _p("lifecyclestage", "Lifecycle Stage", "enumeration", group="companyinformation",
           options=LIFECYCLE_STAGES),
        _p("createdate", "Create Date", "datetime", group="companyinformation"),
        _p("hs_lastmodifieddate", "Last Modified Date", "datetime", group="companyinformation"),
        _p("hs_object_id", "Record ID", "number", group="companyinformation"),
    ]
    return {"contacts": {p.name: p for p in contact}, "companies": {p.name: p for p in company}}


def default_groups() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "contacts": {"contactinformation": _group("contactinformation", "Contact information", 0)},
        "companies": {"companyinformation": _group("companyinformation", "Company information", 0)},
    }


def _group(name: str, label: str, order: int) -> dict[str, Any]:
    return {"name": name, "label": label, "displayOrder": order, "archived": False}


def new_group(body: dict[str, Any]) -> dict[str, Any]:
    return _group(str(body.get("name", "")), str(body.get("label", body.get("name", ""))),
                  int(body.get("displayOrder", -1)))


def property_from_input(body: dict[str, Any], now: datetime) -> PropertyDef:
    """A custom property from a properties v3 create body (validated by the caller)."""
    options = tuple(str(o.get("value")) for o in body.get("options") or [] if isinstance(o, dict))
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return PropertyDef(
        name=str(body["name"]), label=str(body["label"]), type=str(body["type"]),
        field_type=str(body["fieldType"]), group=str(body["groupName"]), options=options,
        hubspot_defined=False, description=str(body.get("description", "")), created_at=stamp,
    )


# ---- value validation ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Invalid:
    name: str
    error: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.error, "name": self.name,
                "localizedErrorMessage": self.message}


def check_values(defs: dict[str, PropertyDef], values: dict[str, Any]) -> tuple[dict[str, str], list[Invalid]]:
    """Normalise values to the strings HubSpot stores, or say which ones are invalid."""
    clean: dict[str, str] = {}
    problems: list[Invalid] = []
    for name, value in values.items():
        definition = defs.get(name)
        if definition is None:
            problems.append(Invalid(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        if name in READ_ONLY:
            problems.append(Invalid(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'))
            continue
        normalised, problem = _normalise(definition, value)
        if problem:
            problems.append(problem)
        else:
            clean[name] = normalised
    return clean, problems


def invalid_message(problems: list[Invalid]) -> str:
    return "Property values were not valid: " + json.dumps([p.to_json() for p in problems],
                                                           separators=(",", ":"))


def _normalise(definition: PropertyDef, value: Any) -> tuple[str, Invalid | None]:
    if value is None or value == "":
        return "", None  # an empty string clears a property of any type
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
    kind = definition.type
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isnan(number) or math.isinf(number):
            return "", Invalid(definition.name, "INVALID_NUMBER", f"{text} was not a valid number.")
        return (str(int(number)) if number.is_integer() and "." not in text else text), None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            return "", Invalid(definition.name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
        return text.lower(), None
    if kind == "enumeration" and definition.options and text not in definition.options:
        allowed = ", ".join(definition.options)
        return "", Invalid(definition.name, "INVALID_OPTION",
                           f"{text} was not one of the allowed options: [{allowed}]")
    if kind in ("datetime", "date"):
        moment = _as_datetime(text)
        if moment is None:
            return "", Invalid(definition.name, "INVALID_DATE", f"{text} was not a valid date or datetime.")
        # Stored as an instant and read back as ISO-8601 UTC, whichever form was written.
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z", None
    if definition.name == "email" and "@" not in text:
        return "", Invalid("email", "INVALID_EMAIL", f"Email address {text} is invalid")
    return text, None


def _as_datetime(text: str) -> datetime | None:
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
