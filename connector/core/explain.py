"""Turning a Qualification into what people read: a JSON-ready dict and a rich rendering.

Pure functions of (result, lead): the CLI decides where the output goes. Lead values are always
shown as plain text (never as rich markup), since they come from forms anyone can fill in.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Mapping, NamedTuple, Sequence

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from connector.core.definition import Definition
from connector.core.engagement import EngagementScorer
from connector.core.model import Activity
from connector.core.qualify import Qualification, handoff_reason, lead_value

_MARK = {True: ("✓", "green"), False: ("✗", "red"), None: ("?", "yellow")}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)


# -- conditions in words -----------------------------------------------------------------------------

_FLAGS = re.compile(r"\(\?[a-zA-Z]+\)")
_OPTIONAL = re.compile(r"\(([^()|]*)\)\?")
_ONE_GROUP = re.compile(r"([^()|]*)\(([^()]*)\)([^()|]*)")
_META = set("*+?{}[]\\^$.")


def regex_words(regex: str, shown: int = 5) -> str:
    """A definition's regex as a reader says it: ``(?i)\\b(vp|director)\\b`` → ``any of: vp,
    director``. A regex too clever to say in words is shown as it is, between slashes."""
    text = _FLAGS.sub("", regex).replace("\\b", "").replace("\\s*", "").replace("\\s+", " ").strip("^$ ")
    text = _OPTIONAL.sub(r"[\1]", text)
    group = _ONE_GROUP.fullmatch(text)
    if group:
        items = [f"{group.group(1)}{alt}{group.group(3)}" for alt in group.group(2).split("|")]
    elif "(" not in text:
        items = text.split("|")
    else:
        return f"/{regex}/"
    items = [re.sub(r"\\(.)", r"\1", item).strip() for item in items]
    if not all(items) or any(set(re.sub(r"\[[a-z]+\]", "", i).replace(".", "")) & _META for i in items):
        return f"/{regex}/"
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ("any of: " if len(items) > 1 else "") + ", ".join(items[:shown]) + more


def in_words(detail: str) -> str:
    """A gate's or rule's detail with its ``/regex/`` said in words."""
    start, end = detail.find(" /"), detail.rfind("/")
    if start < 0 or end <= start + 1:
        return detail
    return detail[:start + 1] + regex_words(detail[start + 2:end]) + detail[end + 1:]


def disqualification_reason(result: Qualification, limit: int = 255) -> str:
    """``Disqualified: fails "Business email": email 'ann@gmail.com' (wanted: email does not
    match any of: @gmail.com, …)``: the rule that failed, the value that failed it and what the
    rule wants; never the rule's name alone, which reads as the opposite of what happened."""
    failed = next((g for g in result.gates if g.kind == "fit" and g.verdict is False), None)
    text = f"Disqualified: fails \u201c{result.disqualified_by}\u201d"
    if failed:
        value, sep, wanted = failed.detail.partition(" fails ")
        text += f": {value} (wanted: {in_words(wanted)})" if sep else f" ({in_words(failed.detail)})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(result: Qualification) -> str:
    """One line: why this lead is (not) qualified."""
    if result.disqualified_by:
        return disqualification_reason(result, limit=10_000)
    if result.mql:
        return "qualified: every gate passes"
    if result.missing:
        return f"near-qualified: fill in {result.missing} and it qualifies"
    blocking = [f"{g.name} ({in_words(g.detail)})" for g in result.gates if g.verdict is not True]
    return "not qualified: " + "; ".join(blocking)


def explanation_dict(result: Qualification, lead: Mapping[str, Any]) -> dict[str, Any]:
    """Everything ``leadsync explain --json`` prints, as plain JSON-ready values."""
    return {
        "email": _json_value(lead.get("email")),
        "stage": result.stage,
        "mql": result.mql,
        "summary": summary(result),
        "score": result.score,
        "profile_score": result.profile_score,
        "engagement_score": result.engagement_score,
        "ready": result.ready,
        "near_qualified": result.near_qualified,
        "missing": result.missing,
        "missing_required": list(result.missing_required),
        "disqualified_by": result.disqualified_by,
        "definition_version": result.definition_version,
        "reason": handoff_reason(result, lead),
        "gates": [{"name": g.name, "kind": g.kind, "field": g.field or None, "verdict": g.verdict,
                   "value": _json_value(lead_value(lead, g.field)) if g.field else None, "detail": in_words(g.detail)}
                  for g in result.gates],
        "contributions": [c._asdict() for c in result.contributions],
        "counted": [{"rule": c.rule, "kind": c.kind, "points": c.points, "count": c.count, "how": in_words(c.detail)}
                    for c in result.contributions if c.points != 0],
        "missing_text": missing_text(result),
        "buying_signals": [{"rule": s.rule, "count": s.count, "latest": s.latest.isoformat()}
                           for s in result.buying_signals],
        "bant": {"score": result.bant_score, "required": result.bant_required,
                 "criteria": [b._asdict() for b in result.bant]},
    }


# -- the activity that earned the score --------------------------------------------------------------

class Step(NamedTuple):
    """One activity inside the window and what it earned (before any rule's max_count cap)."""

    at: datetime
    type: str
    what: str
    rules: tuple[tuple[str, float], ...]      # (rule, points, decayed as of now)


def timeline(activities: Sequence[Activity], definition: Definition, now: datetime) -> list[Step]:
    """Newest first: each activity in the window with the behaviour rules it matched. Sales
    touches are listed too (they earn nothing, but a rep wants to see them)."""
    scorer = EngagementScorer(definition)
    start = now - scorer.window
    steps = []
    for a in activities:
        if not start <= a.occurred_at <= now:
            continue
        match = scorer.matchers.get(a.type)
        indices = match(a.attrs) if match else ()
        age = (now - a.occurred_at).total_seconds()
        rules = tuple((scorer.rules[i].name, round(scorer.rules[i].points * 2 ** (-age * scorer.decay), 1))
                      for i in indices)
        if rules or a.type == "sales_touch":
            steps.append(Step(a.occurred_at, a.type, _what(a), rules))
    return sorted(steps, key=lambda s: s.at, reverse=True)


def _what(a: Activity) -> str:
    attrs = a.attrs or {}
    for key in ("form_name", "form_id", "url", "campaign", "kind"):
        if attrs.get(key):
            return str(attrs[key])
    return ""


# -- the screen -----------------------------------------------------------------------------------------

def _who(who: Mapping[str, Any], result: Qualification, headline: str) -> Panel:
    text = Text()
    name = who.get("name") or "(no name)"
    text.append(name, style="bold")
    role = " at ".join(str(v) for v in (who.get("title"), who.get("company")) if v)
    if role:
        text.append(f", {role}")
    text.append(f"\n{who.get('email') or '(no email)'}   stage ")
    text.append(who.get("stage") or result.stage, style={"mql": "bold green", "disqualified": "bold red"}.get(
        who.get("stage") or result.stage, "bold"))
    text.append(f"   score {result.score:g}", style="bold")
    text.append(f" (profile {result.profile_score:g} + engagement {result.engagement_score:g})")
    crm = who.get("crm")
    text.append("\nowner " + (who.get("owner_id") or "—") + "   CRM "
                + (f"{crm['object']} {crm['id']}, status {crm.get('status') or '—'}" if crm else "not in the CRM"))
    due = who.get("sla_due")
    if due:
        text.append(f"\nSLA {due['what']} due {due['at'][:16].replace('T', ' ')} UTC ({due['countdown']})")
    text.append("\n" + headline)
    text.append(f"\ndefinition v{result.definition_version}", style="dim")
    return Panel(text, title="leadsync explain", expand=False)


def _why(result: Qualification) -> RenderableType:
    counted = [c for c in result.contributions if c.points != 0]
    table = Table(title="Why: the rules that counted", title_justify="left", show_footer=True)
    table.add_column("points", justify="right", footer=f"{result.score:g}")
    table.add_column("rule", footer="score")
    table.add_column("how", overflow="fold")
    for c in sorted(counted, key=lambda c: -abs(c.points)):
        table.add_row(f"{c.points:+g}", Text(c.rule), Text(in_words(c.detail)), style="red" if c.points < 0 else "")
    idle = len(result.contributions) - len(counted)
    return Group(table, Text(f"{idle} other rule(s) earned nothing", style="dim")) if idle else table


def _timeline(steps: Sequence[Step], shown: int = 12) -> RenderableType:
    table = Table("when", "activity", "what", "earned", title="Activity that earned the score (newest first)",
                  title_justify="left")
    table.columns[2].overflow = "fold"
    for step in steps[:shown]:
        earned = ", ".join(f"{rule} {points:+g}" for rule, points in step.rules) or "—"
        table.add_row(step.at.strftime("%Y-%m-%d %H:%M"), step.type.replace("_", " "), Text(step.what), Text(earned))
    more = len(steps) - shown
    return Group(table, Text(f"and {more} earlier", style="dim")) if more > 0 else table


def _gates(result: Qualification, lead: Mapping[str, Any]) -> Table:
    table = Table("", "gate", "verdict", title="Gates", title_justify="left")
    table.columns[2].overflow = "fold"
    for g in result.gates:
        mark, colour = _MARK[g.verdict]
        table.add_row(Text(mark, style=colour), Text(g.name), Text(in_words(g.detail)))
    return table


def missing_text(result: Qualification) -> str:
    if result.missing:
        return f"Missing: {result.missing}; fill it in (or enrich it) and this lead is handed off."
    if result.missing_required:
        return "Missing required fields: " + ", ".join(result.missing_required)
    unknown = [g.field for g in result.gates if g.verdict is None and g.field]
    return "Missing: " + ", ".join(unknown) if unknown else "Missing: nothing the definition needs."


def bant_text(result: Qualification) -> str | None:
    if not result.bant:
        return None
    need = result.bant_required
    verdict = "" if need is None else (" (enough for sql)" if result.bant_score >= need else f" ({need:g} needed for sql)")
    marks = "  ".join(f"{_MARK[b.verdict][0]} {b.criterion}" for b in result.bant)
    return f"BANT: {result.bant_score:g} of {sum(b.weight for b in result.bant):g} passed{verdict}   {marks}"


def render_explanation(result: Qualification, lead: Mapping[str, Any], who: Mapping[str, Any] | None = None,
                       steps: Sequence[Step] = (), headline: str | None = None) -> RenderableType:
    """The ``leadsync explain EMAIL`` screen, rep first: who, why, the activity behind the score,
    the gates, what is missing, BANT, and what sales said."""
    who = who or {"email": lead.get("email"), "stage": result.stage}
    parts: list[RenderableType] = [_who(who, result, headline or summary(result)), _why(result)]
    if steps:
        parts.append(_timeline(steps))
    parts.append(_gates(result, lead))
    parts.append(Text(missing_text(result), style="yellow" if result.missing else ""))
    bant = bant_text(result)
    if bant:
        parts.append(Text(bant))
    if who.get("sales_said"):
        parts.append(Text(f"Sales said: {who['sales_said']}", style="bold"))
    if result.mql or result.stage not in ("subscriber", "lead", "disqualified"):
        parts.append(Text(f"Handoff reason: {handoff_reason(result, lead)}", style="dim"))
    return Group(*parts)
