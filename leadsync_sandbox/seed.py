"""Deterministic sample data for the sandbox: a marketing database and a sales org.

``build_seed(seed, people, now)`` always returns the same data for the same arguments, with
every timestamp relative to ``now``, so demos and tests are reproducible on any day.

The mix is chosen so the default definition (mappings/qualification.toml) has work to do:
roughly one person in seven is ready for sales, some are disqualified by a hard fit rule
(free mail, students, a competitor, companies under 100 people), and a few strongly engaged
people miss only their company size (near-qualified). The Salesforce org already knows some
of those people as Leads without a HubSpot id, so the connector must dedupe on email.

Shapes are plain data. HubSpot property values are the strings the API returns; Salesforce
records are dicts keyed by API field name (datetimes stay ``datetime``; the emulator renders
them).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from leadsync_sandbox.seed_catalog import (
    COMPANY_NAMES, COUNTRIES, EMAIL_CAMPAIGNS, FIRST_NAMES, FORMS, FREE_MAIL, INDUSTRIES, INDUSTRY_CODES,
    LAST_NAMES, SIZES, TITLES, VENDOR_SITE, WEBINARS, BLOG_POSTS, CASE_STUDIES,
    COMPETITOR, SALES_USERS, FORM_GUIDS, size_band,
)

HISTORY_DAYS = 120


# ---- HubSpot -----------------------------------------------------------------------------

@dataclass(slots=True)
class HubSpotCompany:
    id: str
    properties: dict[str, str]
    created_at: datetime
    industry_label: str = ""       # what people call the industry; properties hold the picklist code


@dataclass(slots=True)
class HubSpotContact:
    id: str
    properties: dict[str, str]
    created_at: datetime
    company_id: str | None = None


@dataclass(frozen=True, slots=True)
class HubSpotEvent:
    """An events v3 occurrence on a contact (page view, form submission, webinar, meeting)."""

    id: str
    event_type: str
    contact_id: str
    occurred_at: datetime
    properties: dict[str, str]


@dataclass(frozen=True, slots=True)
class EmailEvent:
    """A marketing email event (/email/public/v1/events)."""

    id: str
    type: str                      # SENT | DELIVERED | OPEN | CLICK | STATUSCHANGE
    recipient: str
    created: datetime
    email_campaign_id: int
    extra: dict[str, Any] = field(default_factory=dict)  # url, portalSubscriptionStatus, …


@dataclass(slots=True)
class HubSpotSeed:
    companies: list[HubSpotCompany]
    contacts: list[HubSpotContact]
    events: list[HubSpotEvent]
    email_events: list[EmailEvent]
    merges: list[tuple[str, str]] = field(default_factory=list)   # (merged-away id, survivor id)
    forms: list[dict[str, Any]] = field(default_factory=list)      # marketing forms v3: id, name, createdAt


# ---- Salesforce --------------------------------------------------------------------------

@dataclass(slots=True)
class SalesforceSeed:
    users: list[dict[str, Any]]        # User: Id, Username, FirstName, LastName, Email, Title, IsActive, UserRoleName
    accounts: list[dict[str, Any]]     # Account: Id, Name, Website, Type, OwnerId, Industry, NumberOfEmployees, …
    leads: list[dict[str, Any]]        # Lead: Id, FirstName, LastName, Email, Company, Title, Status, OwnerId, …
    assignment_rule: dict[str, Any]    # Id, Name, SobjectType "Lead", Active, RoundRobinUserIds
    integration_user_id: str
    manager_id: str
    rep_ids: list[str]
    contacts: list[dict[str, Any]] = field(default_factory=list)        # Contact: Id, AccountId, Email, …
    opportunities: list[dict[str, Any]] = field(default_factory=list)   # Opportunity: Id, AccountId, StageName, …


@dataclass(slots=True)
class Seed:
    hubspot: HubSpotSeed
    salesforce: SalesforceSeed
    now: datetime


def build_seed(seed: int = 7, people: int = 300, now: datetime | None = None) -> Seed:
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    rng = random.Random(seed)
    hubspot = _HubSpotBuilder(rng, now).build(people)
    salesforce = _build_salesforce(rng, now, hubspot)
    return Seed(hubspot=hubspot, salesforce=salesforce, now=now)


def iso(moment: datetime) -> str:
    """HubSpot's datetime rendering: UTC, milliseconds, Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


# ---- HubSpot generation ------------------------------------------------------------------

# Who the person is to us decides what they do. Weights sum to 100.
INTENTS = (("cold", 34), ("curious", 24), ("evaluating", 14), ("buying", 25), ("job_seeker", 3))


class _HubSpotBuilder:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.events: list[HubSpotEvent] = []
        self.email_events: list[EmailEvent] = []

    def build(self, people: int) -> HubSpotSeed:
        companies = self._companies()
        contacts = [self._contact(index, companies) for index in range(people)]
        return HubSpotSeed(companies, contacts, self.events, self.email_events)

    # -- companies --

    def _companies(self) -> list[HubSpotCompany]:
        companies = []
        sizes = list(SIZES)
        self.rng.shuffle(sizes)
        for index, name in enumerate(COMPANY_NAMES):
            domain = name.lower().replace(" ", "").replace("&", "and") + ".com"
            employees = sizes[index % len(sizes)]
            industry = self.rng.choice(INDUSTRIES)
            props = {
                "name": name,
                "domain": domain,
                "numberofemployees": "" if employees is None else str(employees),
                "annualrevenue": "" if employees is None else str(employees * self.rng.randint(90, 260) * 1000),
                "industry": INDUSTRY_CODES[industry],
                "country": self.rng.choice(COUNTRIES),
                "lifecyclestage": "lead",
            }
            created = self.now - timedelta(days=self.rng.randint(200, 900))
            companies.append(HubSpotCompany(str(5001 + index), props, created, industry))
        rival = COMPETITOR
        companies.append(HubSpotCompany(
            str(5001 + len(companies)),
            {"name": rival["name"], "domain": rival["domain"], "numberofemployees": "600",
             "annualrevenue": "90000000", "industry": "COMPUTER_SOFTWARE", "country": "United States",
             "lifecyclestage": "other"},
            self.now - timedelta(days=400), "Software"))
        return companies

    # -- contacts --

    def _contact(self, index: int, companies: list[HubSpotCompany]) -> HubSpotContact:
        rng = self.rng
        contact_id = str(101 + index)
        company = self._pick_company(companies)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        intent = _weighted(rng, INTENTS)
        title = self._title(intent)
        email = self._email(first, last, index, company)
        created = self.now - timedelta(days=rng.randint(5, 420), minutes=rng.randint(0, 1440))
        props = {
            "email": email,
            "firstname": first if rng.random() > 0.02 else "",
            "lastname": last if rng.random() > 0.03 else "",
            "company": company.properties["name"] if rng.random() > 0.04 else "",
            "jobtitle": title,
            "phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}" if rng.random() < 0.7 else "",
            "country": company.properties["country"] if rng.random() < 0.85 else "",
            # Size and industry usually live on the company; some forms ask for them.
            "numberofemployees": company.properties["numberofemployees"] if rng.random() < 0.35 else "",
            "numemployees": "",        # HubSpot's own range picklist, filled in below
            "industry": company.industry_label if rng.random() < 0.3 else "",
            "annualrevenue": "",
            "wants_sales_contact": "",
            "lifecyclestage": "subscriber",
            "hs_lead_status": "",
            "createdate": iso(created),
        }
        props["numemployees"] = size_band(props["numberofemployees"])
        contact = HubSpotContact(contact_id, props, created, company.id)
        last_change = self._activities(contact, intent)
        if any(e.event_type == "e_submitted_form" for e in self.events if e.contact_id == contact_id):
            props["lifecyclestage"] = "lead"
        props["lastmodifieddate"] = iso(max(created, last_change))
        return contact

    def _pick_company(self, companies: list[HubSpotCompany]) -> HubSpotCompany:
        # A handful of people from the competitor snoop around; everyone else is a prospect.
        if self.rng.random() < 0.02:
            return companies[-1]
        return self.rng.choice(companies[:-1])

    def _title(self, intent: str) -> str:
        if intent == "job_seeker" or self.rng.random() < 0.03:
            return self.rng.choice(["Student", "Intern", "Graduate Student", "Software Engineering Intern"])
        return _weighted(self.rng, TITLES)

    def _email(self, first: str, last: str, index: int, company: HubSpotCompany) -> str:
        local = f"{first}.{last}".lower().replace("'", "")
        if self.rng.random() < 0.08:
            return f"{local}{index}@{self.rng.choice(FREE_MAIL)}"
        return f"{local}{index}@{company.properties['domain']}"

    # -- activities --

    def _activities(self, contact: HubSpotContact, intent: str) -> datetime:
        """Generate what this person did; return when their record last changed."""
        plan = _PLANS[intent]
        last_change = contact.created_at
        for _ in range(self.rng.randint(*plan["blog"])):
            self._page_view(contact, self._when(plan["recent"]), "blog")
        for _ in range(self.rng.randint(*plan["product"])):
            self._page_view(contact, self._when(plan["recent"]), "product")
        for _ in range(self.rng.randint(*plan["pricing"])):
            self._page_view(contact, self._when(plan["recent"]), "pricing")
        for _ in range(self.rng.randint(*plan["careers"])):
            self._page_view(contact, self._when(HISTORY_DAYS), "careers")
        for form_id in plan["forms"](self.rng):
            moment = self._when(plan["recent"] if form_id in _LATE_FORMS else HISTORY_DAYS)
            self._form(contact, moment, form_id)
            last_change = max(last_change, moment)
        for _ in range(self.rng.randint(*plan["webinars"])):
            self._event(contact, "pe_webinar_attended", self._when(HISTORY_DAYS),
                        {"webinar_name": self.rng.choice(WEBINARS)})
        if intent == "buying" and self.rng.random() < 0.2:
            self._event(contact, "e_booked_meeting", self._when(7),
                        {"hs_meeting_title": "Intro call", "hs_meeting_source": "MEETINGS_PUBLIC"})
        self._emails(contact, intent)
        return last_change

    def _when(self, within_days: int) -> datetime:
        seconds = self.rng.randint(600, max(601, within_days * 86400))
        return (self.now - timedelta(seconds=seconds)).replace(microsecond=0)

    def _page_view(self, contact: HubSpotContact, moment: datetime, kind: str) -> None:
        path, title = {
            "blog": lambda: self.rng.choice(BLOG_POSTS),
            "product": lambda: ("/product", "Product overview"),
            "pricing": lambda: ("/pricing", "Pricing"),
            "careers": lambda: ("/careers", "Careers"),
            "case": lambda: self.rng.choice(CASE_STUDIES),
        }[kind]()
        self._event(contact, "e_visited_page", moment, {"hs_url": VENDOR_SITE + path, "hs_title": title})

    def _form(self, contact: HubSpotContact, moment: datetime, form_id: str) -> None:
        title, page = FORMS[form_id]
        self._event(contact, "e_submitted_form", moment, {
            "hs_form_id": FORM_GUIDS[form_id], "hs_form_title": title,
            "hs_url": VENDOR_SITE + page, "hs_title": title,
        })
        # The demo and contact forms ask "Would you like to be contacted by sales?".
        if form_id in ("demo-request", "contact-us") and self.rng.random() < 0.6:
            contact.properties["wants_sales_contact"] = "true"

    def _event(self, contact: HubSpotContact, event_type: str, moment: datetime, props: dict) -> None:
        self.events.append(HubSpotEvent(self._uuid(), event_type, contact.id, moment, props))

    def _emails(self, contact: HubSpotContact, intent: str) -> None:
        opens, clicks = _PLANS[intent]["email_open"], _PLANS[intent]["email_click"]
        email = contact.properties["email"]
        campaigns = self.rng.sample(EMAIL_CAMPAIGNS, k=self.rng.randint(1, 4))
        for campaign_id, url in campaigns:
            sent = self._when(HISTORY_DAYS)
            self._email_event("SENT", email, sent, campaign_id)
            self._email_event("DELIVERED", email, sent + timedelta(seconds=20), campaign_id)
            if self.rng.random() < opens:
                opened = sent + timedelta(hours=self.rng.randint(1, 48))
                self._email_event("OPEN", email, opened, campaign_id)
                if self.rng.random() < clicks:
                    self._email_event("CLICK", email, opened + timedelta(minutes=2), campaign_id,
                                      url=VENDOR_SITE + url)
        if self.rng.random() < _PLANS[intent]["unsubscribe"]:
            self._email_event("STATUSCHANGE", email, self._when(60), campaigns[0][0],
                              portalSubscriptionStatus="UNSUBSCRIBED", source="SOURCE_RECIPIENT",
                              subscriptions=[{"id": 1, "status": "UNSUBSCRIBED"}])

    def _email_event(self, kind: str, email: str, moment: datetime, campaign_id: int, **extra: Any) -> None:
        moment = min(moment, self.now - timedelta(seconds=1))
        self.email_events.append(EmailEvent(self._uuid(), kind, email, moment, campaign_id, extra))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _forms_none(rng: random.Random) -> list[str]:
    return ["newsletter-signup"] if rng.random() < 0.5 else []


def _forms_curious(rng: random.Random) -> list[str]:
    picks = ["newsletter-signup"] if rng.random() < 0.4 else []
    return picks + rng.sample(["whitepaper-download", "webinar-registration", "datasheet-download"],
                              k=rng.randint(0, 2))


def _forms_evaluating(rng: random.Random) -> list[str]:
    return rng.sample(["whitepaper-download", "datasheet-download", "webinar-registration",
                       "whitepaper-download"], k=rng.randint(1, 3))


def _forms_buying(rng: random.Random) -> list[str]:
    late = rng.choice(["demo-request", "demo-request", "free-trial", "contact-us"])
    return [late] + rng.sample(["whitepaper-download", "datasheet-download", "webinar-registration"],
                               k=rng.randint(0, 2))


_LATE_FORMS = frozenset({"demo-request", "free-trial", "contact-us"})

_PLANS: dict[str, dict[str, Any]] = {
    "cold": dict(blog=(0, 2), product=(0, 1), pricing=(0, 0), careers=(0, 0), webinars=(0, 0),
                 recent=HISTORY_DAYS, forms=_forms_none, email_open=0.25, email_click=0.1, unsubscribe=0.08),
    "curious": dict(blog=(1, 4), product=(0, 2), pricing=(0, 1), careers=(0, 0), webinars=(0, 1),
                    recent=60, forms=_forms_curious, email_open=0.5, email_click=0.25, unsubscribe=0.03),
    "evaluating": dict(blog=(1, 5), product=(1, 4), pricing=(0, 2), careers=(0, 0), webinars=(0, 2),
                       recent=30, forms=_forms_evaluating, email_open=0.7, email_click=0.4, unsubscribe=0.0),
    "buying": dict(blog=(0, 3), product=(1, 4), pricing=(1, 3), careers=(0, 0), webinars=(0, 1),
                   recent=10, forms=_forms_buying, email_open=0.8, email_click=0.5, unsubscribe=0.0),
    "job_seeker": dict(blog=(0, 2), product=(0, 1), pricing=(0, 0), careers=(1, 3), webinars=(0, 0),
                       recent=HISTORY_DAYS, forms=_forms_none, email_open=0.2, email_click=0.0, unsubscribe=0.0),
}


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    values, weights = zip(*choices)
    return rng.choices(values, weights=weights, k=1)[0]


# ---- Salesforce generation ---------------------------------------------------------------

def _build_salesforce(rng: random.Random, now: datetime, hubspot: HubSpotSeed) -> SalesforceSeed:
    users = [sales_user(index, spec, now) for index, spec in enumerate(SALES_USERS)]
    manager = next(u for u in users if u["UserRoleName"] == "Sales Manager")
    reps = [u for u in users if u["UserRoleName"] == "Sales Rep"]
    integration = next(u for u in users if u["UserRoleName"] == "Integration")
    accounts = _accounts(rng, now, hubspot, reps)
    leads = _leads(rng, now, hubspot, reps)
    rule = {"Id": sf_id("01Q", 1), "Name": "Inbound round robin", "SobjectType": "Lead",
            "Active": True, "RoundRobinUserIds": [r["Id"] for r in reps]}
    return SalesforceSeed(users, accounts, leads, rule, integration["Id"], manager["Id"],
                          [r["Id"] for r in reps])


def sales_user(index: int, spec: dict[str, str], now: datetime) -> dict[str, Any]:
    username = f"{spec['first'].lower()}.{spec['last'].lower()}@example-vendor.com"
    return {
        "Id": sf_id("005", index + 1), "Username": username, "Email": username,
        "FirstName": spec["first"], "LastName": spec["last"],
        "Name": f"{spec['first']} {spec['last']}", "Title": spec["title"],
        "UserRoleName": spec["role"], "IsActive": True,
        "CreatedDate": now - timedelta(days=700),
    }


def _accounts(rng: random.Random, now: datetime, hubspot: HubSpotSeed,
              reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prospects = [c for c in hubspot.companies if c.properties["lifecyclestage"] != "other"]
    chosen = rng.sample(prospects, k=min(15, len(prospects)))
    accounts = []
    for index, company in enumerate(chosen):
        props = company.properties
        customer = index % 3 == 0  # every third known account already buys from us (farming)
        website = rng.choice(["https://www.{d}", "http://{d}", "www.{d}", "{d}"]).format(d=props["domain"])
        accounts.append({
            "Id": sf_id("001", index + 1), "Name": props["name"], "Website": website,
            "Type": "Customer" if customer else rng.choice(["Prospect", "Prospect", "Partner"]),
            "OwnerId": reps[index % len(reps)]["Id"], "Industry": company.industry_label,
            "NumberOfEmployees": int(props["numberofemployees"]) if props["numberofemployees"] else None,
            "BillingCountry": props["country"],
            "CreatedDate": now - timedelta(days=rng.randint(100, 900)),
        })
    return accounts


def _leads(rng: random.Random, now: datetime, hubspot: HubSpotSeed,
           reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Sales met some of marketing's people at events and typed them in by hand: same email,
    # no HubSpot id. Prefer engaged people, so the connector meets them at handoff.
    engaged = {e.contact_id for e in hubspot.events if e.properties.get("hs_form_id") in {FORM_GUIDS[f] for f in _LATE_FORMS}}
    known = [c for c in hubspot.contacts if c.id in engaged] or hubspot.contacts
    twins = rng.sample(known, k=min(5, len(known)))
    leads = [_lead_from(contact, index, rng, now, reps) for index, contact in enumerate(twins)]
    for index in range(3):  # plus a few people HubSpot has never heard of (referrals)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = rng.choice(COMPANY_NAMES)
        leads.append(_lead(len(leads), rng, now, reps, FirstName=first, LastName=last,
                           Email=f"{first}.{last}@{company.lower().replace(' ', '')}.com".lower(),
                           Company=company, Title=_weighted(rng, TITLES), LeadSource="Partner Referral"))
    return leads


def _lead_from(contact: HubSpotContact, index: int, rng: random.Random, now: datetime,
               reps: list[dict[str, Any]]) -> dict[str, Any]:
    p = contact.properties
    return _lead(index, rng, now, reps, FirstName=p["firstname"] or None, LastName=p["lastname"] or "Unknown",
                 Email=p["email"], Company=p["company"] or "[not provided]", Title=p["jobtitle"] or None,
                 LeadSource="Trade Show")


def _lead(index: int, rng: random.Random, now: datetime, reps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    created = now - timedelta(days=rng.randint(20, 200))
    return {
        "Id": sf_id("00Q", index + 1), "Status": rng.choice(["Open - Not Contacted", "Working - Contacted"]),
        "OwnerId": reps[index % len(reps)]["Id"], "HubSpot_Contact_Id__c": None,
        "IsConverted": False, "CreatedDate": created, "LastModifiedDate": created,
        "SystemModstamp": created, **fields,
    }


_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sf_id(prefix: str, number: int) -> str:
    """A well-formed 18-character Salesforce id (key prefix, pod, counter, case checksum)."""
    counter = ""
    for _ in range(9):
        number, digit = divmod(number, 62)
        counter = _BASE62[digit] + counter
    base = f"{prefix}5g0{counter}"[:15]
    suffix = ""
    for chunk in (base[0:5], base[5:10], base[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if char.isupper())
        suffix += _ID_ALPHABET[bits]
    return base + suffix
