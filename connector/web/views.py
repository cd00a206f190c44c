"""The review page's routes: each reads ``pages`` and renders one template (or one chart)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request

from connector.core.errors import ConfigError
from connector.web import charts, pages

blueprint = Blueprint("review", __name__)
DEFAULT_SINCE = "90d"          # the same default as ``leadsync report``


def _rt() -> Any:
    return current_app.config["LEADSYNC_RT"]


def _since(default: str = DEFAULT_SINCE) -> str:
    since = request.args.get("since", default)
    try:
        pages.period_start(since, _rt().clock())
    except ConfigError:
        abort(400, f"since={since!r} is not a duration like 7d or 12h")
    return since


def _png(data: bytes) -> Response:
    return Response(data, mimetype="image/png", headers={"Cache-Control": "no-store"})


@blueprint.get("/")
def runs_view() -> str:
    return render_template("runs.html", runs=pages.runs(_rt()), health=_health(), active="runs")


@blueprint.get("/runs/<int:run_id>")
def run_view(run_id: int) -> str:
    found = pages.run(_rt(), run_id)
    if found is None:
        abort(404, f"no run {run_id} in the state store")
    return render_template("run.html", run=found, active="runs")


@blueprint.get("/errors")
def errors_view() -> str:
    return render_template("errors.html", data=pages.errors(_rt(), _since("30d")), active="errors")


@blueprint.get("/people")
def people_view() -> str:
    query = request.args.get("q", "")
    return render_template("people.html", query=query, people=pages.find_people(_rt(), query), active="people")


@blueprint.get("/people/<hubspot_id>")
def person_view(hubspot_id: str) -> str:
    found = pages.person(_rt(), hubspot_id)
    if found is None:
        abort(404, "no such person in the state store")
    return render_template("person.html", p=found, active="people")


@blueprint.get("/funnel")
def funnel_view() -> str:
    since = _since()
    return render_template("funnel.html", data=pages.funnel(_rt(), since), since=since, active="funnel")


@blueprint.get("/sla")
def sla_view() -> str:
    since = _since()
    return render_template("sla.html", data=pages.sla(_rt(), since), since=since, active="sla")


@blueprint.get("/queue")
def queue_view() -> str:
    since = _since()
    return render_template("queue.html", data=pages.queue(_rt(), since), since=since, active="queue")


@blueprint.get("/charts/mqls.png")
def mqls_chart() -> Response:
    return _png(charts.mqls_png(pages.build_report(_rt(), "funnel", _since())))


@blueprint.get("/charts/funnel.png")
def funnel_chart() -> Response:
    return _png(charts.funnel_png(pages.build_report(_rt(), "funnel", _since())))


@blueprint.get("/charts/sla.png")
def sla_chart() -> Response:
    rt, since = _rt(), _since()
    now = rt.clock()
    return _png(charts.sla_png(pages.build_report(rt, "sla", since), pages.period_start(since, now), now))


def _health() -> Any:
    from connector.app.facts import gather_facts
    from connector.app.health import assess
    rt = _rt()
    settings = rt.config
    return assess(gather_facts(rt), started_at=current_app.config["LEADSYNC_STARTED_AT"],
                  hot_every=settings.schedule.hubspot_every, quarantine_above=settings.metrics.healthz_quarantine_above)


@blueprint.get("/healthz")
def healthz() -> Response:
    health = _health()
    return Response(health.body(), status=health.http_status, mimetype="text/plain")
