"""``leadsync explain EMAIL``: the stored lead's current result, for a rep or a script."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from rich.console import Console

from connector.core.explain import explanation_dict, render_explanation
from connector.core.lead import activities_that_count, merge_fields
from connector.core.qualify import evaluate


def explain_email(rt: Any, email: str, *, as_json: bool) -> int:
    matches = rt.store.find_people(email=email)
    if not matches:
        message = f"no lead with email {email} has been synced yet (run `leadsync sync` first)"
        print(json.dumps({"error": message}) if as_json else f"leadsync: {message}")
        return 1
    person = matches[0]
    now = rt.clock()
    window = timedelta(days=rt.definition.engagement.window_days)
    activities = rt.store.activities([person["hubspot_id"]], since=now - window)[person["hubspot_id"]]
    lead = merge_fields(person.get("fields") or {}, person.get("crm_fields") or {}, rt.write_maps().crm_fields)
    # Evaluated from the stage the lead holds, as the next sync would.
    result = evaluate(lead, activities_that_count(person, activities), rt.definition, now, person["stage"])
    if as_json:
        doc = explanation_dict(result, lead)
        doc["stored_stage"] = person["stage"]
        doc["hubspot_id"] = person["hubspot_id"]
        doc["crm_id"] = person.get("crm_id")
        print(json.dumps(doc, default=str))
    else:
        console = Console()
        console.print(render_explanation(result, lead))
        if person.get("crm_id"):
            console.print(f"In the CRM as {person.get('crm_object') or 'Lead'} {person['crm_id']}"
                          + (f", handed off {person['handoff_at']:%Y-%m-%d %H:%M} UTC" if person.get("handoff_at") else ""))
    return 0

