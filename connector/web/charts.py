"""Charts as PNG bytes, drawn server-side with matplotlib's Agg canvas (no display, no internet).

Each chart is drawn from the same dict ``leadsync report … --json`` prints, so the page, the
``--plot`` file and the JSON always show one set of numbers. A ``Figure`` is built per call
(never pyplot's global state), so requests on several threads do not share a drawing.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from connector.core.simulate import week_ends

BLUE, GREY, GREEN, RED = "#2f6fb0", "#9aa5b1", "#2e8b57", "#c0392b"
SIZE, DPI = (8, 3.6), 100


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _empty(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", color=GREY, transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


# -- marketing: qualified leads per week against the commitment ------------------------------------------

def draw_mqls(axes: Any, funnel: Mapping[str, Any]) -> None:
    weeks, target = funnel["mqls_per_week"]["weeks"], funnel["mqls_per_week"]["target"]
    axes.set_title("MQLs per week vs commitment")
    if not weeks:
        _empty(axes, "no weeks in the period")
        return
    labels = [w["ends"][5:10] for w in weeks]
    colours = [GREY if not w["complete"] else (GREEN if w["met"] or w["met"] is None else RED) for w in weeks]
    axes.bar(labels, [w["mqls"] for w in weeks], color=colours)
    if target is not None:
        axes.axhline(target, color="black", linestyle="--", linewidth=1, label=f"commitment {target:g}/week")
        axes.legend(loc="upper left", fontsize=8)
    axes.set_xlabel("week ending")
    axes.tick_params(axis="x", labelrotation=45, labelsize=7)


def mqls_png(funnel: Mapping[str, Any]) -> bytes:
    figure = Figure(figsize=SIZE)
    draw_mqls(figure.add_subplot(), funnel)
    return _png(figure)


# -- the funnel ------------------------------------------------------------------------------------------------

def funnel_steps(funnel: Mapping[str, Any]) -> list[tuple[str, int]]:
    """People reaching each stage in the period: mql, sal, sql (each step's cohort), customer."""
    conv = {c["step"]: c for c in funnel["conversions"]}
    mql, sal, sql = conv.get("mql → sal"), conv.get("sal → sql"), conv.get("sql → customer")
    return [("mql", mql["entered"] if mql else 0), ("sal", sal["entered"] if sal else 0),
            ("sql", sql["entered"] if sql else 0), ("customer", sql["converted"] if sql else 0)]


def draw_funnel(axes: Any, funnel: Mapping[str, Any]) -> None:
    steps = funnel_steps(funnel)
    axes.set_title("Funnel in the period (conversion vs target band)")
    if not any(n for _, n in steps):
        _empty(axes, "no stage changes in the period")
        return
    names = [name for name, _ in steps][::-1]
    axes.barh(names, [n for _, n in steps][::-1], color=BLUE)
    for name, n in steps:
        axes.text(n, name, f" {n}", va="center", fontsize=8)
    for c in funnel["conversions"]:
        if c["rate_pct"] is None:
            continue
        band = c["target_pct"]
        target = f" (target {band[0]:g}–{band[1]:g}%)" if band else ""
        to = c["step"].split(" → ")[1]
        axes.text(0, to, f"  {c['rate_pct']:g}%{target}", va="center", fontsize=8, color="white" if c["converted"] else "black")
    axes.set_xlabel("people")


def funnel_png(funnel: Mapping[str, Any]) -> bytes:
    figure = Figure(figsize=SIZE)
    draw_funnel(figure.add_subplot(), funnel)
    return _png(figure)


def funnel_report_png(funnel: Mapping[str, Any]) -> bytes:
    """``report funnel --plot``: the funnel above the weekly MQLs."""
    figure = Figure(figsize=(SIZE[0], SIZE[1] * 2))
    draw_funnel(figure.add_subplot(2, 1, 1), funnel)
    draw_mqls(figure.add_subplot(2, 1, 2), funnel)
    return _png(figure)


# -- sales: SLA compliance over time -----------------------------------------------------------------------------

def _share(verdicts: Iterable[Any]) -> float | None:
    decided = [v for v in verdicts if v is not None]
    return round(100 * sum(decided) / len(decided), 1) if decided else None


def compliance_of(leads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Compliance of some handoffs from the SLA report's ``leads`` rows (the report's own rule:
    overall = handoffs without a breach, among those with any verdict)."""
    judged = [r for r in leads if r["breaches"] or any(r[k] is not None for k in ("within_target", "within_deadline", "touches_met"))]
    return {"handed_off": len(leads), "within_target_pct": _share(r["within_target"] for r in leads),
            "within_deadline_pct": _share(r["within_deadline"] for r in leads),
            "overall_pct": _share(not r["breaches"] for r in judged),
            "breaches": sum(len(r["breaches"]) for r in leads)}


def sla_by_week(sla: Mapping[str, Any], since: datetime, now: datetime) -> list[dict[str, Any]]:
    """Per week of handoff: that week's compliance."""
    ends = week_ends(since, now)
    buckets: list[list[Mapping[str, Any]]] = [[] for _ in ends]
    for lead in sla["leads"]:
        at = datetime.fromisoformat(lead["handoff_at"])
        if since <= at <= now:
            buckets[next(i for i, end in enumerate(ends) if at <= end)].append(lead)
    return [{"ends": end.isoformat(), **compliance_of(rows)} for end, rows in zip(ends, buckets)]


def sla_png(sla: Mapping[str, Any], since: datetime, now: datetime) -> bytes:
    weeks = sla_by_week(sla, since, now)
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    axes.set_title("SLA compliance by week of handoff")
    shown = [w for w in weeks if w["handed_off"]]
    if not shown:
        _empty(axes, "no handoffs in the period")
        return _png(figure)
    labels = [w["ends"][5:10] for w in shown]
    for key, label, colour in (("overall_pct", "compliant (no breach)", BLUE),
                               ("within_target_pct", "first touch within target", GREEN),
                               ("within_deadline_pct", "first touch within deadline", GREY)):
        axes.plot(labels, [w[key] for w in shown], marker="o", label=label, color=colour)
    axes.set_ylim(-5, 105)
    axes.set_ylabel("% of handoffs")
    axes.set_xlabel("week ending")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=3, fontsize=8, frameon=False)
    axes.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _png(figure)
