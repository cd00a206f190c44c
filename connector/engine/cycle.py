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
from typing import Any, Callable, Iterator, Mapping, Sequence

from connector.core import plan as P
from connector.core.batches import chunks
from connector.ports import LEAD, Activity, Crm, CrmRecord, MarketingPlatform, Person
from connector.core.definition import Definition
from connector.core.errors import QuotaExhausted
from connector.core.feedback import FeedbackRules, from_opportunity, from_record
from connector.core.handoff import HandoffRules
from connector.state.idsets import SpillingIdSet
from connector.state.store import Store
from connector.engine.adopt import Adoption
from connector.engine.pipeline import WriteBehind
from connector.engine.prefetch import ReadAhead, read_ahead
from connector.engine.summary import Summary
from connector.engine.waiting import StoredWaiting, Waiting, WaitingInMemory
from connector.engine.staging import Staged, StateView
from connector.engine.whereabouts import Whereabouts
from connector.engine.writeback import PLANNED_ID, Sent, WriteBack

log = logging.getLogger("leadsync.sync")

HUBSPOT_CURSOR = "hubspot.people"
LEGS = frozenset({"crm", "marketing"})   # a cycle's halves: sales' feedback, then marketing's changes
ACTIVITY_CURSOR = "hubspot.activities"
TOUCH_CURSOR = "crm.touches"
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)   # "from the beginning" for a first full read
# Pulls read a little past the cycle's start: SOQL datetimes have whole seconds, and a system's
# clock may run slightly ahead of ours. Cursors stay capped at the start, so whatever is read
# early is read again next cycle (harmlessly: unchanged values are never rewritten).
AHEAD = timedelta(seconds=1)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)
ADOPTION_BATCH = 500          # CRM records adopted and processed together on a first run
READ_AHEAD_PAGES = 10         # search pages read ahead of the one being written (about 2,000 people)
FEED_AHEAD = 3                # activity chunks (5,000 each) a first run reads while the CRM's records come in
# Handed-off people read from the store at a time (their opportunities, their touches): a
# multiple of the 100 or 200 ids a CRM query takes, so batching costs no extra query.
HANDED_OFF_BATCH = 1000
TOUCH_COLUMNS = ("crm_id", "crm_object", "email", "crm_status", "owner_id", "handoff_at")
FOLLOW_COLUMNS = ("email", "stage", "opportunity_id", "opportunity_amount", "handoffs")



@dataclass
class Engine(WriteBack, Adoption, Whereabouts, StateView):
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
    planned: list[dict[str, Any]] = field(default_factory=list)   # dry-run: what would be written
    planned_changes: list[dict[str, Any]] = field(default_factory=list)      # dry-run: the change log it would keep
    planned_transitions: list[dict[str, Any]] = field(default_factory=list)  # dry-run: stage moves
    planned_reports: list[dict[str, Any]] = field(default_factory=list)      # dry-run: what it would report
    schema_plan: list[str] = field(default_factory=list)                     # dry-run: what it would create
    _schema_ready: bool = False
    _staged: Staged | None = None
    _waiting: Waiting | None = None                           # first run: the CRM's records, until adopted
    _linked_crm_ids: SpillingIdSet = field(default_factory=SpillingIdSet)  # first run: records without an id, linked
    _transitions_due: dict[int, list[dict[str, Any]]] = field(default_factory=dict)   # per thread, saved with people
    _unconverted: SpillingIdSet = field(default_factory=SpillingIdSet)     # CRM lead records read this run, not converted
    _beside_pool: Any = None                                   # the thread HubSpot's writes go out on

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
            self._retry_quarantine(now, summary)
        return self._run("reconcile", body)

    def resync(self, account: str) -> Summary:
        """Re-pull every person of one account from both systems, ignoring cursors."""
        return self._run("resync", lambda now, s: self._resync(now, s, account), account=account)

    def _run(self, kind: str, body: Callable[[datetime, Summary], None], account: str | None = None) -> Summary:
        now = self.clock()
        summary = Summary(kind=kind)
        self._staged = Staged() if self.dry_run else None
        self._waiting, self._linked_crm_ids = None, SpillingIdSet()
        self._unconverted = SpillingIdSet()
        summary.run_id = self.store.start_run(f"{kind}-dry-run" if self.dry_run else kind, now, account=account)
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
            # Every transition is saved with its people; any left belong to a batch cut short.
            self._transitions_due.clear()
            if self._waiting is not None:
                self._waiting.close()
                self._waiting = None
            summary.api = _usage_since(before, self.usage())
            self.store.finish_run(summary.run_id, self.clock(), summary.outcome, summary.counts, summary.api, summary.message)
        return summary

    @property
    def _crm_cursor(self) -> str:
        return f"{self.crm.name}.records"

    # -- legs ------------------------------------------------------------------------------------
    def _legs(self, now: datetime, summary: Summary, legs: Sequence[str]) -> None:
        unknown = set(legs) - LEGS
        if unknown:   # a misnamed leg would make a cycle that silently does nothing
            raise ValueError(f"unknown leg(s) {', '.join(sorted(unknown))}; legs are {', '.join(sorted(LEGS))}")
        if self.dry_run:
            self.schema_plan = self.marketing.missing_schema()   # said, never created
        elif not self._schema_ready:
            self.marketing.ensure_schema()
            self._schema_ready = True
        feed = None
        if set(legs) == LEGS and not self.dry_run and self.store.cursor(ACTIVITY_CURSOR) is None:
            # A first run: HubSpot's months of activities (its ten-second window) are read
            # while the CRM's records are (another system's limits), not after them.
            feed = ReadAhead(self._activity_feed(now, full=False), depth=FEED_AHEAD, name="leadsync-feed")
        try:
            if "crm" in legs:
                self._crm_leg(now, summary, defer="marketing" in legs)
            if "marketing" in legs:
                self._hubspot_leg(now, summary, feed=feed)
                if not self.stopping():
                    self._settle_waiting(now, summary)
                self._report_unlinked(now, summary)
        finally:
            if feed is not None:
                feed.close()
        self._retry_quarantine(now, summary)

    def _activity_feed(self, now: datetime, *, full: bool) -> Iterator[dict[str, list[Activity]]]:
        """Everyone's activities since the last pull (less the lookback; the whole engagement
        window the first time, and on a full pass), in chunks."""
        window = timedelta(days=self.definition.engagement.window_days)
        last_pull = self.store.cursor(ACTIVITY_CURSOR)
        since = now - window if full else (last_pull or now - window) - self.lookback
        return iter(self.marketing.activities_between(since, now + AHEAD))

    def _hubspot_leg(self, now: datetime, summary: Summary, *, full: bool = False,
                     feed: ReadAhead[dict[str, list[Activity]]] | None = None) -> None:
        since = EPOCH if full else self._since(HUBSPOT_CURSOR, now)
        # The nightly pass reads everyone by id (the list API: no index lag, and it is the pass
        # that proves who is gone). Every other run, the first one included, reads its window
        # by search, oldest first: search pages are cheap (200 a call, outside the burst limit).
        first_run = not full and self.store.cursor(HUBSPOT_CURSOR) is None
        echoes = None if full else self._echoes
        batches = iter(self.marketing.everyone(echoes=echoes) if full
                       else self.marketing.changed_people(since, now + AHEAD, echoes=echoes))
        if not self.dry_run:    # (a dry run's planned state is not shared across threads)
            # Pages are read in the search lane while the activity feed (the other lane) is
            # pulled below: on a first run, the first few thousand people are in by then.
            batches = read_ahead(batches, depth=READ_AHEAD_PAGES)
        first = next(batches, None)
        if self.stopping():
            return   # nothing was read for certain: leave the cursors where they are
        # HubSpot bumps a contact when its analytics change (page views, forms, email), so
        # activities are pulled when someone changed; custom behavioural events (a webinar)
        # touch no property, so they are also pulled every `activities_every` regardless.
        # Everyone's at once, by time, then stored: each person below is qualified on
        # everything known, and anyone with new activities but no contact change is too.
        last_pull = self.store.cursor(ACTIVITY_CURSOR)
        if first is None and last_pull and now - last_pull < self.activities_every and not full:
            self._pass_complete(HUBSPOT_CURSOR, now)
            return   # a quiet cycle costs one search call
        pending = SpillingIdSet()     # people with new activities: qualified below, read or not
        for found in feed if feed is not None else self._activity_feed(now, full=full):
            summary.add("activities", self._add_activities(found))
            pending.update(found)
        seen = SpillingIdSet()     # (the nightly pass: everyone in the portal)
        writer = WriteBehind(enabled=not self.dry_run)

        def take(batch: list[Person], *, in_time_order: bool) -> None:
            summary.add("pulled_hubspot", len(batch))
            # A person whose only change is leadsync's own write is not news (unless new
            # activities came in: then it is read whole below, with everyone else who has some).
            live = [p for p in batch if not p.echo]
            summary.add("echoes", len(batch) - len(live))
            writer.before_preparing(p.id for p in live)
            self._adopt_people(live, now, summary, taken=self._claim_waiting(live, now, summary))
            plans = self._prepare(live, now, summary, compare_remote=full)
            pending.difference_update(p.id for p in live)
            if full:
                seen.update(p.id for p in batch)
            newest = max(p.modified_at for p in batch) if in_time_order else None  # (by id: no time order)

            def send() -> Sent | None:
                return self._send_batch(plans, now, summary) if plans else None

            def record(sent: Sent | None) -> None:
                with self.store.batch():     # (the cursor moves with the batch's record, or neither)
                    if sent is not None:
                        self._record_sent(sent, now, summary)
                    if newest is not None and not self.dry_run:
                        self.store.set_cursor(HUBSPOT_CURSOR, min(newest, now), now)
            writer.submit(send, record, (p.id for p in live), unless=self.stopping)

        try:
            for batch in itertools.chain([first] if first else [], batches):
                if batch:
                    take(batch, in_time_order=not full)
                if self.stopping():
                    break    # the batch in hand is done; what was read ahead is left for next time
            if first_run and not self.dry_run and not self.stopping():
                # Someone else's write moves a contact past the pass before the pass reaches it:
                # on a first run, pick up whoever still has no stage (a few calls, not a re-read).
                writer.wait()   # (the tail is read after the pass's last write is recorded)
                for batch in self.marketing.changed_people(now - self.lookback, FAR_FUTURE, echoes=echoes,
                                                           unmanaged=True):
                    if batch:
                        take(batch, in_time_order=False)
        finally:
            writer.close()    # the batches in hand are written and recorded (or a failure raised) before anything else
        if self.stopping():
            return   # the pull was cut short: cursors stay at the last batch written
        for ids in chunks(sorted(pending), ADOPTION_BATCH):
            self._take_pending(ids, now, summary)
        if not self.dry_run:
            self.store.set_cursor(ACTIVITY_CURSOR, now, now)
        self._pass_complete(HUBSPOT_CURSOR, now)
        if full:
            self._forget_deleted(seen, now, summary)

    def _take_pending(self, ids: Sequence[str], now: datetime, summary: Summary) -> None:
        """People with new activities whom the pass did not meet, read and qualified a batch at a
        time like the pass's pages: after a long pause they are thousands."""
        people = self.marketing.people(ids)
        summary.add("pulled_hubspot", len(people))
        self._adopt_people(people, now, summary, taken=self._claim_waiting(people, now, summary))
        self._process(people, now, summary)

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

    def _crm_leg(self, now: datetime, summary: Summary, *, full: bool = False, defer: bool = False) -> None:
        since = EPOCH if full else self._since(self._crm_cursor, now)
        batches = self._crm_batches(since, now + AHEAD, summary, full=full, defer=defer)
        for batch in batches:
            if not batch:
                continue
            self._take_records(batch, now, summary, full=full)
            if not self.dry_run:
                self.store.set_cursor(self._crm_cursor, min(max(r.modified_at for r in batch), now), now)
        if self.stopping():
            return   # the pull was cut short: the cursor stays at the last batch written
        self._pass_complete(self._crm_cursor, now)
        self._follow_opportunities(now, summary)
        self._pull_touches(now, summary)

    def _take_records(self, batch: Sequence[CrmRecord], now: datetime, summary: Summary, *, full: bool = False,
                      counted: bool = False) -> None:
        """Sales' changes: absorbed into the people they belong to, strangers adopted, and
        everyone concerned qualified again."""
        if not counted:
            summary.add("pulled_crm", len(batch))
        self._note_unconverted(batch)
        ids = self._absorb_records(batch, now, summary, news_only=not full)
        adopted = self._adopt_records(batch, now, summary)
        people = adopted + (self.marketing.people(ids) if ids else [])
        self._process(people, now, summary, compare_remote=full,
                      crm_records={r.hubspot_id: r for r in batch if r.hubspot_id})

    def _crm_batches(self, since: datetime, until: datetime, summary: Summary, *, full: bool,
                     defer: bool = False) -> Any:
        """The CRM's changed records. On the first run, every record, read whole before any is
        adopted: a person's records that carry no HubSpot id yet (typed in by sales) count
        towards where they start, and the ones nobody matches are reported at the end. With
        ``defer`` (the marketing leg follows), records that carry a HubSpot id wait for their
        person to come by in that leg's pass (``_claim_waiting``), so nobody is read twice.
        They wait in the state store (in memory for a dry run), a page at a time, and so do the
        opportunities they name."""
        if full or self.store.cursor(self._crm_cursor) is not None:
            return self.crm.changed_records(since, until)
        self._waiting = WaitingInMemory() if self.dry_run else StoredWaiting(self.store, summary.run_id)
        # Every record, whatever its clock says: one stamped ahead of ours is still someone's.
        for page in self.crm.changed_records(since, FAR_FUTURE, unlinked=True):
            self._waiting.add(page)
            self._note_unconverted(page)
            if defer:
                summary.add("pulled_crm", sum(1 for r in page if r.hubspot_id))
        # Their opportunities, read together once rather than a query per page of people, and
        # kept with them (in the store) until adopted.
        self._waiting.read_opportunities(self.crm.opportunities)
        return iter(()) if defer else self._waiting.left_with_id(ADOPTION_BATCH)

    def _note_unconverted(self, records: Sequence[CrmRecord]) -> None:
        """Lead records the CRM has just said are not converted: writes to them this run need no
        check (one converted by hand since is refused, quarantined, and followed next cycle)."""
        self._unconverted.update(r.id for r in records if r.kind == LEAD and not r.is_converted)

    def _claim_waiting(self, people: Sequence[Person], now: datetime,
                       summary: Summary) -> dict[str, list[CrmRecord]] | None:
        """First run: the CRM records waiting for these people, taken in one go. Known people
        take theirs in as sales' feedback; the new people's are returned, to be adopted with
        them (``_adopt_people``). ``None`` when nothing waits (not a first run)."""
        if self._waiting is None:
            return None
        taken = self._waiting_for(people)
        known = self._people(list(taken)) if taken else {}
        feedback = [r for pid in known for r in taken.pop(pid)]
        if feedback:
            self._absorb_records(feedback, now, summary)
        return taken

    def _settle_waiting(self, now: datetime, summary: Summary) -> None:
        """First run, after the marketing pass: records whose person never came by (merged away
        or deleted in the marketing platform) are followed or reported as the CRM leg would."""
        if self._waiting is None:
            return
        for batch in self._waiting.left_with_id(ADOPTION_BATCH):
            self._take_records(batch, now, summary, counted=True)

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
        self._adopt_people(people, now, summary)     # anyone new starts where sales has them
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
        summary.add("activities", self._add_activities(found))

    def _absorb_records(self, records: Sequence[CrmRecord], now: datetime, summary: Summary, *,
                        news_only: bool = False) -> list[str]:
        """Take sales' view of each record in: identity, BANT fields, status → stage. With
        ``news_only``, a record that says what leadsync already holds is passed over."""
        sales_fields = P.sales_owned_fields(self.maps)
        by_crm_id = self._people_by_crm_id([r.id for r in records])
        known = self._people([r.hubspot_id for r in records if r.hubspot_id])
        touched: list[str] = []
        rows = []
        for record in records:
            person = known.get(record.hubspot_id or "") or by_crm_id.get(record.id)
            if person is None:
                continue   # not known yet: adoption's (or, matching nobody, reported)
            if news_only and _as_known(record, person, sales_fields):
                continue   # nothing sales changed (leadsync's own write coming back): no news
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
                    self._report(summary, now, kind="gate_violation", system=self.crm.name,
                                 hubspot_id=person["hubspot_id"], email=person.get("email"),
                                 message=f"{person.get('email')}: {move.rule}")
            rows.append(row)
            touched.append(person["hubspot_id"])
        self._save_people(rows, now)
        return touched

    def _follow_opportunities(self, now: datetime, summary: Summary, only: set[str] | None = None) -> None:
        """Open opportunities' amounts and stages, taken in; people whose stage moved are qualified
        again. Read a batch of people at a time, with only the columns this needs."""
        moved: list[str] = []
        for batch in self._people_in_batches(("sal", "sql", "opportunity"), having="opportunity_id",
                                             batch=HANDED_OFF_BATCH, columns=FOLLOW_COLUMNS):
            open_people = [p for p in batch.values() if only is None or p["hubspot_id"] in only]
            if open_people:
                moved += self._follow_batch(open_people, now, summary)
        if moved:
            self._process(self.marketing.people(moved), now, summary)

    def _follow_batch(self, open_people: Sequence[Mapping[str, Any]], now: datetime, summary: Summary) -> list[str]:
        """One batch of ``_follow_opportunities``: the ids of the people whose stage moved."""
        opportunities = self.crm.opportunities([p["opportunity_id"] for p in open_people])
        moved = []
        amounts = [{"hubspot_id": p["hubspot_id"], "opportunity_amount": opportunities[p["opportunity_id"]].amount}
                   for p in open_people if p["opportunity_id"] in opportunities
                   and opportunities[p["opportunity_id"]].amount != p.get("opportunity_amount")]
        if amounts:
            self._save_people(amounts, now)
        for person in open_people:
            opportunity = opportunities.get(person["opportunity_id"])
            move = opportunity and from_opportunity(person["stage"], opportunity, self.feedback, now,
                                                    may_stall=bool(person.get("handoffs")))
            if move:
                self._transition(person, move.to_stage, move.cause, move.rule, now, summary)
                recycled = {"recycled_at": now} if move.to_stage == "recycled" else {}
                self._save_people([{"hubspot_id": person["hubspot_id"], "stage": move.to_stage,
                                    "reason": move.rule, **recycled}], now)
                moved.append(person["hubspot_id"])
        return moved

    def _pull_touches(self, now: datetime, summary: Summary) -> None:
        """Sales touches (Tasks, Events) on handed-off leads: for SLA and the score."""
        records, earliest = self._working_records(now)
        if earliest is None:
            return
        # Touches since the last pull (less the lookback), or since the earliest handoff the
        # first time: a quiet cycle reads nothing it has read before.
        last = self.store.cursor(TOUCH_CURSOR)
        since = max(earliest, last - self.lookback) if last else earliest
        touches = self.crm.touches(records, since)
        by_person = {r.hubspot_id: touches.get(r.id, []) for r in records}
        summary.add("activities", self._add_activities(by_person))
        if not self.dry_run:
            self.store.set_cursor(TOUCH_CURSOR, now, now)

    def _working_records(self, now: datetime) -> tuple[list[CrmRecord], datetime | None]:
        """The records of the people sales is working, and their earliest handoff (None: nobody).
        The CRM is asked for their touches at once (a busy org's are one read, not one per
        batch), so they are made from a few columns read a batch at a time: in a large org
        these people are thousands, and their whole rows are never all in memory at once."""
        records: list[CrmRecord] = []
        earliest: datetime | None = None
        for batch in self._people_in_batches(("mql", "sal", "sql"), having="crm_id", batch=HANDED_OFF_BATCH,
                                             columns=TOUCH_COLUMNS):
            for p in batch.values():
                if p["crm_id"] == PLANNED_ID:
                    continue
                records.append(CrmRecord(id=p["crm_id"], kind=p.get("crm_object") or LEAD, email=p.get("email"),
                                         hubspot_id=p["hubspot_id"], status=p.get("crm_status"),
                                         owner_id=p.get("owner_id"), fields={}, modified_at=now))
                handoff = p.get("handoff_at") or now
                earliest = handoff if earliest is None else min(earliest, handoff)
        return records, earliest

    # -- qualify and write -----------------------------------------------------------------------


def _as_known(record: CrmRecord, person: Mapping[str, Any], sales_fields: Callable[[str], bool]) -> bool:
    """Whether a CRM record says what leadsync already holds of it: same record, status, owner,
    account, opportunity, and the same values in the fields where the CRM's word counts (BANT,
    fields the CRM wins). Then its change was leadsync's own write (profile fields it copies
    from HubSpot), and there is nothing to take in. The nightly reconciliation compares all."""
    if person.get("crm_id") != record.id or (person.get("crm_object") or LEAD) != record.kind:
        return False
    if (person.get("crm_status"), person.get("owner_id")) != (record.status, record.owner_id):
        return False
    if (record.opportunity_id or None) != (person.get("opportunity_id") or None):
        return False
    if record.account_id and record.account_id != person.get("account_id"):
        return False
    return _comparable(record.fields, sales_fields) == _comparable(person.get("crm_fields") or {}, sales_fields)


def _comparable(fields: Mapping[str, Any], keep: Callable[[str], bool]) -> dict[str, str]:
    """Field values as stored (JSON) and as read compare equal when they are the same value."""
    return {k: v.isoformat() if isinstance(v, datetime) else str(v)
            for k, v in fields.items() if v not in (None, "") and keep(k)}


def _usage_since(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """This run's calls and retries (the transport counts for the life of the process);
    remaining quota and limit as last reported."""
    result = {}
    for system, now_ in after.items():
        then = before.get(system, {})
        result[system] = {**now_, "calls": now_.get("calls", 0) - then.get("calls", 0),
                          "retries": now_.get("retries", 0) - then.get("retries", 0)}
    return result
