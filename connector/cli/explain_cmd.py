"""``leadsync explain EMAIL``: the stored lead's current result, for a rep or a script.

Rep first: who the person is (name, title, company, owner, CRM status, when the SLA falls due),
then why (the rules that counted, in words), the activity that earned the score, the gates,
what is missing, and what sales said. The headline tells the lead's real story: a lead sales
converted by hand or recycled says so, instead of the definition's verdict alone.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping, Sequence

from rich.console import Console

from connector.app.explaining import judge_stored
from connector.core import sla as S
from connector.core.explain import explanation_dict, render_explanation, summary, timeline
from connector.core.model import SALES_OWNED
from connector.core.qualify import Qualification
from connector.state.store import json_safe


def _name(fields: Mapping[str, Any]) -> str | None:
    return " ".join(str(v) for v in (fields.get("first_name"), fields.get("last_name")) if v) or None


def _countdown(at: datetime, now: datetime) -> str:
    minutes = int((at - now).total_seconds() // 60)
    size = abs(minutes)
    span = f"{size}m" if size < 60 else f"{size // 60}h {size % 60:02d}m" if size < 1440 else f"{size // 1440}d {size // 60 % 24}h"
    return f"in {span}" if minutes >= 0 else f"overdue {span}"


def who_dict(person: Mapping[str, Any], lead: Mapping[str, Any], definition: Any, activities: Sequence[Any],
             transitions: Sequence[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    due = None
    if person.get("handoff_at") and person.get("stage") == "mql":
        accepted = [t["at"] for t in transitions if t["to_stage"] == "sal"]
        follow = S.follow_up(person, [a for a in activities if a.type == "sales_touch"], accepted, definition.sla, now)
        nxt = follow.next_due(definition.sla, now)
        if nxt:
            due = {"what": nxt[0], "at": nxt[1].isoformat(), "countdown": _countdown(nxt[1], now)}
    crm = ({"object": person.get("crm_object") or "lead", "id": person["crm_id"], "status": person.get("crm_status")}
           if person.get("crm_id") else None)
    said = person.get("reason") if person.get("stage") == "recycled" else None
    return json_safe({"name": _name(lead), "title": lead.get("title"), "company": lead.get("company"),
                      "email": lead.get("email") or person.get("email"), "stage": person.get("stage"),
                      "owner_id": person.get("owner_id"), "crm": crm, "handoff_at": person.get("handoff_at"),
                      "sla_due": due, "sales_said": said})


def headline(person: Mapping[str, Any], result: Qualification, transitions: Sequence[Mapping[str, Any]]) -> str:
    """The lead's story in one line, from what happened to it, then from the definition."""
    stage = person.get("stage")
    last = transitions[-1] if transitions else None
    if last and last.get("cause") == "gate_violation":
        return (f"converted by hand in the CRM on {last['at']:%Y-%m-%d} before it was sales-qualified "
                f"(a gate violation): {last.get('rule') or ''}".rstrip(": "))
    if stage == "recycled":
        return f"recycled by sales: {person.get('reason') or 'no reason given'}"
    if stage in SALES_OWNED:
        since = next((t["at"] for t in reversed(transitions) if t["to_stage"] == stage), None)
        return f"with sales: {stage}" + (f" since {since:%Y-%m-%d}" if since else "") + f"; definition: {summary(result)}"
    return summary(result)


def explain_email(rt: Any, email: str, *, as_json: bool, console: Console | None = None) -> int:
    matches = rt.store.find_people(email=email)
    if not matches:
        message = f"no lead with email {email} has been synced yet (run `leadsync sync` first)"
        print(json.dumps({"error": message}) if as_json else f"leadsync: {message}")
        return 1
    person = matches[0]
    now = rt.clock()
    transitions = rt.store.transitions(hubspot_ids=[person["hubspot_id"]])
    judged = judge_stored(rt, person)
    lead, activities, counted, result = judged.lead, judged.activities, judged.counted, judged.result
    who = who_dict(person, lead, rt.definition, activities, transitions, now)
    story = headline(person, result, transitions)
    steps = timeline(counted, rt.definition, now)
    if as_json:
        doc = explanation_dict(result, lead)
        doc.update(stored_stage=person["stage"], hubspot_id=person["hubspot_id"], crm_id=person.get("crm_id"),
                   who=who, headline=story,
                   timeline=[{"at": s.at.isoformat(), "type": s.type, "what": s.what,
                              "earned": [{"rule": r, "points": p} for r, p in s.rules]} for s in steps])
        print(json.dumps(doc, default=str))
        return 0
    out = console or Console()
    out.print(render_explanation(result, lead, who, steps, story))
    return 0
