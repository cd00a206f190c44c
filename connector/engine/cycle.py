"""One sync cycle: pull both systems → resolve identities → qualify → write back → record.

The engine knows no vendor: it speaks to a ``MarketingPlatform`` and a ``Crm`` (adapters/base.py).
Ordering guarantees:
- a cursor advances only after every write caused by the batch it covers has been attempted
  and its outcome (written or quarantined) recorded, and never past the cycle's start time;
- a pull cut short (the daemon stopping) never counts as a complete pass.
What is written, and how it is recorded, is writeback.py's part.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

from connector.core import plan as P
from connector.ports import LEAD, Crm, CrmRecord, MarketingPlatform, Person
from connector.core.definition import Definition
from connector.core.errors import QuotaExhausted
from connector.core.feedback import FeedbackRules, from_opportunity, from_record
from connector.core.handoff import HandoffRules
from connector.state.store import Store
from connector.engine.summary import Summary
from connector.engine.writeback import WriteBack

log = logging.getLogger("leadsync.sync")

HUBSPOT_CURSOR = "hubspot.people"
ACTIVITY_CURSOR = "hubspot.activities"
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)   # "from the beginning" for a first full read
# Pulls read a little past the cycle's start: SOQL datetimes have whole seconds, and a system's
# clock may run slightly ahead of ours. Cursors stay capped at the start, so whatever is read
# early is read again next cycle (harmlessly: unchanged values are never rewritten).
AHEAD = timedelta(seconds=1)



@dataclass
class Engine:
    store: Store
    marketing: MarketingPlatform
    crm: Crm
    definition: Definition
    maps: P.WriteMaps
    feedback: FeedbackRules
    handoff: HandoffRules
    clock: Callable[[], datetime]
    lookback: timedelta = timedelta(seconds=30)
    activities_every: timedelta = timedelta(minutes=2)
    stopping: Callable[[], bool] = lambda: False   # set by the daemon on SIGTERM: pulls end early
    first_run_since: timedelta | None = None        # None: the first run reads every contact
    usage: Callable[[], Mapping[str, Any]] = dict
    dry_run: bool = False
    _schema_ready: bool = False
    writeback: WriteBack = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.writeback = WriteBack(store=self.store, marketing=self.marketing, crm=self.crm,
                                   definition=self.definition, maps=self.maps, feedback=self.feedback,
                                   handoff=self.handoff, dry_run=self.dry_run)

    @property
    def planned(self) -> list[dict[str, Any]]:
        """A dry run's planned writes (nothing when writing for real)."""
        return self.writeback.planned

    def _process(self, people: Sequence[Person], now: datetime, summary: Summary, **remote: Any) -> None:
        self.writeback.process(people, now, summary, **remote)

    def _transition(self, person: Mapping[str, Any], to_stage: str, cause: str, rule: str, now: datetime,
                    summary: Summary) -> None:
        self.writeback.transition(person, to_stage, cause, rule, now, summary)

    # -- entry points ----------------------------------------------------------------------
    def cycle(self, kind: str = "sync", legs: Sequence[str] = ("crm", "marketing")) -> Summary:
        """A scheduled cycle: incremental pulls from the cursors."""
        return self._run(kind, lambda now, s: self._legs(now, s, legs))

    def reconcile(self) -> Summary:
        """The nightly full comparison: every person and record re-read, compared with what each
        system holds now (not what leadsync last wrote), so drift, edits that did not move a
        modstamp, hard deletes and merges are caught."""
        def body(now: datetime, summary: Summary) -> None:
            self._crm_leg(now, summary, full=True)
            self._hubspot_leg(now, summary, full=True)
            self.writeback.retry_quarantine(now, summary)
        return self._run("reconcile", body)

    def resync(self, account: str) -> Summary:
        """Re-pull every person of one account from both systems, ignoring cursors."""
        kind = "resync-dry-run" if self.dry_run else "resync"   # a dry run is never mistaken for a real one
        return self._run(kind, lambda now, s: self._resync(now, s, account), account=account)

    def _run(self, kind: str, body: Callable[[datetime, Summary], None], account: str | None = None) -> Summary:
        now = self.clock()
        summary = Summary(kind=kind)
        summary.run_id = self.store.start_run(kind, now, account=account)
        before = self.usage()
        try:
            body(now, summary)
            summary.outcome = "partial" if summary.counts["quarantined"] else "ok"
        except QuotaExhausted as exc:
            # The budget is spent: everything written so far is checkpointed; resume later.
            summary.outcome, summary.message = "stopped", str(exc)
            self.store.add_error(run_id=summary.run_id, at=self.clock(), kind="quota", message=str(exc), detail=exc.detail)
        except Exception as exc:
            summary.outcome, summary.message = "failed", str(exc) or type(exc).__name__
            self.store.add_error(run_id=summary.run_id, at=self.clock(), kind="fatal", message=summary.message,
                                 detail=getattr(exc, "detail", None) or repr(exc))
            raise
        finally:
            summary.api = _usage_since(before, self.usage())
            self.store.finish_run(summary.run_id, self.clock(), summary.outcome, summary.counts, summary.api, summary.message)
        return summary

    @property
    def _crm_cursor(self) -> str:
        return f"{self.crm.name}.records"

    # -- legs ------------------------------------------------------------------------------------
    def _legs(self, now: datetime, summary: Summary, legs: Sequence[str]) -> None:
        if not self._schema_ready and not self.dry_run:
            self.marketing.ensure_schema()
            self._schema_ready = True
        if "crm" in legs:
            self._crm_leg(now, summary)
        if "marketing" in legs:
            self._hubspot_leg(now, summary)
        self.writeback.retry_quarantine(now, summary)

    def _hubspot_leg(self, now: datetime, summary: Summary, *, full: bool = False) -> None:
        since = EPOCH if full else self._since(HUBSPOT_CURSOR, now)
        batches = iter(self.marketing.changed_people(since, now + AHEAD))
        first = next(batches, None)
        if self.stopping():
            return   # nothing was read for certain: leave the cursors where they are
        # HubSpot bumps a contact when its analytics change (page views, forms, email), so
        # activities are pulled when someone changed; custom behavioural events (a webinar)
        # touch no property, so they are also pulled every `activities_every` regardless.
        # Everyone's at once, by time, then stored: each person below is qualified on
        # everything known, and anyone with new activities but no contact change is too.
        window = timedelta(days=self.definition.engagement.window_days)
        last_pull = self.store.cursor(ACTIVITY_CURSOR)
        if first is None and last_pull and now - last_pull < self.activities_every and not full:
            self._pass_complete(HUBSPOT_CURSOR, now)
            return   # a quiet cycle costs one search call
        acts_since = now - window if full else (last_pull or now - window) - self.lookback
        found = self.marketing.activities_between(acts_since, now + AHEAD)
        if not self.dry_run:
            summary.add("activities", self.store.add_activities(found))
        pending = set(found)
        seen: set[str] = set()
        for batch in itertools.chain([first] if first else [], batches):
            if not batch:
                continue
            summary.add("pulled_hubspot", len(batch))
            self._process(batch, now, summary, compare_remote=full)
            pending -= {p.id for p in batch}
            seen |= {p.id for p in batch}
            if not self.dry_run:
                newest = max(p.modified_at for p in batch)
                self.store.set_cursor(HUBSPOT_CURSOR, min(newest, now), now)
        if self.stopping():
            return   # the pull was cut short: cursors stay at the last batch written
        if pending:
            people = self.marketing.people(sorted(pending))
            summary.add("pulled_hubspot", len(people))
            self._process(people, now, summary)
        if not self.dry_run:
            self.store.set_cursor(ACTIVITY_CURSOR, now, now)
        self._pass_complete(HUBSPOT_CURSOR, now)
        if full:
            self._forget_deleted(seen, now, summary)

    def _since(self, cursor: str, now: datetime) -> datetime:
        """Where an incremental pull starts: the cursor less the lookback, or on the very first
        run everything (or ``first_run_since`` back)."""
        start = self.store.cursor(cursor)
        if start is None:
            return now - self.first_run_since if self.first_run_since else EPOCH
        return start - self.lookback

    def _pass_complete(self, cursor: str, now: datetime) -> None:
        """Everything modified before the cycle started has been read and handled: the next
        pass starts there (less the lookback), not at the newest change seen, so a quiet day
        does not re-read the last burst of changes on every cycle."""
        if not self.dry_run:
            self.store.set_cursor(cursor, now, now)

    def _forget_deleted(self, seen: set[str], now: datetime, summary: Summary) -> None:
        """People leadsync knows that HubSpot no longer returns were deleted or merged away."""
        gone = [p for pid, p in self.store.people().items() if pid not in seen and not p.get("deleted")]
        for person in gone:
            self.store.add_error(run_id=summary.run_id, at=now, kind="deleted", system="hubspot",
                                 hubspot_id=person["hubspot_id"], email=person.get("email"),
                                 message=f"{person.get('email') or person['hubspot_id']}: deleted or merged in HubSpot; "
                                         "leadsync stops managing it (its CRM record, if any, is left to sales)")
        if gone and not self.dry_run:
            self.store.save_people([{"hubspot_id": p["hubspot_id"], "deleted": True} for p in gone], now)
            summary.add("deleted", len(gone))

    def _crm_leg(self, now: datetime, summary: Summary, *, full: bool = False) -> None:
        since = EPOCH if full else self._since(self._crm_cursor, now)
        for batch in self.crm.changed_records(since, now + AHEAD):
            if not batch:
                continue
            summary.add("pulled_crm", len(batch))
            ids = self._absorb_records(batch, now, summary)
            self._process(self.marketing.people(ids) if ids else [], now, summary, compare_remote=full,
                          crm_records={r.hubspot_id: r for r in batch if r.hubspot_id})
            if not self.dry_run:
                self.store.set_cursor(self._crm_cursor, min(max(r.modified_at for r in batch), now), now)
        if self.stopping():
            return   # the pull was cut short: the cursor stays at the last batch written
        self._pass_complete(self._crm_cursor, now)
        self._follow_opportunities(now, summary)
        self._pull_touches(now, summary)

    def _resync(self, now: datetime, summary: Summary, account: str) -> None:
        people = self.marketing.people_of_company(account)
        known = {p["hubspot_id"] for p in self._people_of_account(account)}
        missing = sorted(known - {p.id for p in people})
        if missing:
            people += self.marketing.people(missing)
        summary.add("pulled_hubspot", len(people))
        emails = [p.fields.get("email") for p in people if p.fields.get("email")]
        records = self.crm.find_records(emails=emails, hubspot_ids=[p.id for p in people]) if people else []
        summary.add("pulled_crm", len(records))
        self._absorb_records(records, now, summary)
        self._pull_activities(people, now, summary)
        # "Write what differs" from what each system holds now, not from what leadsync last wrote.
        self._process(people, now, summary, compare_remote=True,
                      crm_records={r.hubspot_id: r for r in records if r.hubspot_id})
        self._follow_opportunities(now, summary, only={p.id for p in people})

    def _people_of_account(self, account: str) -> list[dict[str, Any]]:
        key = account.strip().lower()
        if "." in key:
            return self.store.find_people(domain=key)
        return self.store.find_people(company_id=account) + self.store.find_people(account_id=account)

    # -- pulling ---------------------------------------------------------------------------------
    def _pull_activities(self, people: Sequence[Person], now: datetime, summary: Summary) -> None:
        if not people:
            return
        window = timedelta(days=self.definition.engagement.window_days)
        found = self.marketing.activities(people, now - window, now)
        if not self.dry_run:
            summary.add("activities", self.store.add_activities(found))

    def _absorb_records(self, records: Sequence[CrmRecord], now: datetime, summary: Summary) -> list[str]:
        """Take sales' view of each record in: identity, BANT fields, status → stage."""
        by_crm_id = {p["crm_id"]: p for p in self.store.find_people(crm_ids=[r.id for r in records])}
        known = self.store.people([r.hubspot_id for r in records if r.hubspot_id])
        touched: list[str] = []
        rows = []
        for record in records:
            person = known.get(record.hubspot_id or "") or by_crm_id.get(record.id)
            if person is None:
                continue   # a Lead sales created themselves: not leadsync's to manage
            row = {"hubspot_id": person["hubspot_id"], "crm_id": record.id, "crm_object": record.kind,
                   "crm_fields": dict(record.fields), "crm_status": record.status, "owner_id": record.owner_id}
            if record.opportunity_id:
                row["opportunity_id"] = record.opportunity_id
            if record.account_id:
                row["account_id"] = record.account_id
            move = from_record(person["stage"], record, self.feedback, converted_by_us=bool(person.get("opportunity_id")))
            if move:
                self._transition(person, move.to_stage, move.cause, move.rule, now, summary)
                row["stage"], row["reason"] = move.to_stage, move.rule
                if move.to_stage == "recycled":
                    row["recycled_at"] = now
                if move.cause == "gate_violation":
                    summary.add("gate_violations")
                    self.store.add_error(run_id=summary.run_id, at=now, kind="gate_violation", system=self.crm.name,
                                         hubspot_id=person["hubspot_id"], email=person.get("email"),
                                         message=f"{person.get('email')}: {move.rule}")
            rows.append(row)
            touched.append(person["hubspot_id"])
        if not self.dry_run:
            self.store.save_people(rows, now)
        return touched

    def _follow_opportunities(self, now: datetime, summary: Summary, only: set[str] | None = None) -> None:
        open_people = [p for p in self.store.people().values()
                       if p.get("opportunity_id") and p["stage"] in ("sal", "sql", "opportunity")
                       and (only is None or p["hubspot_id"] in only)]
        if not open_people:
            return
        opportunities = self.crm.opportunities([p["opportunity_id"] for p in open_people])
        moved = []
        amounts = [{"hubspot_id": p["hubspot_id"], "opportunity_amount": opportunities[p["opportunity_id"]].amount}
                   for p in open_people if p["opportunity_id"] in opportunities
                   and opportunities[p["opportunity_id"]].amount != p.get("opportunity_amount")]
        if amounts and not self.dry_run:
            self.store.save_people(amounts, now)
        for person in open_people:
            opportunity = opportunities.get(person["opportunity_id"])
            move = opportunity and from_opportunity(person["stage"], opportunity, self.feedback, now)
            if move:
                self._transition(person, move.to_stage, move.cause, move.rule, now, summary)
                if not self.dry_run:
                    recycled = {"recycled_at": now} if move.to_stage == "recycled" else {}
                    self.store.save_people([{"hubspot_id": person["hubspot_id"], "stage": move.to_stage,
                                             "reason": move.rule, **recycled}], now)
                moved.append(person["hubspot_id"])
        if moved:
            self._process(self.marketing.people(moved), now, summary)

    def _pull_touches(self, now: datetime, summary: Summary) -> None:
        """Sales touches (Tasks, Events) on handed-off leads: for SLA and the score."""
        working = [p for p in self.store.people().values() if p.get("crm_id") and p["stage"] in ("mql", "sal", "sql")]
        if not working:
            return
        records = [CrmRecord(id=p["crm_id"], kind=p.get("crm_object") or LEAD, email=p.get("email"),
                             hubspot_id=p["hubspot_id"], status=p.get("crm_status"), owner_id=p.get("owner_id"),
                             fields={}, modified_at=now) for p in working]
        since = min((p.get("handoff_at") or now) for p in working)
        touches = self.crm.touches(records, since)
        by_person = {p["hubspot_id"]: touches.get(p["crm_id"], []) for p in working}
        if not self.dry_run:
            summary.add("activities", self.store.add_activities(by_person))


def _usage_since(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """This run's calls and retries (the transport counts for the life of the process);
    remaining quota and limit as last reported."""
    result = {}
    for system, now_ in after.items():
        then = before.get(system, {})
        result[system] = {**now_, "calls": now_.get("calls", 0) - then.get("calls", 0),
                          "retries": now_.get("retries", 0) - then.get("retries", 0)}
    return result
