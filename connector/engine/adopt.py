"""Adoption: meeting a portal and an org that were in use before leadsync, and every new person.

Before anything is written for someone leadsync does not know yet, the CRM records that are
theirs are linked (the external id first, then the email) and their starting stage is read
from what both systems already say (core/adoption.py). Sales' people start where sales has
them, so nothing sales owns is disqualified, moved back or handed off a second time.
CRM records that match nobody in the marketing platform are linked to nobody and reported.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from connector.core.adoption import pick_record, records_of, starting_stage
from connector.ports import CrmRecord, Person

if TYPE_CHECKING:
    from connector.engine.summary import Summary

log = logging.getLogger("leadsync.sync")

UNLINKED_BATCH = 500         # CRM records without a HubSpot id checked against the store at a time


class Adoption:
    """Mixed into the engine; uses its store view, adapters, maps and feedback rules."""

    def _adopt_people(self, people: Sequence[Person], now: datetime, summary: "Summary", *,
                      taken: Mapping[str, list[CrmRecord]] | None = None) -> None:
        """People the store does not know yet: link their CRM records by email (records carrying
        their id were linked by the CRM leg, or on a first run are ``taken`` from the waiting
        room for them) and set where they start."""
        known = self._people([p.id for p in people])
        new = [p for p in people if p.id not in known]
        if not new:
            return
        emails = sorted({str(p.fields["email"]).lower() for p in new if p.fields.get("email")})
        if self._waiting is not None:
            # A first run read every CRM record already: match here, no lookups.
            records = [r for rs in self._waiting.without_id(emails).values() for r in rs]
            mine = taken if taken is not None else self._waiting_for(new)
            records += [r for p in new for r in mine.get(p.id, [])]
        else:
            records = self.crm.find_records(emails=emails) if emails else []
        self._adopt([(p, records_of(p.id, p.fields.get("email"), records)) for p in new], now, summary)

    def _adopt_records(self, records: Sequence[CrmRecord], now: datetime, summary: "Summary") -> list[Person]:
        """CRM records carrying a HubSpot id leadsync does not know: find the person (following a
        merge), adopt them; a record whose person is gone is reported, not guessed at."""
        known = self._people([r.hubspot_id for r in records if r.hubspot_id])
        linked = self._people_by_crm_id([r.id for r in records])
        strangers = [r for r in records if r.hubspot_id and r.hubspot_id not in known and r.id not in linked]
        if not strangers:
            return []
        where = self.marketing.locate(sorted({r.hubspot_id for r in strangers if r.hubspot_id}))
        alive = sorted({survivor for survivor in where.values() if survivor})
        people = {p.id: p for p in self.marketing.people(alive)} if alive else {}
        by_person: dict[str, list[CrmRecord]] = {}
        for record in strangers:
            survivor = where.get(record.hubspot_id or "")
            if survivor in people:
                by_person.setdefault(survivor, []).append(record)
            else:
                self._report_crm_only(record, now, summary, why="carries the id of a contact HubSpot no longer has")
        already = self._people(list(by_person))
        # A survivor met already (a first run adopts people as its marketing pass meets them)
        # with no record of its own takes this one in, as if it carried the survivor's id.
        unlinked = [replace(record, hubspot_id=pid) for pid, row in already.items()
                    if not row.get("crm_id") and not row.get("opportunity_id") for record in by_person[pid]]
        if unlinked:
            self._absorb_records(unlinked, now, summary)
            summary.add("linked", len({r.hubspot_id for r in unlinked}))
        fresh = [people[pid] for pid in by_person if pid not in already]
        # The same person's records that carry no id yet (typed in by sales) count too.
        twins = self._twins(fresh)
        self._adopt([(p, by_person[p.id] + twins.get(p.id, [])) for p in fresh], now, summary)
        return fresh

    def _waiting_for(self, people: Sequence[Person]) -> dict[str, list[CrmRecord]]:
        """First run: person id → the CRM records that carry their id, or the id of a contact
        merged into them (those are theirs now: keyed to them). They wait no more."""
        if self._waiting is None or not people:
            return {}
        taken = self._waiting.take([i for p in people for i in (p.id, *p.aliases)])
        mine: dict[str, list[CrmRecord]] = {}
        for person in people:
            records = taken.pop(person.id, [])
            for alias in person.aliases:
                records += [replace(r, hubspot_id=person.id) for r in taken.pop(alias, [])]
            if records:
                mine[person.id] = records
        return mine

    def _twins(self, people: Sequence[Person]) -> dict[str, list[CrmRecord]]:
        """First run: person id → the CRM records with their email that carry no id yet."""
        if self._waiting is None:
            return {}
        emails = {p.id: str(p.fields.get("email") or "").lower() for p in people}
        found = self._waiting.without_id(sorted({e for e in emails.values() if e}))
        return {pid: list(found[e]) for pid, e in emails.items() if e in found}

    def _adopt(self, items: Sequence[tuple[Person, list[CrmRecord]]], now: datetime, summary: "Summary") -> None:
        opportunity_ids = sorted({r.opportunity_id for _, recs in items for r in recs if r.opportunity_id})
        # A first run read its records' opportunities once, with the records: only others are asked.
        kept = self._waiting.opportunities(opportunity_ids) if self._waiting is not None else {}
        unread = [i for i in opportunity_ids if i not in kept]
        opportunities = {**{i: o for i, o in kept.items() if o is not None},
                         **(self.crm.opportunities(unread) if unread else {})}
        rows = []
        for person, records in items:
            email = person.fields.get("email")
            # A record leadsync handed off itself, in a run stopped before it was recorded, says
            # nothing about sales: the handoff is simply made again onto it.
            said = [r for r in records if not self._own_unrecorded_handoff(r)]
            start = starting_stage((person.written or {}).get("lifecyclestage"), self.maps.lifecycle, said,
                                   opportunities, self.feedback)
            row: dict[str, Any] = {"hubspot_id": person.id, "email": email,
                                   "stage": start.stage if start else "subscriber"}
            record = pick_record(person.id, email, records)
            if record is not None:
                row.update(crm_fields=dict(record.fields), crm_status=record.status, owner_id=record.owner_id)
                if not record.is_converted:       # a converted lead is never written: link its outcome only
                    row.update(crm_id=record.id, crm_object=record.kind)
                if record.opportunity_id:
                    row["opportunity_id"] = record.opportunity_id
                if record.account_id:
                    row["account_id"] = record.account_id
                summary.add("linked")
                # Only records carrying no id can be reported unlinked (_report_unlinked asks).
                self._linked_crm_ids.update(r.id for r in records if not r.hubspot_id)
            if start is not None:
                row["reason"] = f"adopted: {start.why}"
                summary.add("adopted_sales_owned" if start.sales_owned else "adopted_handed_off")
                self._transition({"hubspot_id": person.id, "stage": None}, start.stage, "adoption",
                                 start.why, now, summary)
            if record is not None or start is not None:
                rows.append(row)       # someone with nothing in the CRM is simply new: no row yet
        self._save_people(rows, now)

    def _own_unrecorded_handoff(self, record: CrmRecord) -> bool:
        handoff_field = self.maps.crm_write.get("handoff_at")
        return bool(handoff_field and record.written.get(handoff_field)) and record.stage == "mql"

    def _report_crm_only(self, record: CrmRecord, now: datetime, summary: "Summary", *, why: str) -> None:
        summary.add("crm_only")
        message = (f"{record.kind} {record.id} ({record.email or 'no email'}) {why}: linked to nobody, "
                   "left to sales")
        self._report(summary, now, kind="crm_only", system=self.crm.name, email=record.email, message=message)

    def _report_unlinked(self, now: datetime, summary: "Summary") -> None:
        """After a first run's pulls: CRM records no person in the marketing platform matched."""
        if self._waiting is None:
            return
        for batch in self._waiting.left_without_id(UNLINKED_BATCH):
            emails = self.store.known_emails(sorted({r.email.lower() for r in batch if r.email}))
            if self._staged is not None:
                emails |= {str(row.get("email") or "").lower() for row in self._staged.rows.values()}
            for record in batch:
                if record.id not in self._linked_crm_ids and (record.email or "").lower() not in emails:
                    self._report_crm_only(record, now, summary, why="matches no HubSpot contact by email")

    def _report(self, summary: "Summary", now: datetime, **entry: Any) -> None:
        if self.dry_run:
            self.planned_reports.append(entry)
        else:
            self.store.add_error(run_id=summary.run_id, at=now, **entry)
