"""Turning a Qualification into what people read: a JSON-ready dict and a rich rendering.

Pure functions of (result, lead): the CLI decides where the output goes. Lead values are always
shown as plain text (never as rich markup), since they come from forms anyone can fill in.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

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


def summary(result: Qualification) -> str:
    """One line: why this lead is (not) qualified."""
    if result.disqualified_by:
        failed = next((g for g in result.gates if g.kind == "fit" and g.verdict is False), None)
        return f"disqualified by {result.disqualified_by}" + (f": {failed.detail}" if failed else "")
    if result.mql:
        return "qualified: every gate passes"
    if result.missing:
        return f"near-qualified: fill in {result.missing} and it qualifies"
    blocking = [f"{g.name} ({g.detail})" for g in result.gates if g.verdict is not True]
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
                   "value": _json_value(lead_value(lead, g.field)) if g.field else None, "detail": g.detail}
                  for g in result.gates],
        "contributions": [c._asdict() for c in result.contributions],
        "buying_signals": [{"rule": s.rule, "count": s.count, "latest": s.latest.isoformat()}
                           for s in result.buying_signals],
        "bant": {"score": result.bant_score, "required": result.bant_required,
                 "criteria": [b._asdict() for b in result.bant]},
    }


def _header(result: Qualification, lead: Mapping[str, Any]) -> Panel:
    stage_style = {"mql": "bold green", "disqualified": "bold red"}.get(result.stage, "bold")
    text = Text()
    text.append(str(lead.get("email") or "(no email)"), style="bold")
    text.append("   stage ")
    text.append(result.stage, style=stage_style)
    text.append(f"   score {result.score:g}", style="bold")
    text.append(f" (profile {result.profile_score:g} + engagement {result.engagement_score:g})")
    text.append(f"   definition v{result.definition_version}", style="dim")
    text.append("\n" + summary(result))
    return Panel(text, title="leadsync explain", expand=False)


def _rules_table(result: Qualification) -> Table:
    table = Table(title="Score, rule by rule", show_footer=True, title_justify="left")
    table.add_column("Rule", footer="Total")
    table.add_column("Kind")
    table.add_column("Points", justify="right", footer=f"{result.score:g}")
    table.add_column("Count", justify="right")
    table.add_column("Detail")
    for c in result.contributions:
        style = "dim" if c.points == 0 else ("red" if c.points < 0 else "")
        table.add_row(Text(c.rule), c.kind, f"{c.points:g}", str(c.count), Text(c.detail), style=style)
    return table


def _gates_table(result: Qualification, lead: Mapping[str, Any]) -> Table:
    table = Table(title="Gates", title_justify="left")
    for column in ("", "Gate", "Kind", "Value", "Detail"):
        table.add_column(column)
    for g in result.gates:
        mark, colour = _MARK[g.verdict]
        value = lead_value(lead, g.field) if g.field else None
        table.add_row(Text(mark, style=colour), Text(g.name), g.kind,
                      Text("" if value is None else str(value)), Text(g.detail))
    return table


def _bant_table(result: Qualification) -> Table:
    need = f"{result.bant_required:g}" if result.bant_required is not None else "–"
    table = Table(title=f"BANT ({result.bant_score:g} of {need} for sql)", title_justify="left")
    for column in ("", "Criterion", "Weight"):
        table.add_column(column)
    for b in result.bant:
        mark, colour = _MARK[b.verdict]
        table.add_row(Text(mark, style=colour), b.criterion, f"{b.weight:g}")
    return table


def render_explanation(result: Qualification, lead: Mapping[str, Any]) -> RenderableType:
    """The ``leadsync explain EMAIL`` screen: header, rules, gates, hint, BANT."""
    parts: list[RenderableType] = [_header(result, lead), _rules_table(result), _gates_table(result, lead)]
    if result.missing:
        parts.append(Text(f"Near-qualified: only {result.missing} is missing; fill it in (or enrich it) "
                          "and this lead is handed off.", style="yellow"))
    if result.buying_signals:
        signals = ", ".join(f"{s.rule} ×{s.count} (latest {s.latest.date().isoformat()})"
                            for s in result.buying_signals)
        parts.append(Text(f"Buying signals: {signals}"))
    if result.bant:
        parts.append(_bant_table(result))
    if result.mql or result.stage not in ("subscriber", "lead", "disqualified"):
        parts.append(Text(f"Handoff reason: {handoff_reason(result, lead)}", style="dim"))
    return Group(*parts)
