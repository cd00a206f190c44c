"""The lead the definition judges, built one way everywhere (sync, explain, simulate).

HubSpot's fields, with the CRM's where its sync rule says the CRM wins or fills a blank; and
the activities that count towards it (after a recycle, only what came later).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from connector.core.predicate import is_missing


def merge_fields(hubspot: Mapping[str, Any], crm: Mapping[str, Any], rules: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The canonical lead: HubSpot's fields, with the CRM's where its sync rule says it wins."""
    merged = dict(hubspot)
    for name, (_, rule) in rules.items():
        crm_value = crm.get(name)
        if rule == "always_salesforce" or (rule == "salesforce_unless_blank" and not is_missing(crm_value)):
            merged[name] = crm_value
        elif rule in ("hubspot_unless_blank", "two_way") and is_missing(merged.get(name)) and not is_missing(crm_value):
            # two_way is, for now, HubSpot-unless-blank: the CRM's value fills a blank for
            # qualifying, and HubSpot's value is written to the CRM; leadsync writes only its own
            # properties to HubSpot, so the CRM's value is not copied back there. A true "latest
            # change wins" needs each field's change time from both systems, which is not read yet.
            merged[name] = crm_value
    return merged


def activities_that_count(person: Mapping[str, Any], activities: Sequence[Any]) -> list[Any]:
    """After sales recycles a lead, only new engagement can earn it a new handoff: what it did
    before the rejection was already judged not enough by sales."""
    since = person.get("recycled_at")
    return [a for a in activities if a.occurred_at > since] if since else list(activities)
