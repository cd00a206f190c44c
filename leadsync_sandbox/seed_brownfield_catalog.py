"""Vocabulary of the brownfield portal: two years of another team's forms, stages and habits."""

from __future__ import annotations

import random
import uuid

# HubSpot form ids are GUIDs; the names are what marketers called them. A rule that wants
# "demo requests" has to find them by name (marketing forms v3) or by these ids, not by a slug.
_FORM_NAMES = (
    ("Request a demo", "/demo", "late"),
    ("Demo request - pricing page", "/pricing", "late"),
    ("Contact sales", "/contact", "late"),
    ("Start your free trial", "/trial", "late"),
    ("Ebook: The RevOps handbook", "/resources/revops-handbook", "content"),
    ("Whitepaper - lead handoff playbook", "/resources/handoff-playbook", "content"),
    ("Webinar registration (Q3 product tour)", "/webinars/q3-tour", "content"),
    ("Datasheet download", "/resources/datasheet", "content"),
    ("Newsletter signup", "/blog", "subscribe"),
    ("Blog subscription (footer)", "/blog", "subscribe"),
    ("Event badge scan import", "/events/saastr", "content"),
)
# guid → (form name, page it lives on, kind)
FORMS: dict[str, tuple[str, str, str]] = {
    str(uuid.UUID(int=random.Random(name).getrandbits(128), version=4)): (name, page, kind)
    for name, page, kind in _FORM_NAMES
}
FORMS_BY_KIND: dict[str, tuple[str, ...]] = {
    kind: tuple(guid for guid, (_, _, k) in FORMS.items() if k == kind)
    for kind in ("late", "content", "subscribe")
}
DEMO_FORM_NAMES = ("Request a demo", "Demo request - pricing page")

PAGES = (
    ("/", "Home"), ("/product", "Product overview"), ("/pricing", "Pricing"),
    ("/blog/lead-scoring-101", "Lead scoring 101"), ("/blog/mql-vs-sql", "MQL vs SQL"),
    ("/blog/crm-hygiene", "Five habits of a clean CRM"), ("/integrations", "Integrations"),
    ("/case-studies/everline-bank", "Everline Bank halves response time"), ("/careers", "Careers"),
    ("/docs/getting-started", "Getting started"), ("/security", "Security and compliance"),
)

# HubSpot's lifecycle stages with how many of a two-year-old portal's contacts sit in each.
LIFECYCLE_MIX = (
    ("subscriber", 26), ("lead", 34), ("marketingqualifiedlead", 11), ("salesqualifiedlead", 7),
    ("opportunity", 6), ("customer", 10), ("evangelist", 2), ("other", 4),
)
# Lead statuses sales set by hand, by lifecycle stage: (chance any is set, the ones they use).
SALES_LEAD_STATUS = {
    "subscriber": (0.03, ("NEW", "UNQUALIFIED")),
    "lead": (0.15, ("NEW", "UNQUALIFIED", "BAD_TIMING", "ATTEMPTED_TO_CONTACT")),
    "marketingqualifiedlead": (0.7, ("NEW", "OPEN", "ATTEMPTED_TO_CONTACT", "IN_PROGRESS", "CONNECTED")),
    "salesqualifiedlead": (0.9, ("IN_PROGRESS", "CONNECTED", "OPEN_DEAL", "ATTEMPTED_TO_CONTACT")),
    "opportunity": (0.9, ("OPEN_DEAL", "IN_PROGRESS", "CONNECTED")),
    "customer": (0.4, ("CONNECTED", "OPEN_DEAL")),
    "evangelist": (0.3, ("CONNECTED",)),
    "other": (0.2, ("UNQUALIFIED", "BAD_TIMING")),
}
# HubSpot's standard contact property numemployees is a range picklist.
EMPLOYEE_RANGES = ((5, "1-5"), (25, "5-25"), (50, "25-50"), (100, "50-100"), (500, "100-500"),
                   (1000, "500-1000"))
COMPANY_SIZES = (3, 12, 30, 45, 80, 95, 120, 180, 250, 400, 480, 650, 900, 1500, 4000, 12000)
OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
               "Proposal/Price Quote", "Negotiation/Review")
COMPANY_WORDS = ("Acme", "Bright", "Cobalt", "Data", "Ever", "Field", "Green", "Harbor", "Iron",
                 "Juniper", "Key", "Lumen", "Meridian", "North", "Orbit", "Pine", "Quantum", "Red",
                 "Summit", "Tide", "Umbra", "Vantage", "West", "Xylo", "Zenith", "Atlas", "Beacon")
COMPANY_SUFFIXES = ("Analytics", "Systems", "Health", "Bank", "Logistics", "Software", "Labs",
                    "Retail", "Energy", "Cloud", "Foods", "Pharma", "Works", "Capital", "Media")


def employee_range(count: int) -> str:
    for upper, label in EMPLOYEE_RANGES:
        if count < upper:
            return label
    return "1000+"
