"""The modules, fields and dropdowns of the sandbox's Sugar instance (stock Sugar plus the
custom ``_c`` fields an admin adds for leadsync in Studio).

What the REST API does NOT do, and so neither does the emulator: check required fields,
check that a dropdown value is one of its list's keys, or refuse text longer than a field's
``len`` (it is cut silently, as MySQL does in non-strict mode). leadsync must validate first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

DROPDOWNS: Mapping[str, tuple[str, ...]] = {
    "lead_status_dom": ("", "New", "Assigned", "In Process", "Converted", "Recycled", "Dead"),
    "lead_source_dom": ("", "Cold Call", "Existing Customer", "Self Generated", "Employee", "Partner",
                        "Public Relations", "Direct Mail", "Conference", "Trade Show", "Web Site",
                        "Word of mouth", "Email", "Campaign", "Other"),
    "sales_stage_dom": ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
                        "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
                        "Negotiation/Review", "Closed Won", "Closed Lost"),
    "account_type_dom": ("", "Analyst", "Competitor", "Customer", "Integrator", "Investor", "Partner",
                         "Press", "Prospect", "Reseller", "Other"),
    "call_status_dom": ("Planned", "Held", "Not Held"),
    "call_direction_dom": ("Inbound", "Outbound"),
    "meeting_status_dom": ("Planned", "Held", "Not Held"),
    "task_status_dom": ("Not Started", "In Progress", "Completed", "Pending Input", "Deferred"),
    "task_priority_dom": ("High", "Medium", "Low"),
    "parent_type_display": ("Accounts", "Contacts", "Tasks", "Opportunities", "Bugs", "Cases", "Leads",
                            "Project", "ProjectTask", "Prospects", "Quotes", "Products"),
    "bant_timeline_list": ("", "0-3 months", "3-6 months", "6-12 months", "12+ months"),
    "industry_dom": ("", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
                     "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
                     "Entertainment", "Environmental", "Finance", "Government", "Healthcare", "Hospitality",
                     "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit", "Recreation",
                     "Retail", "Shipping", "Technology", "Telecommunications", "Transportation", "Utilities",
                     "Other"),
    "user_status_dom": ("Active", "Inactive"),
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str = "varchar"          # varchar, text, name, id, relate, enum, bool, int, currency, date,
    len: int | None = None         # datetime, datetimecombo, email, phone, url, parent_type, link
    required: bool = False
    options: str | None = None     # the dropdown (app_list_strings key) of an enum
    custom: bool = False
    read_only: bool = False        # set by the server only (converted, date_modified, …)


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    fields: Mapping[str, Field]
    links: Mapping[str, str] = field(default_factory=dict)   # link name → related module

    def field(self, name: str) -> Field | None:
        return self.fields.get(name)


def _fields(*items: Field) -> dict[str, Field]:
    return {f.name: f for f in items}


_COMMON = (
    Field("id", "id", 36), Field("date_entered", "datetime", read_only=True),
    Field("date_modified", "datetime", read_only=True), Field("modified_user_id", "id", 36, read_only=True),
    Field("created_by", "id", 36, read_only=True), Field("deleted", "bool", read_only=True),
    Field("description", "text", 65535), Field("assigned_user_id", "relate", 36),
)
_PERSON = (
    Field("salutation", "enum", 255), Field("first_name", "varchar", 100),
    Field("last_name", "varchar", 100, required=True), Field("title", "varchar", 100),
    Field("department", "varchar", 255), Field("phone_work", "phone", 100), Field("phone_mobile", "phone", 100),
    Field("email1", "email", 100), Field("email", "email", None),
    Field("primary_address_street", "varchar", 150), Field("primary_address_city", "varchar", 100),
    Field("primary_address_state", "varchar", 100), Field("primary_address_postalcode", "varchar", 20),
    Field("primary_address_country", "varchar", 255), Field("do_not_call", "bool"),
)
_LEADSYNC = (
    Field("hubspot_contact_id_c", "varchar", 36, custom=True),
    Field("leadsync_stage_c", "varchar", 30, custom=True), Field("leadsync_score_c", "int", custom=True),
    Field("leadsync_handoff_at_c", "datetimecombo", custom=True),
    Field("leadsync_reason_c", "varchar", 255, custom=True),
    Field("leadsync_definition_version_c", "int", custom=True),
)
_ACTIVITY = (
    Field("name", "name", 255, required=True), Field("parent_type", "parent_type", 255, options="parent_type_display"),
    Field("parent_id", "id", 36), Field("contact_id", "id", 36),
)

MODULES: dict[str, Module] = {
    "Users": Module("Users", _fields(
        Field("id", "id", 36), Field("user_name", "varchar", 60, required=True), Field("first_name", "varchar", 255),
        Field("last_name", "varchar", 255, required=True), Field("title", "varchar", 50),
        Field("email1", "email", 100), Field("status", "enum", 100, options="user_status_dom"),
        Field("is_admin", "bool"), Field("date_entered", "datetime", read_only=True),
        Field("date_modified", "datetime", read_only=True), Field("deleted", "bool", read_only=True))),
    "Leads": Module("Leads", _fields(
        *_COMMON, *_PERSON, *_LEADSYNC,
        Field("account_name", "varchar", 255), Field("website", "url", 255),
        Field("status", "enum", 100, options="lead_status_dom"), Field("status_description", "text", 65535),
        Field("lead_source", "enum", 100, options="lead_source_dom"),
        Field("converted", "bool", read_only=True), Field("account_id", "id", 36), Field("contact_id", "id", 36),
        Field("opportunity_id", "id", 36), Field("opportunity_name", "varchar", 255),
        Field("employees_c", "int", custom=True), Field("industry_c", "enum", 100, options="industry_dom", custom=True),
        Field("annual_revenue_c", "currency", custom=True)),
        links={"calls": "Calls", "meetings": "Meetings", "tasks": "Tasks", "contact": "Contacts",
               "opportunity": "Opportunities", "accounts": "Accounts"}),
    "Contacts": Module("Contacts", _fields(
        *_COMMON, *_PERSON, *_LEADSYNC, Field("account_id", "relate", 36),
        Field("lead_source", "enum", 100, options="lead_source_dom")),
        links={"calls": "Calls", "meetings": "Meetings", "tasks": "Tasks", "opportunities": "Opportunities",
               "leads": "Leads", "accounts": "Accounts"}),
    "Accounts": Module("Accounts", _fields(
        *_COMMON, Field("name", "name", 150, required=True), Field("website", "url", 255),
        Field("account_type", "enum", 50, options="account_type_dom"),
        Field("industry", "enum", 50, options="industry_dom"), Field("employees", "varchar", 10),
        Field("annual_revenue", "varchar", 100), Field("billing_address_country", "varchar", 255),
        Field("phone_office", "phone", 100)),
        links={"contacts": "Contacts", "opportunities": "Opportunities", "leads": "Leads",
               "calls": "Calls", "meetings": "Meetings", "tasks": "Tasks"}),
    "Opportunities": Module("Opportunities", _fields(
        *_COMMON, Field("name", "name", 50, required=True), Field("amount", "currency"),
        Field("date_closed", "date", required=True),
        Field("sales_stage", "enum", 255, required=True, options="sales_stage_dom"),
        Field("probability", "int"), Field("lead_source", "enum", 50, options="lead_source_dom"),
        Field("next_step", "varchar", 100), Field("account_id", "relate", 36),
        Field("hubspot_contact_id_c", "varchar", 36, custom=True),
        Field("bant_budget_c", "bool", custom=True), Field("bant_authority_c", "bool", custom=True),
        Field("bant_need_c", "varchar", 255, custom=True),
        Field("bant_timeline_c", "enum", 100, options="bant_timeline_list", custom=True)),
        links={"contacts": "Contacts", "leads": "Leads", "accounts": "Accounts", "calls": "Calls",
               "meetings": "Meetings", "tasks": "Tasks"}),
    "Calls": Module("Calls", _fields(
        *_COMMON, *_ACTIVITY, Field("status", "enum", 100, options="call_status_dom"),
        Field("direction", "enum", 100, options="call_direction_dom"),
        Field("date_start", "datetimecombo", required=True), Field("date_end", "datetimecombo"),
        Field("duration_hours", "int", required=True), Field("duration_minutes", "int"))),
    "Meetings": Module("Meetings", _fields(
        *_COMMON, *_ACTIVITY, Field("status", "enum", 100, options="meeting_status_dom"),
        Field("date_start", "datetimecombo", required=True), Field("date_end", "datetimecombo"),
        Field("duration_hours", "int", required=True), Field("duration_minutes", "int"),
        Field("location", "varchar", 50))),
    "Tasks": Module("Tasks", _fields(
        *_COMMON, *_ACTIVITY, Field("status", "enum", 100, options="task_status_dom"),
        Field("priority", "enum", 100, options="task_priority_dom"),
        Field("date_due", "datetimecombo"), Field("date_start", "datetimecombo"))),
}

# Relationships kept by a column on one side: link (module, name) → (column holder, column).
# "parent" means the activity's parent_type/parent_id pair.
LINK_COLUMNS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("Leads", "calls"): ("remote", "parent"), ("Leads", "meetings"): ("remote", "parent"),
    ("Leads", "tasks"): ("remote", "parent"), ("Contacts", "calls"): ("remote", "parent"),
    ("Contacts", "meetings"): ("remote", "parent"), ("Contacts", "tasks"): ("remote", "parent"),
    ("Accounts", "calls"): ("remote", "parent"), ("Accounts", "meetings"): ("remote", "parent"),
    ("Accounts", "tasks"): ("remote", "parent"), ("Opportunities", "calls"): ("remote", "parent"),
    ("Opportunities", "meetings"): ("remote", "parent"), ("Opportunities", "tasks"): ("remote", "parent"),
    ("Leads", "contact"): ("local", "contact_id"), ("Leads", "opportunity"): ("local", "opportunity_id"),
    ("Leads", "accounts"): ("local", "account_id"), ("Contacts", "accounts"): ("local", "account_id"),
    ("Opportunities", "accounts"): ("local", "account_id"), ("Accounts", "contacts"): ("remote", "account_id"),
    ("Accounts", "opportunities"): ("remote", "account_id"), ("Accounts", "leads"): ("remote", "account_id"),
    ("Contacts", "leads"): ("remote", "contact_id"), ("Opportunities", "leads"): ("remote", "opportunity_id"),
}
# Many-to-many relationships (a join table): both link names.
JOIN_LINKS = {("Opportunities", "contacts"): ("Contacts", "opportunities"),
              ("Contacts", "opportunities"): ("Opportunities", "contacts")}


def module(name: str) -> Module | None:
    return MODULES.get(name)
