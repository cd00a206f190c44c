"""Vocabulary the seed draws from: names, companies, titles, pages, forms, campaigns.

Kept apart from the generator so the generation logic in seed.py stays readable.
"""

from __future__ import annotations

import uuid

VENDOR_SITE = "https://www.example-vendor.com"

COMPANY_NAMES = (
    "Acme Analytics", "Brightwave", "Cobalt Health", "Dataforge", "Everline Bank", "Fieldstone Manufacturing",
    "Greenleaf Retail", "Harborview Hospital", "Ironclad Systems", "Juniper Learning", "Keystone Logistics",
    "Lumen Fintech", "Meridian Software", "Northwind Traders", "Orbital Labs", "Pinecrest Schools",
    "Quantum Ledger", "Redwood Insurance", "Summit Medical", "Tidewater Energy", "Umbra Security",
    "Vantage Pay", "Westbrook Foods", "Xylo Robotics", "Yellowstone Outfitters", "Zenith Cloud",
    "Atlas Freight", "Beacon Biotech", "Cascade Credit", "Delta Devices", "Ember Studios",
    "Foxglove Pharma", "Granite Works", "Helix Genomics", "Indigo Apparel", "Jetstream Air",
    "Kinetic Motors", "Lakeside County", "Monarch Capital", "Nimbus Data",
)

COMPETITOR = {"name": "RivalSync", "domain": "rivalsync.com"}

# Employee counts, dealt out to the companies in a shuffled order so every seed gets the same
# mix: about a fifth too small for us, a few never filled in, the rest from 120 to 20,000.
SIZES = (
    10, 18, 35, 60, 85, 95, 40, 25,
    120, 150, 180, 220, 250, 300, 400, 450, 500, 650, 750, 900,
    120, 200, 350, 600, 800, 950, 1200, 1500, 2500, 3200, 5000, 8000, 12000, 20000,
    None, None, None, None, None, None,
)

INDUSTRIES = (
    "Software", "Software", "Fintech", "Financial Services", "Healthcare", "Hospital & Health Care",
    "Manufacturing", "Retail", "Education", "Government", "Logistics", "Media", "Information Technology",
)

# The label a person types into a form → the value of HubSpot's company industry picklist.
INDUSTRY_CODES = {
    "Software": "COMPUTER_SOFTWARE", "Fintech": "FINANCIAL_SERVICES",
    "Financial Services": "FINANCIAL_SERVICES", "Healthcare": "HOSPITAL_HEALTH_CARE",
    "Hospital & Health Care": "HOSPITAL_HEALTH_CARE", "Manufacturing": "INDUSTRIAL_AUTOMATION",
    "Retail": "RETAIL", "Education": "EDUCATION_MANAGEMENT", "Government": "GOVERNMENT_ADMINISTRATION",
    "Logistics": "LOGISTICS_AND_SUPPLY_CHAIN", "Media": "MEDIA_PRODUCTION",
    "Information Technology": "INFORMATION_TECHNOLOGY_AND_SERVICES",
}

COUNTRIES = (
    "United States", "United States", "United States", "Canada", "United Kingdom", "Germany",
    "France", "Netherlands", "Australia", "India", "Brazil", "Japan", "Spain",
)

FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "proton.me")

FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kira", "Liam",
    "Maya", "Noah", "Olivia", "Priya", "Quinn", "Rafael", "Sofia", "Tariq", "Uma", "Victor", "Wen",
    "Ximena", "Yusuf", "Zoe", "Aaron", "Bianca", "Carlos", "Dana", "Emeka", "Fatima", "Gustav", "Hana",
)

LAST_NAMES = (
    "Abbott", "Baker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen",
    "Kowalski", "Lopez", "Murphy", "Nakamura", "Okafor", "Patel", "Quispe", "Rossi", "Schmidt", "Tanaka",
    "Underwood", "Vargas", "Weber", "Xu", "Young", "Zhang", "O'Brien", "Larsen", "Moreau", "Singh",
)

# (title, weight): buyers, influencers, practitioners and people who will never buy.
TITLES = (
    ("VP Engineering", 6), ("Vice President of Operations", 3), ("Director of IT", 7), ("Head of Data", 5),
    ("CTO", 4), ("Chief Information Officer", 2), ("Director, Marketing Operations", 3),
    ("Engineering Manager", 7), ("IT Manager", 6), ("Marketing Manager", 6), ("Solutions Architect", 4),
    ("Principal Engineer", 3), ("Software Engineer", 12), ("Data Analyst", 8), ("Analyst", 6),
    ("Sales Representative", 3), ("Office Manager", 2), ("Consultant", 3), ("", 4),
)

BLOG_POSTS = (
    ("/blog/lead-scoring-101", "Lead scoring 101"),
    ("/blog/mql-vs-sql", "MQL vs SQL: where the handoff happens"),
    ("/blog/crm-hygiene", "Five habits of a clean CRM"),
    ("/blog/sales-marketing-sla", "Writing a sales and marketing SLA"),
    ("/blog/bant-in-practice", "BANT in practice"),
)

CASE_STUDIES = (
    ("/case-studies/everline-bank", "Everline Bank halves response time"),
    ("/case-studies/meridian-software", "Meridian Software doubles pipeline"),
)

# form id → (form title, page it lives on)
FORMS = {
    "demo-request": ("Request a demo", "/demo"),
    "contact-us": ("Contact sales", "/contact"),
    "free-trial": ("Start your free trial", "/trial"),
    "whitepaper-download": ("Download: The lead handoff playbook", "/resources/handoff-playbook"),
    "datasheet-download": ("Download: Product data sheet", "/resources/datasheet"),
    "newsletter-signup": ("Newsletter", "/blog"),
    "webinar-registration": ("Webinar registration", "/webinars"),
}

# HubSpot names a form by a GUID; the seed's events carry these (stable across seeds, so a
# definition written for the sandbox portal keeps working).
FORM_GUIDS = {slug: str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://forms.example-vendor.com/{slug}"))
              for slug in FORMS}

# HubSpot's standard contact property numemployees is a range picklist with these options.
EMPLOYEE_BANDS = ((5, "1-5"), (25, "5-25"), (50, "25-50"), (100, "50-100"), (500, "100-500"),
                  (1000, "500-1000"))


def size_band(employees: str) -> str:
    """The numemployees option a person picks for a company of this size ("" when unknown)."""
    if not employees:
        return ""
    count = int(employees)
    return next((band for below, band in EMPLOYEE_BANDS if count < below), "1000+")


WEBINARS = ("Scoring leads that sales trusts", "From MQL to pipeline in 30 minutes", "Quarterly product tour")

# (emailCampaignId, the link people click)
EMAIL_CAMPAIGNS = (
    (310001, "/blog/lead-scoring-101"), (310002, "/webinars"), (310003, "/pricing"),
    (310004, "/resources/handoff-playbook"), (310005, "/product"), (310006, "/case-studies/everline-bank"),
)

SALES_USERS = (
    {"first": "Morgan", "last": "Reyes", "title": "Sales Manager", "role": "Sales Manager"},
    {"first": "Sam", "last": "Okoro", "title": "Account Executive", "role": "Sales Rep"},
    {"first": "Alex", "last": "Lindqvist", "title": "Account Executive", "role": "Sales Rep"},
    {"first": "Jordan", "last": "Hale", "title": "Sales Development Rep", "role": "Sales Rep"},
    {"first": "Leadsync", "last": "Integration", "title": "Integration User", "role": "Integration"},
)
