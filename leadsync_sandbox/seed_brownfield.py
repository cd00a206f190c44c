"""The brownfield portal and org: two years of another team's use, before leadsync arrives.

``build_brownfield(seed, people, now)`` returns a ``Seed`` plus the ``Manifest`` of ground
truth, the same for the same arguments. What it holds, and what a first sync must respect:
- HubSpot contacts in every lifecycle stage, ``hs_lead_status`` set by sales on many of them,
  standard properties only (``numemployees`` as HubSpot's range picklist), create and modify
  dates over two years, form submissions naming their form by GUID only (the names are on
  the forms, served by marketing forms v3), page views and email events.
- Salesforce Leads already linked by ``HubSpot_Contact_Id__c`` in every status (converted
  ones with ``IsConverted`` and their Contact, Account and Opportunity), Contacts on customer
  Accounts, open, won and lost Opportunities, Leads sales typed in with the same email and no
  external id, and Leads HubSpot has never heard of. Seed records spell the external id field
  in several cases, as data loaders do (Salesforce field names are case-insensitive).

Built to be fast and lean: 20,000 people in a few seconds; events share their property dicts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from leadsync_sandbox.brownfield_manifest import Manifest
from leadsync_sandbox.hubspot_schema import COMPANY_INDUSTRIES
from leadsync_sandbox.seed import (
    EmailEvent, HubSpotCompany, HubSpotContact, HubSpotEvent, HubSpotSeed, SalesforceSeed, Seed,
    iso, sales_user, sf_id,
)
from leadsync_sandbox.seed_brownfield_catalog import (
    COMPANY_SIZES, COMPANY_SUFFIXES, COMPANY_WORDS, FORMS, FORMS_BY_KIND, LIFECYCLE_MIX, OPEN_STAGES,
    PAGES, SALES_LEAD_STATUS, employee_range,
)
from leadsync_sandbox.seed_catalog import (
    COUNTRIES, EMAIL_CAMPAIGNS, FIRST_NAMES, FREE_MAIL, LAST_NAMES, SALES_USERS, TITLES, VENDOR_SITE,
)

HISTORY_DAYS = 730
QUALIFY_DAYS = 30            # mean days from a contact's creation to the portal calling it an MQL
# Every stage from marketingqualifiedlead on was reached through a buying moment.
QUALIFIED_STAGES = frozenset({"marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                              "evangelist"})
FIRST_CONTACT_ID = 51
EXTERNAL_ID_SPELLINGS = ("HubSpot_Contact_Id__c", "hubspot_contact_id__c", "HUBSPOT_CONTACT_ID__C",
                         "Hubspot_Contact_ID__c")
SF_INDUSTRY = {"COMPUTER_SOFTWARE": "Technology", "FINANCIAL_SERVICES": "Finance", "BANKING": "Banking",
               "HOSPITAL_HEALTH_CARE": "Healthcare", "MEDICAL_DEVICES": "Healthcare",
               "MACHINERY": "Manufacturing", "INDUSTRIAL_AUTOMATION": "Manufacturing", "RETAIL": "Retail",
               "EDUCATION_MANAGEMENT": "Education", "GOVERNMENT_ADMINISTRATION": "Government",
               "LOGISTICS_AND_SUPPLY_CHAIN": "Other", "MEDIA_PRODUCTION": "Media",
               "INFORMATION_TECHNOLOGY_AND_SERVICES": "Technology"}


@dataclass(slots=True)
class _Company:
    hubspot: HubSpotCompany
    size: int
    customer: bool
    account: dict[str, Any] | None = None


@dataclass(slots=True)
class _Org:
    """The Salesforce records being built, and the ids handed out so far."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)

    def next_id(self, prefix: str, table: list[dict[str, Any]]) -> str:
        return sf_id(prefix, len(table) + 1)


def build_brownfield(seed: int = 7, people: int = 20_000, now: datetime | None = None) -> tuple[Seed, Manifest]:
    if not 1 <= people <= 1_000_000:
        raise ValueError(f"a brownfield portal holds 1 to 1,000,000 people, got {people}")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    builder = _Builder(random.Random(seed), now, people)
    seed_data = builder.build()
    builder.manifest.seed, builder.manifest.people = seed, people
    return seed_data, builder.manifest


class _Builder:
    def __init__(self, rng: random.Random, now: datetime, people: int) -> None:
        self.rng, self.now, self.people = rng, now, people
        self.events: list[HubSpotEvent] = []
        self.email_events: list[EmailEvent] = []
        self.org = _Org()
        self.merges: list[tuple[str, str]] = []
        self.bulk_edits: list[datetime] = []
        self.manifest = Manifest()
        self._props_cache: dict[tuple[str, str], dict[str, str]] = {}
        users = [sales_user(i, spec, now) for i, spec in enumerate(SALES_USERS)]
        self.users = users
        self.reps = [u["Id"] for u in users if u["UserRoleName"] == "Sales Rep"]

    def build(self) -> Seed:
        companies = self._companies()
        births = sorted(self._moment(HISTORY_DAYS) for _ in range(self.people))
        # Workflows and list imports touch thousands of contacts in the same millisecond.
        self.bulk_edits = sorted(self._moment(HISTORY_DAYS) for _ in range(4))
        contacts, next_id = [], FIRST_CONTACT_ID
        for born in births:
            merged_away = None
            if self.rng.random() < 0.015:   # a duplicate someone merged into this contact
                merged_away, next_id = str(next_id), next_id + 1
                self.merges.append((merged_away, str(next_id)))
            contacts.append(self._contact(str(next_id), born, companies, merged_away))
            next_id += self.rng.choice((1, 1, 1, 2, 3))   # deleted contacts leave gaps
        self._salesforce_only_leads(max(1, self.people // 25))
        self.manifest.customer_accounts = {a["Id"] for a in self.org.accounts if a["Type"] == "Customer"}
        hubspot = HubSpotSeed([c.hubspot for c in companies], contacts, self.events, self.email_events,
                              self.merges, self._form_definitions())
        users = self.users
        manager = next(u for u in users if u["UserRoleName"] == "Sales Manager")["Id"]
        integration = next(u for u in users if u["UserRoleName"] == "Integration")["Id"]
        rule = {"Id": sf_id("01Q", 1), "Name": "Inbound round robin", "SobjectType": "Lead",
                "Active": True, "RoundRobinUserIds": list(self.reps)}
        salesforce = SalesforceSeed(users, self.org.accounts, self.org.leads, rule, integration, manager,
                                    list(self.reps), self.org.contacts, self.org.opportunities)
        return Seed(hubspot=hubspot, salesforce=salesforce, now=self.now)

    # -- HubSpot ---------------------------------------------------------------------------

    def _companies(self) -> list[_Company]:
        rng, out = self.rng, []
        for index in range(max(40, self.people // 10)):
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
            if index >= len(COMPANY_WORDS) * len(COMPANY_SUFFIXES) // 2:
                name += f" {index}"
            domain = name.lower().replace(" ", "") + ".com"
            size = rng.choice(COMPANY_SIZES)
            industry = rng.choice(COMPANY_INDUSTRIES)
            props = {"name": name, "domain": domain, "numberofemployees": str(size),
                     "annualrevenue": str(size * rng.randint(80, 300) * 1000), "industry": industry,
                     "country": rng.choice(COUNTRIES), "lifecyclestage": "lead"}
            company = HubSpotCompany(str(9001 + index), props, self._moment(HISTORY_DAYS + 300))
            out.append(_Company(company, size, customer=rng.random() < 0.12))
        return out

    def _contact(self, contact_id: str, born: datetime, companies: list[_Company],
                 merged_away: str | None) -> HubSpotContact:
        rng = self.rng
        stage = _weighted(rng, LIFECYCLE_MIX)
        company = self._company_for(stage, companies)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice(FREE_MAIL) if rng.random() < 0.07 else company.hubspot.properties["domain"]
        email = f"{first}.{last}{contact_id}@{domain}".lower().replace("'", "")
        modified = born + (self.now - born) * (rng.random() ** 0.5)   # most edits are recent
        if rng.random() < 0.12:
            modified = max([born] + [moment for moment in self.bulk_edits if moment >= born][:1])
        props = {
            "email": email, "firstname": first, "lastname": last,
            "company": company.hubspot.properties["name"] if rng.random() > 0.05 else "",
            "jobtitle": _weighted(rng, TITLES), "phone": _phone(rng) if rng.random() < 0.6 else "",
            "country": company.hubspot.properties["country"] if rng.random() < 0.8 else "",
            "industry": company.hubspot.properties["industry"].replace("_", " ").title() if rng.random() < 0.4 else "",
            "numemployees": employee_range(company.size) if rng.random() < 0.45 else "",
            "annualrevenue": company.hubspot.properties["annualrevenue"] if rng.random() < 0.2 else "",
            "lifecyclestage": stage, "hs_lead_status": self._sales_status(stage),
            "createdate": iso(born), "lastmodifieddate": iso(modified),
        }
        if merged_away:
            props["hs_merged_object_ids"] = merged_away
            self.manifest.merged_ids[contact_id] = [merged_away]
        contact = HubSpotContact(contact_id, props, born, company.hubspot.id)
        views = self._activities(contact, stage, born)
        if stage in QUALIFIED_STAGES:
            qualified = self._qualified_at(born)
            props["hs_lifecyclestage_marketingqualifiedlead_date"] = iso(qualified)
            props["lastmodifieddate"] = iso(max(modified, qualified))
            views += self._buying_moment(contact, qualified)
            self.manifest.qualified_at[contact_id] = iso(qualified)
        if views:
            props["hs_analytics_num_page_views"] = str(views)
        self.manifest.note_contact(contact_id, email, stage, props["hs_lead_status"])
        self._salesforce_for(contact, stage, company)
        return contact

    def _company_for(self, stage: str, companies: list[_Company]) -> _Company:
        customers = stage in ("customer", "evangelist")
        for _ in range(20):
            company = self.rng.choice(companies)
            if company.customer == customers or (not customers and self.rng.random() < 0.3):
                return company
        company.customer = company.customer or customers
        return company

    def _sales_status(self, stage: str) -> str:
        chance, statuses = SALES_LEAD_STATUS[stage]
        return self.rng.choice(statuses) if self.rng.random() < chance else ""

    def _activities(self, contact: HubSpotContact, stage: str, born: datetime) -> int:
        rng = self.rng
        engaged = stage not in ("subscriber", "other")
        views = rng.randint(0, 7 if engaged else 2)
        for _ in range(views):
            path, title = rng.choice(PAGES)
            self._event(contact.id, "e_visited_page", self._since(born), self._props(path, title))
        for guid in self._forms(stage):
            name, page, _ = FORMS[guid]
            self._event(contact.id, "e_submitted_form", self._since(born), self._form_props(guid, name, page))
        for campaign_id, url in rng.sample(EMAIL_CAMPAIGNS, k=rng.randint(0, 3)):
            sent = self._since(born)
            self._email("DELIVERED", contact.properties["email"], sent, campaign_id)
            if rng.random() < (0.55 if engaged else 0.2):
                self._email("OPEN", contact.properties["email"], sent + timedelta(hours=rng.randint(1, 40)), campaign_id)
                if rng.random() < 0.3:
                    self._email("CLICK", contact.properties["email"], sent + timedelta(hours=41), campaign_id,
                                url=VENDOR_SITE + url)
        return views

    def _forms(self, stage: str) -> list[str]:
        rng = self.rng
        picks = [rng.choice(FORMS_BY_KIND["subscribe"])] if rng.random() < 0.4 else []
        if stage != "subscriber":
            picks += rng.sample(FORMS_BY_KIND["content"], k=rng.randint(0, 2))
        return picks

    def _qualified_at(self, born: datetime) -> datetime:
        """When the portal made this contact an MQL: most do it in their first weeks."""
        delay = timedelta(days=min(self.rng.expovariate(1 / QUALIFY_DAYS), HISTORY_DAYS))
        return min(born + delay, self.now - timedelta(hours=1)).replace(microsecond=0)

    def _buying_moment(self, contact: HubSpotContact, moment: datetime) -> int:
        """What made the portal's team call a contact qualified: a late-stage form (a demo, a
        trial, contact sales) after a few days of product and pricing visits, or, without a
        form, repeated pricing visits. Returns the page views it adds."""
        rng = self.rng
        form = rng.random() < 0.75
        pages = [("/pricing", "Pricing")] * rng.randint(1 if form else 2, 3) + \
            [("/product", "Product overview")] * rng.randint(0, 2)
        for path, title in pages:
            seen = moment - timedelta(seconds=rng.randint(60, 5 * 86400))
            self._event(contact.id, "e_visited_page", max(seen, contact.created_at), self._props(path, title))
        if form:
            guid = rng.choice(FORMS_BY_KIND["late"])
            name, page, _ = FORMS[guid]
            self._event(contact.id, "e_submitted_form", moment, self._form_props(guid, name, page))
        return len(pages)

    def _props(self, path: str, title: str) -> dict[str, str]:
        key = (path, title)
        if key not in self._props_cache:   # shared: a million page views need not a million dicts
            self._props_cache[key] = {"hs_url": VENDOR_SITE + path, "hs_title": title}
        return self._props_cache[key]

    def _form_props(self, guid: str, name: str, page: str) -> dict[str, str]:
        # The event names the form by GUID only; its name lives on the form (marketing forms v3).
        key = ("form", guid)
        if key not in self._props_cache:
            self._props_cache[key] = {"hs_form_id": guid, "hs_form_type": "HUBSPOT",
                                      "hs_url": VENDOR_SITE + page, "hs_title": _page_title(page)}
        return self._props_cache[key]

    def _event(self, contact_id: str, kind: str, moment: datetime, props: dict[str, str]) -> None:
        self.events.append(HubSpotEvent(self._uuid(), kind, contact_id, moment, props))

    def _email(self, kind: str, email: str, moment: datetime, campaign_id: int, **extra: Any) -> None:
        moment = min(moment, self.now - timedelta(seconds=1))
        self.email_events.append(EmailEvent(self._uuid(), kind, email, moment, campaign_id, extra))

    def _form_definitions(self) -> list[dict[str, Any]]:
        fields = (("email", "Email"), ("firstname", "First name"), ("lastname", "Last name"), ("company", "Company"))
        return [{"id": guid, "name": name, "createdAt": iso(self.now - timedelta(days=HISTORY_DAYS + 30 - 40 * n)),
                 "fields": fields} for n, (guid, (name, _, _)) in enumerate(FORMS.items())]

    # -- Salesforce --------------------------------------------------------------------------

    def _salesforce_for(self, contact: HubSpotContact, stage: str, company: _Company) -> None:
        rng = self.rng
        if stage in ("customer", "evangelist"):
            account = self._account(company, customer=True)
            sf_contact = self._sf_contact(contact, account, linked=rng.random() < 0.6)
            won = self._opportunity(account, "Closed Won", contact.id)
            if rng.random() < 0.5:
                self._lead(contact, "Closed - Converted", linked=True, account=account, converted=(sf_contact, won))
        elif stage == "opportunity":
            account = self._account(company, customer=company.customer)
            sf_contact = self._sf_contact(contact, account, linked=rng.random() < 0.5)
            opp = self._opportunity(account, rng.choice(OPEN_STAGES), contact.id)
            if rng.random() < 0.7:
                self._lead(contact, "Closed - Converted", linked=True, account=account,
                           converted=(sf_contact, opp))
        elif stage == "salesqualifiedlead":
            if rng.random() < 0.85:
                self._lead(contact, "Working - Contacted", linked=True)
            else:
                account = self._account(company, customer=company.customer)
                sf_contact = self._sf_contact(contact, account, linked=False)
                opp = self._opportunity(account, rng.choice(OPEN_STAGES[:2]), contact.id)
                self._lead(contact, "Closed - Converted", linked=True, account=account, converted=(sf_contact, opp))
        elif stage == "marketingqualifiedlead" and rng.random() < 0.75:
            status = _weighted(rng, (("Open - Not Contacted", 60), ("Working - Contacted", 30),
                                     ("Closed - Not Converted", 10)))
            self._lead(contact, status, linked=True)
        elif stage in ("lead", "other", "subscriber"):
            self._history(contact, stage, company)

    def _history(self, contact: HubSpotContact, stage: str, company: _Company) -> None:
        """Earlier contact with sales: recycled, lost, or typed in by hand without the id."""
        roll = self.rng.random()
        if stage != "subscriber" and roll < 0.06:
            self._lead(contact, "Closed - Not Converted", linked=True)
        elif stage == "lead" and roll < 0.09:
            account = self._account(company, customer=company.customer)
            sf_contact = self._sf_contact(contact, account, linked=False)
            opp = self._opportunity(account, "Closed Lost", contact.id)
            self._lead(contact, "Closed - Converted", linked=True, account=account, converted=(sf_contact, opp))
        elif roll < 0.13:
            status = self.rng.choice(("Open - Not Contacted", "Working - Contacted"))
            self._lead(contact, status, linked=False)

    def _account(self, company: _Company, *, customer: bool) -> dict[str, Any]:
        org = self.org
        if company.account is None:
            props = company.hubspot.properties
            account = {"Id": org.next_id("001", org.accounts), "Name": props["name"],
                       "Website": self.rng.choice(("https://www.{d}", "http://{d}", "{d}")).format(d=props["domain"]),
                       "Type": "Customer" if customer or company.customer else "Prospect",
                       "Industry": SF_INDUSTRY.get(props["industry"], "Other"),
                       "NumberOfEmployees": company.size, "BillingCountry": props["country"],
                       "OwnerId": self.rng.choice(self.reps), "CreatedDate": self._moment(HISTORY_DAYS)}
            org.accounts.append(account)
            company.account = account
            company.customer = company.customer or customer
            return account
        account = company.account
        if customer and account["Type"] != "Customer":
            account["Type"], company.customer = "Customer", True
        return account

    def _sf_contact(self, contact: HubSpotContact, account: dict[str, Any], *, linked: bool) -> dict[str, Any]:
        p, org = contact.properties, self.org
        record = {"Id": org.next_id("003", org.contacts), "AccountId": account["Id"], "Email": p["email"],
                  "FirstName": p["firstname"], "LastName": p["lastname"], "Title": p["jobtitle"] or None,
                  "OwnerId": account["OwnerId"], "CreatedDate": contact.created_at + timedelta(days=3)}
        if linked:
            record[self.rng.choice(EXTERNAL_ID_SPELLINGS)] = self._external_id(contact)
        org.contacts.append(record)
        self.manifest.note_sf_contact(contact.id, record["Id"], account["Id"])
        return record

    def _opportunity(self, account: dict[str, Any], stage: str, contact_id: str) -> dict[str, Any]:
        org = self.org
        close = self.now + timedelta(days=self.rng.randint(10, 120)) if stage in OPEN_STAGES \
            else self.now - timedelta(days=self.rng.randint(10, 600))
        opp = {"Id": org.next_id("006", org.opportunities), "Name": f"{account['Name']} - new business",
               "AccountId": account["Id"], "OwnerId": account["OwnerId"], "StageName": stage,
               "Amount": float(self.rng.randint(5, 120) * 1000), "CloseDate": close.date(),
               "CreatedDate": self._moment(HISTORY_DAYS)}
        org.opportunities.append(opp)
        self.manifest.note_opportunity(contact_id, opp["Id"], stage)
        return opp

    def _lead(self, contact: HubSpotContact, status: str, *, linked: bool, account: dict[str, Any] | None = None,
              converted: tuple[dict[str, Any], dict[str, Any]] | None = None) -> dict[str, Any]:
        p, org = contact.properties, self.org
        created = contact.created_at + timedelta(hours=self.rng.randint(1, 400))
        lead = {"Id": org.next_id("00Q", org.leads), "Email": p["email"], "FirstName": p["firstname"],
                "LastName": p["lastname"], "Company": p["company"] or "[not provided]",
                "Title": p["jobtitle"] or None, "Status": status, "OwnerId": self.rng.choice(self.reps),
                "LeadSource": "Web" if linked else "Trade Show", "IsConverted": status == "Closed - Converted",
                "CreatedDate": created, "LastModifiedDate": created, "SystemModstamp": created}
        if linked:
            lead[self.rng.choice(EXTERNAL_ID_SPELLINGS)] = self._external_id(contact)
        if lead["IsConverted"]:
            sf_contact, opp = converted or (None, None)
            lead.update({"ConvertedAccountId": account["Id"] if account else None,
                         "ConvertedContactId": sf_contact["Id"] if sf_contact else None,
                         "ConvertedOpportunityId": opp["Id"] if opp else None,
                         "ConvertedDate": (created + timedelta(days=9)).date()})
        org.leads.append(lead)
        self.manifest.note_lead(contact.id, lead["Id"], status, linked)
        return lead

    def _salesforce_only_leads(self, count: int) -> None:
        rng, org = self.rng, self.org
        for index in range(count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            created = self._moment(HISTORY_DAYS)
            lead = {"Id": org.next_id("00Q", org.leads), "FirstName": first, "LastName": last,
                    "Email": f"{first}.{last}.ref{index}@{rng.choice(COMPANY_WORDS).lower()}partners.com".replace("'", ""),
                    "Company": f"{rng.choice(COMPANY_WORDS)} Partners", "Status": rng.choice(
                        ("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted")),
                    "OwnerId": rng.choice(self.reps), "LeadSource": "Partner Referral", "IsConverted": False,
                    "CreatedDate": created, "LastModifiedDate": created, "SystemModstamp": created}
            org.leads.append(lead)
            self.manifest.salesforce_only_leads.append(lead["Id"])

    def _external_id(self, contact: HubSpotContact) -> str:
        """The HubSpot id the CRM record carries: after a merge, often the merged-away one."""
        merged = contact.properties.get("hs_merged_object_ids")
        return merged if merged and self.rng.random() < 0.5 else contact.id

    # -- time and ids ------------------------------------------------------------------------

    def _moment(self, within_days: int) -> datetime:
        return self.now - timedelta(seconds=self.rng.randint(3600, within_days * 86400))

    def _since(self, born: datetime) -> datetime:
        span = max(1.0, (self.now - born).total_seconds() - 60)
        return (born + timedelta(seconds=self.rng.random() * span)).replace(microsecond=0)

    def _uuid(self) -> str:
        digits = f"{self.rng.getrandbits(128):032x}"   # a version-4 shape, without uuid.UUID's cost
        return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{'89ab'[int(digits[16], 16) % 4]}{digits[17:20]}-{digits[20:]}"


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    values, weights = zip(*choices)
    return rng.choices(values, weights=weights, k=1)[0]


def _page_title(path: str) -> str:
    return next((title for page, title in PAGES if page == path), path.strip("/").split("/")[-1].replace("-", " ").title())


def _phone(rng: random.Random) -> str:
    return f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}"
