"""A stored person judged now, from the stage it holds, as the next sync would judge it: the
one place ``leadsync explain`` and the review page get a lead's explanation from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Sequence

from connector.core.lead import activities_that_count, merge_fields
from connector.core.qualify import Qualification, evaluate


@dataclass(frozen=True)
class Judged:
    lead: dict[str, Any]                 # the canonical lead (both systems, by each field's sync rule)
    activities: Sequence[Any]            # everything inside the engagement window
    counted: Sequence[Any]               # what counts (after a recycle, only what came later)
    result: Qualification


def judge_stored(rt: Any, person: Mapping[str, Any]) -> Judged:
    now = rt.clock()
    window = timedelta(days=rt.definition.engagement.window_days)
    hubspot_id = person["hubspot_id"]
    activities = rt.store.activities([hubspot_id], since=now - window)[hubspot_id]
    lead = merge_fields(person.get("fields") or {}, person.get("crm_fields") or {}, rt.write_maps().crm_fields)
    counted = activities_that_count(person, activities)
    return Judged(lead, activities, counted, evaluate(lead, counted, rt.definition, now, person["stage"]))
