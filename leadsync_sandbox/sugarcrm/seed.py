"""Sample data for the sandbox's Sugar instance, drawn from the same marketing database as
the Salesforce org: years of someone else's use.

Sales users; accounts for some of marketing's companies (every third a customer, with a
Contact or two); Leads sales typed in at trade shows (same email as a HubSpot contact, no
HubSpot id), two Leads an earlier integration linked by ``hubspot_contact_id_c``, referrals
HubSpot never heard of; old calls and meetings on those leads; closed opportunities.
Deterministic for the same arguments; every timestamp relative to ``now``.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadsync_sandbox.seed import HubSpotSeed
from leadsync_sandbox.seed_catalog import COMPANY_NAMES, FIRST_NAMES, FORM_GUIDS, LAST_NAMES, SALES_USERS

LATE_FORMS = frozenset({"demo-request", "free-trial", "contact-us"})
INDUSTRIES = ("Technology", "Finance", "Healthcare", "Manufacturing", "Retail", "Consulting")


@dataclass(slots=True)
class SugarSeed:
    users: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    opportunities: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    meetings: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    integration_user_id: str = ""
    rep_ids: list[str] = field(default_factory=list)


def build_sugar_seed(seed: int, now: datetime, hubspot: HubSpotSeed) -> SugarSeed:
    rng = random.Random(f"sugar-{seed}")
    ids = _Ids(rng)
    users = [_user(spec, ids, now) for spec in SALES_USERS]
    reps = [u for u, spec in zip(users, SALES_USERS) if spec["role"] == "Sales Rep"]
    integration = next(u for u, spec in zip(users, SALES_USERS) if spec["role"] == "Integration")
    data = SugarSeed(users, [], [], [], [], [], integration_user_id=integration["id"], rep_ids=[r["id"] for r in reps])
    _accounts(data, rng, ids, now, hubspot, reps)
    _leads(data, rng, ids, now, hubspot, reps)
    return data


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def next(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _user(spec: dict[str, str], ids: _Ids, now: datetime) -> dict[str, Any]:
    name = f"{spec['first'].lower()}.{spec['last'].lower()}"
    return {"id": ids.next(), "user_name": name, "first_name": spec["first"], "last_name": spec["last"],
            "title": spec["title"], "email1": f"{name}@example-vendor.com", "status": "Active",
            "is_admin": spec["role"] == "Integration", "date_entered": now - timedelta(days=700)}


def _stamped(now: datetime, rng: random.Random, low: int, high: int) -> dict[str, datetime]:
    created = now - timedelta(days=rng.randint(low, high), minutes=rng.randint(0, 1440))
    return {"date_entered": created, "date_modified": created + timedelta(days=rng.randint(0, low // 2 or 1))}


def _accounts(data: SugarSeed, rng: random.Random, ids: _Ids, now: datetime, hubspot: HubSpotSeed,
              reps: list[dict[str, Any]]) -> None:
    prospects = [c for c in hubspot.companies if c.properties.get("lifecyclestage") != "other"]
    for index, company in enumerate(rng.sample(prospects, k=min(15, len(prospects)))):
        props = company.properties
        customer = index % 3 == 0     # every third known account already buys (farming)
        owner = reps[index % len(reps)]["id"]
        website = rng.choice(["https://www.{d}", "http://{d}", "www.{d}", "{d}"]).format(d=props["domain"])
        account = {"id": ids.next(), "name": props["name"], "website": website, "assigned_user_id": owner,
                   "account_type": "Customer" if customer else rng.choice(["Prospect", "Prospect", "Partner", ""]),
                   "industry": rng.choice(INDUSTRIES), "employees": props.get("numberofemployees") or "",
                   "billing_address_country": props.get("country") or "", **_stamped(now, rng, 100, 900)}
        data.accounts.append(account)
        if customer:
            _customer_history(data, rng, ids, now, account)


def _customer_history(data: SugarSeed, rng: random.Random, ids: _Ids, now: datetime, account: dict[str, Any]) -> None:
    domain = account["website"].split("://")[-1].removeprefix("www.")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    contact = {"id": ids.next(), "first_name": first, "last_name": last, "title": "Procurement Manager",
               "email1": f"{first}.{last}@{domain}".lower(), "account_id": account["id"],
               "assigned_user_id": account["assigned_user_id"], "lead_source": "Existing Customer",
               **_stamped(now, rng, 200, 800)}
    data.contacts.append(contact)
    data.opportunities.append({
        "id": ids.next(), "name": f"{account['name']} - initial licence", "account_id": account["id"],
        "sales_stage": "Closed Won", "amount": rng.choice([12000, 24000, 48000]), "probability": 100,
        "date_closed": (now - timedelta(days=rng.randint(150, 600))).date().isoformat(),
        "assigned_user_id": account["assigned_user_id"], **_stamped(now, rng, 150, 700)})


def _leads(data: SugarSeed, rng: random.Random, ids: _Ids, now: datetime, hubspot: HubSpotSeed,
           reps: list[dict[str, Any]]) -> None:
    # Events name their form by GUID, as HubSpot's do.
    late = {FORM_GUIDS[slug] for slug in LATE_FORMS}
    engaged = {e.contact_id for e in hubspot.events if e.properties.get("hs_form_id") in late}
    known = [c for c in hubspot.contacts if c.id in engaged] or hubspot.contacts
    chosen = rng.sample(known, k=min(7, len(known)))
    for index, contact in enumerate(chosen):
        p = contact.properties
        linked = index >= 5          # an earlier integration stamped these two with the HubSpot id
        lead = _lead(ids, rng, now, reps, index, first_name=p.get("firstname") or None,
                     last_name=p.get("lastname") or "Unknown", email1=p["email"],
                     account_name=p.get("company") or "", title=p.get("jobtitle") or None,
                     lead_source="Trade Show" if not linked else "Web Site",
                     hubspot_contact_id_c=contact.id if linked else None)
        data.leads.append(lead)
    for _ in range(3):               # referrals HubSpot has never heard of
        first, last, company = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(COMPANY_NAMES)
        data.leads.append(_lead(ids, rng, now, reps, len(data.leads), first_name=first, last_name=last,
                                email1=f"{first}.{last}@{company.lower().replace(' ', '')}.com".lower(),
                                account_name=company, lead_source="Partner"))
    for lead in data.leads[:6]:
        for _ in range(rng.randint(1, 3)):
            at = lead["date_entered"] + timedelta(days=rng.randint(0, 15), hours=rng.randint(9, 17))
            data.calls.append({"id": ids.next(), "name": "Intro call", "status": rng.choice(["Held", "Held", "Not Held"]),
                               "direction": "Outbound", "date_start": at, "duration_hours": 0, "duration_minutes": 15,
                               "parent_type": "Leads", "parent_id": lead["id"],
                               "assigned_user_id": lead["assigned_user_id"], "date_entered": at, "date_modified": at})


def _lead(ids: _Ids, rng: random.Random, now: datetime, reps: list[dict[str, Any]], index: int,
          **values: Any) -> dict[str, Any]:
    return {"id": ids.next(), "status": rng.choice(["New", "Assigned", "In Process"]),
            "assigned_user_id": reps[index % len(reps)]["id"], "converted": False,
            **_stamped(now, rng, 20, 200), **values}
