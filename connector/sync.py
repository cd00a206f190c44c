"""One sync cycle: pull both systems → resolve identities → qualify → write back → record.

The engine knows no vendor: it speaks to a ``MarketingPlatform`` and a ``Crm`` (adapters/base.py).
Ordering guarantees:
- a cursor advances only after every write caused by the batch it covers has been attempted
  and its outcome (written or quarantined) recorded, and never past the cycle's start time;
- a person's stage is saved only with the writes that make it true in both systems: a failed
  handoff leaves the person where it was, quarantined, to be tried again.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

from connector import plan as P
from connector.adapters.base import Crm, CrmRecord, MarketingPlatform, Person, Write, WriteOutcome
from connector.definition import Definition
from connector.errors import QuotaExhausted, SkippableRecord
from connector.feedback import FeedbackRules, from_opportunity, from_record
from connector.handoff import HandoffRules, route
from connector.qualify import Qualification, evaluate, handoff_reason
from connector.state import Store

log = logging.getLogger("leadsync.sync")

HUBSPOT_CURSOR = "hubspot.people"
ACTIVITY_CURSOR = "hubspot.activities"
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)   # "from the beginning" for a first full read
# Pulls read a little past the cycle's start: SOQL datetimes have whole seconds, and a system's
# clock may run slightly ahead of ours. Cursors stay capped at the start, so whatever is read
# early is read again next cycle (harmlessly: unchanged values are never rewritten).
AHEAD = timedelta(seconds=1)
CRM_CURSOR = "salesforce.records"
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=12))


@dataclass
class Summary:
    run_id: int = 0
    kind: str = "sync"
    outcome: str = "ok"
    message: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {
        "pulled_hubspot": 0, "pulled_crm": 0, "activities": 0, "qualified": 0, "handed_off": 0,
        "converted": 0, "recycled": 0, "disqualified": 0, "near_qualified": 0,
        "written_hubspot": 0, "written_crm": 0, "quarantined": 0, "gate_violations": 0, "deleted": 0})
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    sla_breaches: list[dict[str, Any]] = field(default_factory=list)
    api: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


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
    planned: list[dict[str, Any]] = field(default_factory=list)   # dry-run: what would be written
    _schema_ready: bool = False
    _compare_remote: bool = False
    _crm_records: Mapping[str, CrmRecord] = field(default_factory=dict)

    # -- entry points ----------------------------------------------------------------------
    def cycle(self, kind: str = "sync", legs: Sequence[str] = ("salesforce", "hubspot")) -> Summary:
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

    # -- legs ------------------------------------------------------------------------------------
    def _legs(self, now: datetime, summary: Summary, legs: Sequence[str]) -> None:
        if not self._schema_ready and not self.dry_run:
            self.marketing.ensure_schema()
            self._schema_ready = True
        if "salesforce" in legs:
            self._crm_leg(now, summary)
        if "hubspot" in legs:
            self._hubspot_leg(now, summary)
        self._retry_quarantine(now, summary)

    def _hubspot_leg(self, now: datetime, summary: Summary, *, full: bool = False) -> None:
        since = self.store.cursor(HUBSPOT_CURSOR) or (now - self.first_run_since if self.first_run_since else EPOCH)
        batches = iter(self.marketing.changed_people(EPOCH if full else since - self.lookback, now + AHEAD))
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
        since = (self.store.cursor(CRM_CURSOR) or (now - self.first_run_since if self.first_run_since else EPOCH)) - self.lookback
        if full:
            since = EPOCH
        for batch in self.crm.changed_records(since, now + AHEAD):
            if not batch:
                continue
            summary.add("pulled_crm", len(batch))
            ids = self._absorb_records(batch, now, summary)
            self._process(self.marketing.people(ids) if ids else [], now, summary, compare_remote=full,
                          crm_records={r.hubspot_id: r for r in batch if r.hubspot_id})
            if not self.dry_run:
                self.store.set_cursor(CRM_CURSOR, min(max(r.modified_at for r in batch), now), now)
        if self.stopping():
            return   # the pull was cut short: the cursor stays at the last batch written
        self._pass_complete(CRM_CURSOR, now)
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
            row = {"hubspot_id": person["hubspot_id"], "crm_id": record.id, "crm_object": record.object,
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
                       if p.get("opportunity_id") and p["stage"] in ("sql", "opportunity")
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
        records = [CrmRecord(id=p["crm_id"], object=p.get("crm_object") or "Lead", email=p.get("email"),
                             hubspot_id=p["hubspot_id"], status=p.get("crm_status"), owner_id=p.get("owner_id"),
                             fields={}, modified_at=now) for p in working]
        since = min((p.get("handoff_at") or now) for p in working)
        touches = self.crm.touches(records, since)
        by_person = {p["hubspot_id"]: touches.get(p["crm_id"], []) for p in working}
        if not self.dry_run:
            summary.add("activities", self.store.add_activities(by_person))

    # -- qualify and write -----------------------------------------------------------------------
    def _process(self, people: Sequence[Person], now: datetime, summary: Summary, *, compare_remote: bool = False,
                 crm_records: Mapping[str, CrmRecord] | None = None) -> None:
        if not people:
            return
        self._compare_remote, self._crm_records = compare_remote, crm_records or {}
        stored = self.store.people([p.id for p in people])
        window = timedelta(days=self.definition.engagement.window_days)
        activities = self.store.activities([p.id for p in people], since=now - window)
        plans: list[tuple[Person, dict[str, Any], P.PersonPlan, P.Outputs]] = []
        for person in people:
            row = stored.get(person.id) or {"hubspot_id": person.id, "stage": "subscriber", "crm_fields": {},
                                            "handoffs": 0, "_new": True}
            lead = P.merge_fields(person.fields, row.get("crm_fields") or {}, self.maps.crm_fields)
            counted = activities_that_count(row, activities.get(person.id, []))
            result = evaluate(lead, counted, self.definition, now, row["stage"])
            plans.append((person, row, *self._plan(person, row, lead, result, now)))
        self._write(plans, now, summary)

    def _plan(self, person: Person, row: Mapping[str, Any], lead: Mapping[str, Any], result: Qualification,
              now: datetime) -> tuple[P.PersonPlan, P.Outputs]:
        stage, new_stage = row["stage"], result.stage
        plan = P.PersonPlan(person.id, lead.get("email"), stage, new_stage, rule=_why(result))
        plan.new_handoff = new_stage == "mql" and stage != "mql"
        plan.convert = new_stage == "sql" and stage == "sal" and bool(row.get("crm_id"))
        if new_stage == "sql" and stage == "sal":
            passed = [b.criterion for b in result.bant if b.verdict]
            plan.rule = (f"BANT verified: {result.bant_score:g} passed, {self.definition.bant_require:g} needed "
                         f"({', '.join(passed)})")
        plan.recycling = new_stage == "recycled" and _lifecycle_of(person) not in (None, "", "lead", "subscriber")
        handoff_at = now if plan.new_handoff else row.get("handoff_at")
        reason = (handoff_reason(result, lead) if new_stage in ("mql", "sal", "sql", "opportunity", "customer")
                  else row.get("reason") if new_stage == "recycled"
                  else f"Disqualified: {result.disqualified_by}" if result.disqualified_by
                  else f"Near-qualified: missing {result.missing}" if result.missing else "")
        # Scores are written as whole numbers: decay moves the exact value every minute, and
        # each write would bump the record and come back as a change (ping-pong).
        out = P.Outputs(new_stage, round(result.score), round(result.profile_score), round(result.engagement_score),
                        handoff_at, reason or "", result.missing or "", result.definition_version)
        last_hs = self.store.written("hubspot", [person.id]).get(person.id, {})
        if self._compare_remote:
            # Reconciliation trusts what HubSpot holds now over what leadsync last wrote.
            last_hs = {**last_hs, **P.remote_values(person.written or {})}
        plan.hubspot = P.changed(P.hubspot_values(out, self.maps, _lifecycle_of(person), recycling=plan.recycling), last_hs)
        plan.old = {("hubspot", k): (person.written or {}).get(k, last_hs.get(k)) for k in plan.hubspot}
        if P.reaches_crm(new_stage, bool(row.get("crm_id"))) and new_stage != "disqualified":
            desired = P.crm_values(out, lead, self.maps, person.id, new_handoff=plan.new_handoff)
            last_crm = self.store.written(self.crm.name, [person.id]).get(person.id, {})
            record = self._crm_records.get(person.id)
            if self._compare_remote and record is not None:
                last_crm = {**last_crm, **P.remote_values(record.written or {})}
            plan.crm = desired if plan.new_handoff else P.changed(desired, last_crm)
            plan.old.update({("crm", k): last_crm.get(k) for k in plan.crm})
        return plan, out

    def _write(self, plans: list, now: datetime, summary: Summary) -> None:
        handoffs = [(p, row, pl, out) for p, row, pl, out in plans if pl.new_handoff]
        handed = self._hand_off(handoffs, now, summary) if handoffs else WriteOutcome()
        for p, row, pl, out in plans:
            if pl.crm and not pl.new_handoff:
                pl.crm = P.for_object(pl.crm, row.get("crm_object") or "Lead", self.maps)
        updates = [Write(pl.hubspot_id, row["crm_id"], pl.crm, row.get("crm_object") or "Lead")
                   for p, row, pl, out in plans if pl.crm and not pl.new_handoff and row.get("crm_id")]
        crm_outcome = self._send(self.crm.update, updates, summary, "crm") if updates else WriteOutcome()
        converted = self._convert([(row, pl) for p, row, pl, out in plans if pl.convert], summary)
        hs_writes = [Write(pl.hubspot_id, pl.hubspot_id, pl.hubspot) for p, row, pl, out in plans if pl.hubspot]
        # A failed handoff must not tell HubSpot the lead reached sales.
        hs_writes = [w for w in hs_writes if w.key not in handed.failed]
        hs_outcome = self._send(self.marketing.write, hs_writes, summary, "hubspot") if hs_writes else WriteOutcome()
        if self.dry_run:
            self._explain_planned(plans)
        self._record(plans, handed, crm_outcome, converted, hs_outcome, now, summary)

    def _explain_planned(self, plans: list) -> None:
        """A dry run shows, beside each planned value, what is there now and the rule behind it."""
        by_key = {pl.hubspot_id: pl for _, _, pl, _ in plans}
        for entry in self.planned:
            pl = by_key.get(entry["key"])
            if pl is None or "rule" in entry:
                continue
            side = "hubspot" if entry["system"] == "hubspot" else "crm"
            entry["current"] = {name: pl.old.get((side, name)) for name in entry["values"]}
            entry["rule"] = pl.rule

    def _send(self, method: Callable[[Sequence[Write]], WriteOutcome], writes: list[Write], summary: Summary,
              system: str) -> WriteOutcome:
        if self.dry_run:
            for w in writes:
                self.planned.append({"system": system, "key": w.key, "record": w.record_id, "object": w.object,
                                     "values": dict(w.values)})
            return WriteOutcome(written={w.key: w.record_id or "(new)" for w in writes})
        return method(writes)

    def _hand_off(self, handoffs: list, now: datetime, summary: Summary) -> WriteOutcome:
        """Create (or re-open) the CRM record for each new mql, routed to its owner, with a
        follow-up Task due at the SLA deadline. Dedupes beyond email first."""
        emails = [pl.email for _, _, pl, _ in handoffs if pl.email]
        existing = self.crm.find_records(emails=emails, hubspot_ids=[pl.hubspot_id for _, _, pl, _ in handoffs])
        domains = sorted({(pl.email or "").rsplit("@", 1)[-1].lower() for _, _, pl, _ in handoffs if pl.email})
        accounts = self.crm.accounts_by_domain(domains) if domains else {}
        writes: list[Write] = []
        for person, row, pl, out in handoffs:
            decision = route(pl.hubspot_id, pl.email, row, existing, accounts, self.handoff, self._next_owner)
            values = dict(pl.crm)
            values.update(decision.extra_values)
            pl.crm = P.for_object(values, decision.object, self.maps)
            row["_route"] = decision
            writes.append(Write(pl.hubspot_id, decision.record_id, pl.crm, decision.object))
        # A record found by email (no external id yet) is updated by id: an upsert on the
        # external id would create a duplicate beside it.
        outcome = WriteOutcome()
        reuse = [w for w in writes if w.record_id]
        create = [w for w in writes if not w.record_id]
        if reuse:
            outcome.merge(self._send(self.crm.update, reuse, summary, "crm"))
        if create:
            outcome.merge(self._send(self.crm.upsert, create, summary, "crm"))
        tasks = []
        for person, row, pl, out in handoffs:
            record_id = outcome.written.get(pl.hubspot_id)
            if record_id and self.handoff.follow_up_task:
                tasks.append(Write(pl.hubspot_id, None, self.handoff.task_values(record_id, row["_route"], now,
                                                                                 self.definition), "Task"))
        if tasks:
            task_outcome = self._send(self.crm.update, tasks, summary, "crm")
            for key, error in task_outcome.failed.items():
                self._quarantine(key, None, self.crm.name, "task", error, now, summary)
        return outcome

    def _next_owner(self) -> str | None:
        users = self.handoff.users
        if not users:
            return None
        position = int(self.store.get("round_robin", 0) or 0)
        if not self.dry_run:
            self.store.put("round_robin", position + 1)
        return users[position % len(users)]

    def _convert(self, items: list[tuple[dict[str, Any], P.PersonPlan]], summary: Summary) -> WriteOutcome:
        if not items:
            return WriteOutcome()
        if self.dry_run:
            for row, pl in items:
                self.planned.append({"system": "crm", "key": pl.hubspot_id, "record": row["crm_id"], "object": "Lead",
                                     "values": {"convertLead": self.feedback.qualified_stage}})
            return WriteOutcome()
        ids = [row["crm_id"] for row, _ in items]
        outcome = self.crm.convert(ids, opportunity_stage=self.feedback.qualified_stage)
        return outcome

    def _record(self, plans: list, handed: WriteOutcome, crm_outcome: WriteOutcome, converted: WriteOutcome,
                hs_outcome: WriteOutcome, now: datetime, summary: Summary) -> None:
        """Commit what was written: per-system values, changes, transitions, people, quarantine."""
        if self.dry_run:
            return
        changes, rows = [], []
        for person, row, pl, out in plans:
            crm_failed = handed.failed.get(pl.hubspot_id) or crm_outcome.failed.get(pl.hubspot_id)
            convert_failed = converted.failed.get(row.get("crm_id") or "")
            snapshot = {"hubspot_id": person.id, "email": person.fields.get("email"),
                        "email_domain": _domain(person.fields.get("email")), "company_id": person.company_id,
                        "fields": dict(person.fields), "modified_at": person.modified_at, "score": out.score,
                        "missing": out.missing or None, "definition_version": out.definition_version}
            stage_holds = not crm_failed and not convert_failed
            if stage_holds:
                snapshot["stage"] = pl.to_stage
                if pl.to_stage != pl.from_stage and pl.to_stage != "recycled" or pl.new_handoff:
                    snapshot["reason"] = out.reason
            else:
                snapshot["stage"] = pl.from_stage
            if pl.new_handoff and stage_holds:
                decision = row.get("_route")
                snapshot.update(handoff_at=now, handoffs=int(row.get("handoffs") or 0) + 1,
                                crm_id=handed.written.get(pl.hubspot_id),
                                crm_object=decision.object if decision else "Lead",
                                existing_customer=bool(decision and decision.existing_customer),
                                owner_id=decision.owner_id if decision else None)
                summary.add("handed_off")
                summary.handoffs.append({"email": pl.email, "score": out.score, "reason": out.reason,
                                         "crm_id": snapshot["crm_id"], "object": snapshot["crm_object"]})
            if pl.convert and stage_holds:
                snapshot["opportunity_id"] = converted.written.get(row["crm_id"])
                summary.add("converted")
            if stage_holds and pl.to_stage != pl.from_stage:
                self._transition(row, pl.to_stage, pl.cause, pl.rule, now, summary)
            if crm_failed:
                self._quarantine(pl.hubspot_id, pl.email, self.crm.name, "handoff" if pl.new_handoff else "write",
                                 crm_failed, now, summary)
            elif pl.crm:
                record_id = snapshot.get("crm_id") or row.get("crm_id")
                self.store.record_written(self.crm.name, pl.hubspot_id, pl.crm, now)
                changes += _changes(pl, self.crm.name, "crm", record_id, pl.crm, out, now, summary.run_id)
                summary.add("written_crm")
                self.store.release(system=self.crm.name, hubspot_id=pl.hubspot_id)
            if convert_failed:
                self._quarantine(pl.hubspot_id, pl.email, self.crm.name, "convert", convert_failed, now, summary)
            hs_failed = hs_outcome.failed.get(pl.hubspot_id)
            if hs_failed:
                self._quarantine(pl.hubspot_id, pl.email, "hubspot", "write", hs_failed, now, summary)
            elif pl.hubspot and pl.hubspot_id not in handed.failed:
                self.store.record_written("hubspot", pl.hubspot_id, pl.hubspot, now)
                changes += _changes(pl, "hubspot", "hubspot", pl.hubspot_id, pl.hubspot, out, now, summary.run_id)
                summary.add("written_hubspot")
                self.store.release(system="hubspot", hubspot_id=pl.hubspot_id)
            if out.missing:
                summary.add("near_qualified")
            if pl.to_stage == "disqualified" and pl.from_stage != "disqualified":
                summary.add("disqualified")
            if pl.to_stage == "mql":
                summary.add("qualified")
            rows.append(snapshot)
        self.store.save_people(rows, now)
        self.store.add_changes(changes)

    def _transition(self, person: Mapping[str, Any], to_stage: str, cause: str, rule: str, now: datetime,
                    summary: Summary) -> None:
        if self.dry_run:
            return
        if to_stage == "recycled":
            summary.add("recycled")
        self.store.add_transition(person["hubspot_id"], person.get("stage"), to_stage, now, cause=cause, rule=rule,
                                  definition_version=self.definition.version, run_id=summary.run_id)

    def _quarantine(self, key: str, email: str | None, system: str, operation: str, error: SkippableRecord,
                    now: datetime, summary: Summary) -> None:
        previous = [q for q in self.store.quarantined() if q.system == system and q.hubspot_id == key and q.operation == operation]
        attempts = previous[0].attempts if previous else 0
        backoff = RETRY_BACKOFF[min(attempts, len(RETRY_BACKOFF) - 1)]
        self.store.quarantine(system=system, hubspot_id=key, email=email, operation=operation, code=error.code,
                              reason=str(error), detail=error.detail, transient=error.transient, now=now,
                              next_attempt_at=now + backoff if error.transient else None)
        self.store.add_error(run_id=summary.run_id, at=now, kind="quarantined", system=system, hubspot_id=key,
                             email=email, message=f"{operation} quarantined: {error}", detail=error.detail)
        summary.add("quarantined")

    def _retry_quarantine(self, now: datetime, summary: Summary) -> None:
        due = self.store.quarantined(due_at=now)
        ids = sorted({q.hubspot_id for q in due})
        if ids and not self.dry_run:
            log.info("retrying %d quarantined people", len(ids))
            self._process(self.marketing.people(ids), now, summary)


def _usage_since(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """This run's calls and retries (the transport counts for the life of the process);
    remaining quota and limit as last reported."""
    result = {}
    for system, now_ in after.items():
        then = before.get(system, {})
        result[system] = {**now_, "calls": now_.get("calls", 0) - then.get("calls", 0),
                          "retries": now_.get("retries", 0) - then.get("retries", 0)}
    return result


def activities_that_count(person: Mapping[str, Any], activities: Sequence[Any]) -> list[Any]:
    """After sales recycles a lead, only new engagement can earn it a new handoff: what it did
    before the rejection was already judged not enough by sales."""
    since = person.get("recycled_at")
    return [a for a in activities if a.occurred_at > since] if since else list(activities)


def _why(result: Qualification) -> str:
    if result.disqualified_by:
        return f"fit: {result.disqualified_by}"
    failed = [g.name for g in result.gates if g.verdict is False]
    verdict = "qualified" if result.mql else ("not qualified: " + ", ".join(failed) if failed else "not qualified")
    return f"{verdict} (score {result.score:g}, definition v{result.definition_version})"


def _lifecycle_of(person: Person) -> str | None:
    return (person.written or {}).get("lifecyclestage")


def _domain(email: str | None) -> str | None:
    return email.rsplit("@", 1)[-1].lower() if email and "@" in email else None


def _changes(pl: P.PersonPlan, system: str, side: str, record_id: str | None, values: Mapping[str, Any],
             out: P.Outputs, now: datetime, run_id: int) -> list[dict[str, Any]]:
    return [{"run_id": run_id, "at": now, "hubspot_id": pl.hubspot_id, "email": pl.email,
             "account": _domain(pl.email), "system": system, "record_id": record_id, "field": name,
             "old": pl.old.get((side, name)), "new": value, "rule": pl.rule,
             "definition_version": out.definition_version} for name, value in values.items()]
