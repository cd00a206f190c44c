"""The review page through Flask's test client on a seeded store: each view, its numbers against
``leadsync report --json``, the token, redaction, the serving rules; and ``report --plot``."""

from __future__ import annotations

import json
import re
import struct

import pytest

from connector.app.config import WebConfig
from connector.cli.commands import main
from connector.app.reporting import build_report
from connector.core.errors import ConfigError
from connector.web.app import COOKIE, create_app
from connector.web.server import build, is_loopback, page_token
from tests.web_fixtures import REPS, runtime, seed

TOKEN = "tok-9f3a7c1e55"


@pytest.fixture
def seeded(tmp_path):
    rt = runtime(tmp_path)
    ids = seed(rt.store)
    yield rt, ids
    rt.close()


@pytest.fixture
def client(seeded):
    return create_app(seeded[0]).test_client()


def text(response) -> str:
    assert response.status_code == 200, response.data[:500]
    return response.get_data(as_text=True)


def metric(html: str, name: str) -> str:
    return re.search(rf'data-metric="{re.escape(name)}">([^<]*)<', html).group(1)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_given_seeded_store_when_runs_page_then_every_run_with_outcome_counts_and_budget(client, seeded):
    html = text(client.get("/"))
    rt, ids = seeded
    assert html.count("data-run=") == 2
    assert 'data-run="%d"' % ids["failed"] in html and "the connection to Salesforce failed" in html
    assert "salesforce: 5 call(s); 14200 of 15000 left today" in html
    assert "hubspot: 14 call(s), 1 retried" in html
    assert 'data-health="degraded"' in html and "last salesforce cycle" in html


def test_given_run_when_drilled_into_then_its_changes_and_errors_and_no_other(client, seeded):
    _, ids = seeded
    html = text(client.get(f"/runs/{ids['ok']}"))
    assert html.count("data-change=") == 2 and html.count("data-error=") == 1
    assert "lifecyclestage" in html and "marketingqualifiedlead" in html and "qualified: Demo request" in html
    assert "Leadsync_Score__c" in html and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in html
    other = text(client.get(f"/runs/{ids['failed']}"))
    assert other.count("data-change=") == 0 and other.count("data-error=") == 1
    assert client.get("/runs/999").status_code == 404


def test_given_quarantine_when_errors_page_then_grouped_by_code_with_reason_and_fix(client):
    html = text(client.get("/errors"))
    assert 'data-quarantine-group="salesforce:write:FIELD_CUSTOM_VALIDATION_EXCEPTION"' in html
    assert 'data-quarantine-group="salesforce:write:UNABLE_TO_LOCK_ROW"' in html
    assert html.count("data-quarantined=") == 3
    assert "2 × salesforce write" in html and "A validation rule in the CRM rejected the values" in html
    assert "then `leadsync quarantine retry 1 2`" in html, "the group's fix names its entries"
    assert "leadsync retries it by itself on later cycles" in html, "a locked row heals without a person"
    assert 'data-error-group="record"' in html and 'data-error-group="fatal"' in html
    assert "Phone must have 10 digits" not in html and "raw vendor body" not in html, "no internal detail"


def test_given_person_when_history_page_then_transitions_changes_and_explanation(client):
    html = text(client.get("/people/1003"))
    assert html.count("data-transition") == 1 and "lead → mql" in html
    assert html.count("data-change=") == 2 and "Leadsync_Score__c" in html
    assert "Demo request" in html and 'data-table="gates"' in html
    found = text(client.get("/people?q=person3@company3.com"))
    assert 'data-person="1003"' in found and found.count("data-person=") == 1
    assert text(client.get("/people?q=company3.com")).count("data-person=") == 3   # persons 3, 10, 17


def test_given_seeded_store_when_funnel_page_then_numbers_equal_report_json(client, seeded):
    rt, _ = seeded
    report = build_report(rt, "funnel", "90d")
    html = text(client.get("/funnel"))
    for name, n in report["stages"].items():
        assert metric(html, f"stage.{name}") == str(n)
    for c in report["conversions"]:
        row = html.split(f'data-step="{c["step"]}"')[1]
        assert metric(row, "entered") == str(c["entered"]) and metric(row, "converted") == str(c["converted"])
        assert metric(row, "rate_pct") == (f"{c['rate_pct']}%" if c["rate_pct"] is not None else "—")
    weeks = [w for w in report["mqls_per_week"]["weeks"]]
    assert [int(m) for m in re.findall(r'data-metric="mqls">(\d+)<', html)] == [w["mqls"] for w in weeks]
    assert metric(html, "pipeline.volume") == str(report["qualified_pipeline"]["volume"])


def test_given_seeded_store_when_sla_page_then_numbers_equal_report_json_and_reps_add_up(client, seeded):
    rt, _ = seeded
    report = build_report(rt, "sla", "90d")
    html = text(client.get("/sla"))
    c = report["compliance"]
    assert metric(html, "handed_off") == str(c["handed_off"]) and metric(html, "breaches") == str(c["breaches"])
    assert metric(html, "overall_pct") == f"{c['overall_pct']}%"
    assert metric(html, "within_target_pct") == f"{c['within_target_pct']}%"
    reps = {rep: html.split(f'data-rep="{rep}"')[1] for rep in REPS}
    assert sum(int(metric(row, "handed_off")) for row in reps.values()) == c["handed_off"]
    assert sum(int(metric(row, "breaches")) for row in reps.values()) == c["breaches"]
    assert html.count("data-lead=") == len(report["leads"])


def test_given_seeded_store_when_queue_page_then_same_leads_in_the_same_order(client, seeded):
    rt, _ = seeded
    report = build_report(rt, "queue", "90d")
    html = text(client.get("/queue"))
    assert re.findall(r'data-lead="(\d+)"', html) == [r["hubspot_id"] for r in report["leads"]]
    assert report["leads"], "the seed has leads waiting"


@pytest.mark.parametrize("chart", ["mqls", "funnel", "sla"])
def test_given_seeded_store_when_chart_requested_then_a_png_of_page_size(client, chart):
    response = client.get(f"/charts/{chart}.png?since=90d")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert png_size(response.data) == (800, 360) and len(response.data) > 10_000


@pytest.mark.parametrize("path", ["/funnel", "/sla", "/queue", "/errors", "/charts/sla.png"])
def test_given_bad_period_when_requested_then_400_naming_it(client, path):
    response = client.get(f"{path}?since=fortnight")
    assert response.status_code == 400 and "fortnight" in response.get_data(as_text=True)


def test_given_token_when_requested_without_it_then_401_and_with_it_200_and_cookie_not_the_token(seeded):
    app = create_app(seeded[0], token=TOKEN)
    client = app.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/charts/sla.png").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    first = client.get(f"/funnel?since=30d&token={TOKEN}")
    assert first.status_code == 302 and first.headers["Location"] == "/funnel?since=30d"
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and TOKEN not in cookie.value
    assert client.get("/funnel").status_code == 200
    assert app.test_client().get("/healthz").status_code == 200, "load balancers need no token"


def test_given_secret_and_pii_in_rows_when_rendered_then_masked(tmp_path):
    rt = runtime(tmp_path, redact_pii=True, environ={"HUBSPOT_TOKEN": "pat-na1-abcdef123456"})
    ids = seed(rt.store)
    rt.store.add_error(run_id=ids["ok"], at=rt.clock(), kind="record", message="rejected pat-na1-abcdef123456 call +1 415 555 0100")
    client = create_app(rt, token=TOKEN).test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    pages = [client.get(url, headers=headers).get_data(as_text=True)
             for url in ("/", f"/runs/{ids['ok']}", "/errors", "/people/1003", "/sla", "/queue")]
    joined = "\n".join(pages)
    assert "pat-na1-abcdef123456" not in joined and TOKEN not in joined
    assert "person3@company3.com" not in joined and "p***@company3.com" in joined
    assert "415 555 0100" not in joined
    rt.close()


def test_given_host_off_loopback_without_token_when_served_then_config_error_naming_key(tmp_path):
    rt = runtime(tmp_path, web=WebConfig(port=8123, host="0.0.0.0"))
    with pytest.raises(ConfigError) as caught:
        build(rt, "0.0.0.0", 0)
    assert "web.token_env" in str(caught.value) and "LEADSYNC_WEB_TOKEN" in str(caught.value)
    rt.close()
    rt = runtime(tmp_path, web=WebConfig(host="0.0.0.0"), environ={"LEADSYNC_WEB_TOKEN": TOKEN})
    assert page_token(rt, "0.0.0.0") == TOKEN
    rt.close()


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("10.1.2.3", False),
                                            ("review.internal", False)])
def test_given_host_when_checked_then_loopback_or_not(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("kind", ["funnel", "sla"])
def test_given_plot_option_when_report_then_png_written_and_json_unchanged(tmp_path, capsys, kind):
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n')
    rt = runtime(tmp_path)
    seed(rt.store)
    rt.close()
    out = tmp_path / f"{kind}.png"
    assert main(["--config", str(config), "report", kind, "--json", "--since", "90d", "--plot", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["report"] == kind
    width, height = png_size(out.read_bytes())
    assert width == 800 and height == (720 if kind == "funnel" else 360)


def test_given_plot_for_queue_when_report_then_exit_2_naming_option(tmp_path, capsys):
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n')
    assert main(["--config", str(config), "report", "queue", "--plot", str(tmp_path / "q.png")]) == 2
    assert "--plot" in capsys.readouterr().err
