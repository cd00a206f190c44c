"""Sales' feedback from the CRM, turned into stage transitions. Pure: no I/O, no clock.

Lead Status says whether sales accepted (sal) or recycled a handed-off lead; an Opportunity's
stage says whether a converted lead is being worked, won or lost. Only these facts move a lead
backwards (recycle); the qualification definition never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from connector.core.records import CrmRecord, Opportunity
from connector.core.model import stage_rank


@dataclass(frozen=True)
class FeedbackRules:
    status_to_stage: Mapping[str, str]          # Lead Status → canonical stage
    qualified_stage: str = "Qualification"      # "qualified pipeline": where an sql's opportunity stands
    convert_at: str = "sql"                     # the stage whose arrival converts a Lead into an Opportunity
    unqualified_stage: str = ""                 # "unqualified pipeline": a Lead converted at sal starts here
    won_stages: tuple[str, ...] = ("Closed Won",)
    lost_stages: tuple[str, ...] = ("Closed Lost",)
    stalled_after: timedelta = timedelta(days=90)

    @property
    def conversion_stage(self) -> str:
        """The opportunity stage a conversion creates."""
        return self.unqualified_stage if self.convert_at == "sal" else self.qualified_stage

    @property
    def pipeline_stages(self) -> tuple[str, ...]:
        """Stages an opportunity holds before sales works it beyond the qualified pipeline."""
        return tuple(s for s in (self.unqualified_stage, self.qualified_stage) if s)


@dataclass(frozen=True)
class Transition:
    to_stage: str
    cause: str                 # "sales" | "opportunity" | "gate_violation"
    rule: str                  # what happened, in words a person reads in the log


def from_record(stage: str, record: CrmRecord, rules: FeedbackRules, *, converted_by_us: bool) -> Transition | None:
    """What the Lead's status (or a conversion) says about the stage, if anything new."""
    if record.is_converted and stage_rank(stage) < stage_rank(rules.convert_at):
        if converted_by_us:
            return None
        if rules.convert_at == "sal":
            # Where accepting a lead means converting it, a rep's own conversion is the acceptance.
            return Transition("sal", "sales", "sales accepted it: converted in the CRM by hand")
        # Sales converted a lead that never passed BANT: follow reality, flag the breach.
        return Transition("sql", "gate_violation", "converted in the CRM by hand before it was sales-qualified")
    said = rules.status_to_stage.get(record.status or "")
    if said == "sal" and stage == "mql":
        return Transition("sal", "sales", f"sales accepted it (Status = {record.status})")
    if said == "recycled" and stage in ("mql", "sal", "sql"):
        why = record.reason or "no reason given"
        return Transition("recycled", "sales", f"sales rejected it (Status = {record.status}): {why}")
    return None


def from_opportunity(stage: str, opportunity: Opportunity, rules: FeedbackRules, now: datetime, *,
                     may_stall: bool = True) -> Transition | None:
    """An opportunity's progress: worked → opportunity, won → customer, lost or stalled → recycled.
    ``may_stall`` is False for an opportunity sales had before leadsync: sales' own pace is
    theirs, and only sales closing it moves the person. An sal holds an opportunity only where
    leads convert at sal; then its close (or stall) counts, and its stage moves are BANT's."""
    if stage not in ("sal", "sql", "opportunity"):
        return None
    if opportunity.is_closed or opportunity.stage in rules.won_stages or opportunity.stage in rules.lost_stages:
        if opportunity.is_won or opportunity.stage in rules.won_stages:
            return Transition("customer", "opportunity", f"opportunity won ({opportunity.stage})")
        return Transition("recycled", "opportunity", f"opportunity lost ({opportunity.stage})")
    if may_stall and now - opportunity.modified_at > rules.stalled_after:
        days = (now - opportunity.modified_at).days
        return Transition("recycled", "opportunity", f"opportunity stalled: untouched for {days} days")
    if stage == "sql" and opportunity.stage not in rules.pipeline_stages:
        return Transition("opportunity", "opportunity", f"opportunity moved to {opportunity.stage}")
    return None
