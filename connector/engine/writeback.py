"""Write-back: qualify each person, plan what both systems should hold, write what differs,
and record it. The second half of a cycle (sync.py pulls; this writes).

Ordering guarantees:
- a person's stage is saved only with the writes that make it true in both systems: a failed
  handoff leaves the person where it was, quarantined, to be tried again;
- a failed handoff never tells HubSpot the lead reached sales;
- what was written is recorded (per system, per field) only after the write succeeded.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from connector.core import plan as P
from connector.ports import LEAD, CrmRecord, FollowUp, Person, Write, WriteOutcome
from connector.core.errors import SkippableRecord
from connector.core.handoff import route
from connector.core.lead import activities_that_count, merge_fields
from connector.core.mapping import email_domain
from connector.core.explain import disqualification_reason
from connector.core.qualify import Qualification, evaluate, handoff_reason

if TYPE_CHECKING:
    from connector.engine.summary import Summary

log = logging.getLogger("leadsync.sync")

# Kept beside the values leadsync wrote to a contact: the modified time that write produced. A
# contact still at that time has not been changed by anyone since (its next pull is an echo).
ECHO = "_modified_at"
# A dry run's stand-in for the id of a record it would create.
PLANNED_ID = "(new)"
# Stages in which leadsync manages a person; from sal on, sales does (and owns hs_lead_status).
MARKETING_STAGES = frozenset({"subscriber", "lead", "mql", "recycled", "disqualified"})

# Transient record failures are retried on later cycles, each time waiting longer.
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=12))


@dataclass
class _Remote:
    """Compare with what each system holds now (reconcile, resync) instead of with what
    leadsync last wrote (the incremental loops). ``ours``: what leadsync last wrote, per side
    ("hubspot", "crm") and person, read once for the batch."""

    compare: bool
    crm_records: Mapping[str, CrmRecord]
    ours: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)


class WriteBack:
    """Mixed into the sync ``Engine``; uses its store, adapters, definition, maps and rules."""

    def _process(self, people: Sequence[Person], now: datetime, summary: Summary, *, compare_remote: bool = False,
                 crm_records: Mapping[str, CrmRecord] | None = None) -> None:
        plans = self._prepare(people, now, summary, compare_remote=compare_remote, crm_records=crm_records)
        if plans:
            self._write(plans, now, summary)

    def _prepare(self, people: Sequence[Person], now: datetime, summary: Summary, *, compare_remote: bool = False,
                 crm_records: Mapping[str, CrmRecord] | None = None) -> list:
        """Qualify each person and plan what both systems should hold (``_write`` writes it)."""
        # A record that waits for a person (a permanent refusal, or dropped) is not written again,
        # however often it comes round, until someone asks for a retry.
        held = self.store.held([p.id for p in people])
        if held:
            summary.add("held", len(held))
            people = [p for p in people if p.id not in held]
        if not people:
            return []
        remote = _Remote(compare_remote, crm_records or {})
        stored = self._people([p.id for p in people])
        window = timedelta(days=self.definition.engagement.window_days)
        activities = self._activities([p.id for p in people], since=now - window)
        ids = [p.id for p in people]
        remote.ours = {"hubspot": self._written("hubspot", ids), "crm": self._written(self.crm.name, ids)}
        plans: list[tuple[Person, dict[str, Any], P.PersonPlan, P.Outputs]] = []
        for person in people:
            row = stored.get(person.id) or {"hubspot_id": person.id, "stage": "subscriber", "crm_fields": {},
                                            "handoffs": 0, "_new": True}
            lead = merge_fields(person.fields, row.get("crm_fields") or {}, self.maps.crm_fields)
            counted = activities_that_count(row, activities.get(person.id, []))
            result = evaluate(lead, counted, self.definition, now, row["stage"])
            plans.append((person, row, *self._plan(person, row, lead, result, now, remote)))
        return plans

    def _plan(self, person: Person, row: Mapping[str, Any], lead: Mapping[str, Any], result: Qualification,
              now: datetime, remote: "_Remote") -> tuple[P.PersonPlan, P.Outputs]:
        person = self._as_staged(person)
        stage, new_stage = row["stage"], result.stage
        plan = P.PersonPlan(person.id, lead.get("email"), stage, new_stage, rule=_why(result))
        plan.new_handoff = new_stage == "mql" and stage != "mql"
        plan.convert = P.converts(stage, new_stage, self.feedback.convert_at, row)
        plan.advance = P.advances(stage, new_stage, row)
        if new_stage == "sql" and stage == "sal":
            passed = [b.criterion for b in result.bant if b.verdict]
            plan.rule = (f"BANT verified: {result.bant_score:g} passed, {self.definition.bant_require:g} needed "
                         f"({', '.join(passed)})")
        # Only a recycle leadsync saw happen (it sets recycled_at) moves lifecyclestage back; a
        # person adopted as recycled keeps what HubSpot holds.
        plan.recycling = (new_stage == "recycled" and bool(row.get("recycled_at"))
                          and _lifecycle_of(person) not in (None, "", "lead", "subscriber"))
        handoff_at = now if plan.new_handoff else row.get("handoff_at")
        reason = (handoff_reason(result, lead) if new_stage in ("mql", "sal", "sql", "opportunity", "customer")
                  else row.get("reason") if new_stage == "recycled"
                  else disqualification_reason(result) if result.disqualified_by
                  else f"Near-qualified: missing {result.missing}" if result.missing else "")
        # Scores are written as whole numbers: decay moves the exact value every minute, and
        # each write would bump the record and come back as a change (ping-pong).
        out = P.Outputs(new_stage, round(result.score), round(result.profile_score), round(result.engagement_score),
                        handoff_at, reason or "", result.missing or "", result.definition_version)
        ours = remote.ours["hubspot"].get(person.id, {})
        last_hs = dict(ours)
        if remote.compare:
            # Reconciliation and resync trust what HubSpot holds now over what leadsync last wrote.
            last_hs = {**last_hs, **P.remote_values(person.written or {})}
        desired = P.hubspot_values(out, self.maps, _lifecycle_of(person), recycling=plan.recycling)
        desired = P.leave_sales_status(desired, new_stage in MARKETING_STAGES, person.written or {}, ours)
        plan.hubspot = P.changed(desired, last_hs)
        plan.old = {("hubspot", k): (person.written or {}).get(k, last_hs.get(k)) for k in plan.hubspot}
        if P.reaches_crm(new_stage, bool(row.get("crm_id"))) and new_stage != "disqualified":
            desired = P.crm_values(out, lead, self.maps)
            last_crm = remote.ours["crm"].get(person.id, {})
            record = remote.crm_records.get(person.id)
            if remote.compare and record is not None:
                last_crm = {**last_crm, **P.remote_values(record.written or {})}
            plan.crm = desired if plan.new_handoff else P.changed(desired, last_crm)
            plan.old.update({("crm", k): last_crm.get(k) for k in plan.crm})
        return plan, out

    def _as_staged(self, person: Person) -> Person:
        """In a dry run, a person as HubSpot would hold them had the run's earlier writes been
        made: what a real run reads back when it meets the same person again in the cycle."""
        staged = self._staged.written.get(("hubspot", person.id)) if self._staged is not None else None
        if not staged:
            return person
        return replace(person, written={**(person.written or {}), **{k: v for k, v in staged.items() if k != ECHO}})

    def _write(self, plans: list, now: datetime, summary: Summary) -> None:
        self._record_sent(self._send_batch(plans, now, summary), now, summary)

    def _send_batch(self, plans: list, now: datetime, summary: Summary) -> "Sent":
        """A batch's writes to both systems, and what each answered (nothing recorded yet)."""
        handoffs = [(p, row, pl, out) for p, row, pl, out in plans if pl.new_handoff]
        handed = self._hand_off(handoffs, now, summary) if handoffs else WriteOutcome()
        hs_writes = [Write(pl.hubspot_id, pl.hubspot_id, pl.hubspot, held=p.written)
                     for p, row, pl, out in plans if pl.hubspot]
        # A failed handoff must not tell HubSpot the lead reached sales. Nothing else written to
        # HubSpot waits for the CRM, so it goes out while the CRM's updates are made.
        hs_writes = [w for w in hs_writes if w.key not in handed.failed]
        hs_sent = self._beside(self._send, self.marketing.write, hs_writes, summary, "hubspot") if hs_writes \
            else _Later(WriteOutcome)
        try:
            crm_outcome, converted = self._write_crm(plans, summary)
        finally:
            hs_outcome = hs_sent.result()    # (a CRM failure still waits for HubSpot's answer)
        return Sent(plans, handed, crm_outcome, converted, hs_outcome)

    def _record_sent(self, sent: "Sent", now: datetime, summary: Summary) -> None:
        if self.dry_run:
            self._explain_planned(sent.plans)
        with self.store.batch():
            self._record(sent.plans, sent.handed, sent.crm, sent.converted, sent.hubspot, now, summary)

    def _beside(self, fn: Callable[..., WriteOutcome], *args: Any) -> "Future[WriteOutcome] | _Later":
        """``fn(*args)`` on the engine's second thread, while this one goes on. A dry run runs it
        here when its answer is asked for, so its plan lists the writes in the order made."""
        if self.dry_run:
            return _Later(lambda: fn(*args))
        if self._beside_pool is None:
            self._beside_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadsync-write")
        return self._beside_pool.submit(fn, *args)

    def _write_crm(self, plans: list, summary: Summary) -> tuple[WriteOutcome, WriteOutcome]:
        """Sales' side of a batch: record updates, then conversions and opportunity moves."""
        for p, row, pl, out in plans:
            if pl.crm and not pl.new_handoff:
                pl.crm = P.for_kind(pl.crm, row.get("crm_object") or LEAD, self.maps)
        updates = [Write(pl.hubspot_id, row["crm_id"], pl.crm, row.get("crm_object") or LEAD,
                         unconverted=row["crm_id"] in self._unconverted)
                   for p, row, pl, out in plans if pl.crm and not pl.new_handoff and row.get("crm_id")]
        crm_outcome = self._send(self.crm.update, updates, summary, "crm") if updates else WriteOutcome()
        # Convert only leads whose own update went through: the stage written on the Lead must
        # say sql before it becomes an Opportunity (the admin's hard gate checks exactly that).
        converted = self._convert([(row, pl) for p, row, pl, out in plans
                                   if pl.convert and pl.hubspot_id not in crm_outcome.failed], summary)
        # An opportunity made when its lead was accepted moves to the qualified stage at sql;
        # a failure there holds the stage back like a failed conversion.
        advanced = self._advance([(row, pl) for p, row, pl, out in plans
                                  if pl.advance and pl.hubspot_id not in crm_outcome.failed])
        converted.failed.update({row["crm_id"]: advanced.failed[pl.hubspot_id] for p, row, pl, out in plans
                                 if pl.hubspot_id in advanced.failed})
        return crm_outcome, converted

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
                values = self.crm.planned_values(w) if system == "crm" else dict(w.values)
                self.planned.append({"system": system, "key": w.key, "record": w.record_id, "object": w.kind,
                                     "values": values})
            return WriteOutcome(written={w.key: w.record_id or PLANNED_ID for w in writes})
        return method(writes)

    def _send_follow_ups(self, tasks: list[FollowUp]) -> WriteOutcome:
        if self.dry_run:
            for task in tasks:
                self.planned.append({"system": "crm", "key": task.key, "record": None, "object": "follow_up",
                                     "values": {"subject": task.subject, "due": task.due.isoformat(),
                                                "owner": task.owner_id}})
            return WriteOutcome(written={task.key: PLANNED_ID for task in tasks})
        return self.crm.follow_up(tasks)

    def _hand_off(self, handoffs: list, now: datetime, summary: Summary) -> WriteOutcome:
        """Create (or re-open) the CRM record for each new mql, routed to its owner, with a
        follow-up Task due at the SLA deadline. Dedupes beyond email first."""
        emails = [pl.email for _, _, pl, _ in handoffs if pl.email]
        existing = self.crm.find_records(emails=emails, hubspot_ids=[pl.hubspot_id for _, _, pl, _ in handoffs])
        domains = sorted({d for _, _, pl, _ in handoffs if (d := email_domain(pl.email))})
        accounts = self.crm.accounts_by_domain(domains) if domains else {}
        writes: list[Write] = []
        for person, row, pl, out in handoffs:
            decision = route(pl.hubspot_id, pl.email, row, existing, accounts, self.handoff, self._next_owner)
            pl.crm = P.for_kind(pl.crm, decision.kind, self.maps)
            row["_route"] = decision
            writes.append(Write(pl.hubspot_id, decision.record_id, pl.crm, decision.kind,
                                owner_id=decision.assigned_owner, account_id=decision.account_id, opening=True))
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
                tasks.append(self.handoff.follow_up(pl.hubspot_id, record_id, row["_route"], now, self.definition))
        if tasks:
            task_outcome = self._send_follow_ups(tasks)
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
                self.planned.append({"system": "crm", "key": pl.hubspot_id, "record": row["crm_id"], "object": LEAD,
                                     "values": {"convert": self.feedback.conversion_stage}})
            return WriteOutcome()
        ids = [row["crm_id"] for row, _ in items]
        self._unconverted.difference_update(ids)     # converted now (or maybe): checked before writing again
        outcome = self.crm.convert(ids, opportunity_stage=self.feedback.conversion_stage)
        return outcome

    def _advance(self, items: list[tuple[dict[str, Any], P.PersonPlan]]) -> WriteOutcome:
        """Move the opportunities of leads that just became sql (made at sal) to the qualified
        pipeline stage. Keyed by HubSpot id."""
        if not items:
            return WriteOutcome()
        stage = self.feedback.qualified_stage
        if self.dry_run:
            for row, pl in items:
                self.planned.append({"system": "crm", "key": pl.hubspot_id, "record": row["opportunity_id"],
                                     "object": "opportunity", "values": {"stage": stage}})
            return WriteOutcome()
        return self.crm.set_opportunity_stage({pl.hubspot_id: row["opportunity_id"] for row, pl in items}, stage)

    def _record(self, plans: list, handed: WriteOutcome, crm_outcome: WriteOutcome, converted: WriteOutcome,
                hs_outcome: WriteOutcome, now: datetime, summary: Summary) -> None:
        """Commit what was written: per-system values, changes, transitions, people, quarantine."""
        changes, rows = [], []
        written: dict[str, dict[str, dict[str, Any]]] = {self.crm.name: {}, "hubspot": {}}
        released: dict[str, list[str]] = {self.crm.name: [], "hubspot": []}
        for person, row, pl, out in plans:
            crm_failed = handed.failed.get(pl.hubspot_id) or crm_outcome.failed.get(pl.hubspot_id)
            convert_failed = converted.failed.get(row.get("crm_id") or "")
            snapshot = {"hubspot_id": person.id, "email": person.fields.get("email"),
                        "email_domain": email_domain(person.fields.get("email")), "company_id": person.company_id,
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
                                crm_object=decision.kind if decision else LEAD,
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
                written[self.crm.name][pl.hubspot_id] = dict(pl.crm)
                changes += _changes(pl, self.crm.name, "crm", record_id, pl.crm, out, now, summary.run_id)
                summary.add("written_crm")
                released[self.crm.name].append(pl.hubspot_id)
            if convert_failed:
                self._quarantine(pl.hubspot_id, pl.email, self.crm.name, "convert", convert_failed, now, summary)
            hs_failed = hs_outcome.failed.get(pl.hubspot_id)
            if hs_failed:
                self._quarantine(pl.hubspot_id, pl.email, "hubspot", "write", hs_failed, now, summary)
            elif pl.hubspot and pl.hubspot_id not in handed.failed:
                stamp = hs_outcome.stamps.get(pl.hubspot_id)
                written["hubspot"][pl.hubspot_id] = {**pl.hubspot, ECHO: P.stamp(stamp) if stamp else None}
                changes += _changes(pl, "hubspot", "hubspot", pl.hubspot_id, pl.hubspot, out, now, summary.run_id)
                summary.add("written_hubspot")
                released["hubspot"].append(pl.hubspot_id)
            if out.missing:
                summary.add("near_qualified")
            if pl.to_stage == "disqualified" and pl.from_stage != "disqualified":
                summary.add("disqualified")
            if pl.to_stage == "mql" and pl.from_stage != "mql" and stage_holds:
                summary.add("qualified")   # newly qualified in this run, not everyone who still is
            rows.append(snapshot)
        for system, by_record in written.items():
            self._record_written_many(system, by_record, now)
        if not self.dry_run:
            for system, keys in released.items():
                self.store.release_many(system, keys)
        self._save_people(rows, now)
        if self.dry_run:
            self.planned_changes.extend(changes)
        else:
            self.store.add_changes(changes)

    def _transition(self, person: Mapping[str, Any], to_stage: str, cause: str, rule: str, now: datetime,
                    summary: Summary) -> None:
        if to_stage == "recycled":
            summary.add("recycled")
        if self.dry_run:
            self.planned_transitions.append({"hubspot_id": person["hubspot_id"], "email": person.get("email"),
                                             "from": person.get("stage"), "to": to_stage, "cause": cause,
                                             "rule": rule})
            return
        # Kept with the people they move: written by the next _save_people (staging.py).
        self._transitions_mine().append({"hubspot_id": person["hubspot_id"], "from_stage": person.get("stage"),
                                         "to_stage": to_stage, "at": now, "cause": cause, "rule": rule,
                                         "definition_version": self.definition.version, "run_id": summary.run_id})

    def _quarantine(self, key: str, email: str | None, system: str, operation: str, error: SkippableRecord,
                    now: datetime, summary: Summary) -> None:
        previous = [q for q in self.store.quarantined() if q.system == system and q.hubspot_id == key and q.operation == operation]
        attempts = previous[0].attempts if previous else 0
        backoff = RETRY_BACKOFF[min(attempts, len(RETRY_BACKOFF) - 1)]
        self.store.quarantine(system=system, hubspot_id=key, email=email, operation=operation, code=error.code,
                              reason=str(error), detail=error.detail, transient=error.transient, now=now,
                              next_attempt_at=now + backoff if error.transient else None)
        summary.add("quarantined")
        if previous and previous[0].code == error.code:
            # The same error again (a transient one retried): the entry counts the attempts;
            # the log keeps the first occurrence only.
            log.debug("still quarantined: %s %s %s (%s, attempt %d)", system, operation, key, error.code, attempts + 1)
            return
        self.store.add_error(run_id=summary.run_id, at=now, kind="quarantined", system=system, hubspot_id=key,
                             email=email, message=f"{operation} quarantined: {error}", detail=error.detail)

    def _retry_quarantine(self, now: datetime, summary: Summary) -> None:
        due = self.store.quarantined(due_at=now)
        ids = sorted({q.hubspot_id for q in due})
        if ids and not self.dry_run:
            log.info("retrying %d quarantined people", len(ids))
            self._process(self.marketing.people(ids), now, summary)


def _why(result: Qualification) -> str:
    if result.disqualified_by:
        return f"fit: {result.disqualified_by}"
    failed = [g.name for g in result.gates if g.verdict is False]
    verdict = "qualified" if result.mql else ("not qualified: " + ", ".join(failed) if failed else "not qualified")
    return f"{verdict} (score {result.score:g}, definition v{result.definition_version})"


@dataclass(frozen=True)
class Sent:
    """A batch's writes as the two systems answered them, to be recorded."""

    plans: list
    handed: WriteOutcome
    crm: WriteOutcome
    converted: WriteOutcome
    hubspot: WriteOutcome


class _Later:
    """A future that runs its work when asked for the result (once): a dry run's write, or none."""

    def __init__(self, work: Callable[[], WriteOutcome]) -> None:
        self._work, self._outcome = work, None

    def result(self) -> WriteOutcome:
        if self._outcome is None:
            self._outcome = self._work()
        return self._outcome


def _lifecycle_of(person: Person) -> str | None:
    return (person.written or {}).get("lifecyclestage")


def _changes(pl: P.PersonPlan, system: str, side: str, record_id: str | None, values: Mapping[str, Any],
             out: P.Outputs, now: datetime, run_id: int) -> list[dict[str, Any]]:
    return [{"run_id": run_id, "at": now, "hubspot_id": pl.hubspot_id, "email": pl.email,
             "account": email_domain(pl.email), "system": system, "record_id": record_id, "field": name,
             "old": pl.old.get((side, name)), "new": value, "rule": pl.rule,
             "definition_version": out.definition_version} for name, value in values.items()]
