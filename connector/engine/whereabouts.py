"""Where people are: whether a pulled person's only change is leadsync's own write (an echo),
and, for people a full pass did not return, whether they are really gone or merged into
another contact. Mixed into the engine; absence alone never proves anything."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

from connector.core import plan as P
from connector.core.model import stage_rank
from connector.engine.writeback import ECHO
from connector.ports import Person

if TYPE_CHECKING:
    from connector.state.idsets import SpillingIdSet
    from connector.engine.summary import Summary


class Whereabouts:
    def _echoes(self, people: Sequence[Person]) -> set[str]:
        """People whose only change since the last cycle is leadsync's own write: HubSpot still
        holds the modified time that write produced and the values it wrote."""
        written = self._written("hubspot", [p.id for p in people])
        echoes = set()
        for person in people:
            ours = written.get(person.id) or {}
            if ours.get(ECHO) != P.stamp(person.modified_at):
                continue
            mine = {k: v for k, v in ours.items() if k in (person.written or {})}
            if not P.changed(P.remote_values(mine), P.remote_values(person.written or {})):
                echoes.add(person.id)
        return echoes

    def _forget_deleted(self, seen: "SpillingIdSet", now: datetime, summary: "Summary") -> None:
        """People leadsync knows that the full pass did not return. Absence proves nothing (an
        index behind, a write mid-pull): each one is looked up, and only a deletion the
        platform confirms is acted on; a merge moves leadsync's state to the survivor."""
        unseen = [pid for ids in self.store.alive_ids() for pid in ids if pid not in seen]
        missing = [p for p in self._people(unseen).values() if not p.get("deleted")]
        where = self.marketing.locate([p["hubspot_id"] for p in missing]) if missing else {}
        survivors = []
        for person in missing:
            pid = person["hubspot_id"]
            if pid not in where or where[pid] == pid:
                continue   # alive, or unproven: kept
            if where[pid] is None:
                self._report(summary, now, kind="deleted", system="hubspot", hubspot_id=pid, email=person.get("email"),
                             message=f"{person.get('email') or pid}: deleted in HubSpot; leadsync stops managing "
                                     "it (its CRM record, if any, is left to sales)")
                self._save_people([{"hubspot_id": pid, "deleted": True}], now)
                summary.add("deleted")
            else:
                survivors.append(self._follow_merge(person, where[pid], now, summary))
        if survivors:
            self._process(self.marketing.people(sorted(set(survivors))), now, summary)

    def _follow_merge(self, loser: dict[str, Any], survivor_id: str, now: datetime, summary: "Summary") -> str:
        """HubSpot merged ``loser`` into ``survivor_id``: the survivor carries on with the
        further-along stage and the CRM link, so no second record is ever created for it."""
        survivor = self._people([survivor_id]).get(survivor_id)
        carry = {k: v for k, v in loser.items() if k not in ("hubspot_id", "updated_at", "deleted")}
        if survivor is None:
            row = {**carry, "hubspot_id": survivor_id}
        else:
            row = {"hubspot_id": survivor_id}
            if stage_rank(loser.get("stage")) > stage_rank(survivor.get("stage")):
                row.update(stage=loser["stage"], reason=loser.get("reason"))
            for key in ("crm_id", "crm_object", "opportunity_id", "account_id", "owner_id", "handoff_at"):
                if loser.get(key) and not survivor.get(key):
                    row[key] = loser[key]
        self._save_people([row, {"hubspot_id": loser["hubspot_id"], "deleted": True}], now)
        self._report(summary, now, kind="merged", system="hubspot", hubspot_id=loser["hubspot_id"],
                     email=loser.get("email"),
                     message=f"{loser.get('email') or loser['hubspot_id']}: merged into contact {survivor_id} in "
                             "HubSpot; leadsync follows the survivor")
        summary.add("merged")
        return survivor_id
