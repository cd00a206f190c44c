"""The review page in headless Chromium (Debian's ``chromium`` driven by Playwright) on a seeded
store, served by the same server the daemon and ``leadsync web`` use, on loopback.

Skipped, saying why, when ``/usr/bin/chromium`` or Playwright is absent; ``.ci/run`` installs
Chromium when it runs as root. Playwright never downloads a browser here.
"""

from __future__ import annotations

import io
import os

import pytest

from connector.app.reporting import build_report
from connector.web.server import serve_in_thread
from tests.web_fixtures import runtime, seed

CHROMIUM = "/usr/bin/chromium"
TOKEN = "tok-5e2b8d7a91"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
Image = pytest.importorskip("PIL.Image", reason="Pillow (a matplotlib dependency) is not installed")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


def serve(tmp_path, environ=None):
    rt = runtime(tmp_path, environ=environ)
    ids = seed(rt.store)
    web = serve_in_thread(rt, "127.0.0.1", 0)
    return rt, ids, web, f"http://127.0.0.1:{web.port}"


@pytest.fixture
def site(tmp_path):
    rt, ids, web, base = serve(tmp_path)
    yield rt, ids, base
    web.stop()
    rt.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def cell(page, selector: str) -> str:
    return page.locator(selector).first.inner_text().strip()


def test_given_seeded_store_when_each_view_opened_from_the_nav_then_it_loads(site, page):
    _, _, base = site
    page.goto(base + "/")
    for nav, heading in (("errors", "Errors and quarantine"), ("people", "A person's history"),
                         ("funnel", "Funnel and pipeline"), ("sla", "Sales' follow-up SLA"),
                         ("queue", "Sales' queue"), ("runs", "Sync runs")):
        with page.expect_navigation():
            page.click(f'[data-nav="{nav}"]')
        assert page.locator("h1").inner_text().startswith(heading)
        assert page.locator(f'[data-nav="{nav}"]').get_attribute("class") == "active"


def test_given_run_when_clicked_then_drill_down_shows_its_changes_old_to_new(site, page):
    _, ids, base = site
    page.goto(base + "/")
    with page.expect_navigation():
        page.click(f'[data-run="{ids["ok"]}"] a')
    assert page.url.endswith(f"/runs/{ids['ok']}")
    rows = page.locator('[data-table="changes"] [data-change]')
    assert rows.count() == 2
    first = rows.nth(0)
    assert first.locator("[data-field]").inner_text() == "lifecyclestage"
    assert (first.locator("[data-old]").inner_text(), first.locator("[data-new]").inner_text()) == ("lead", "marketingqualifiedlead")
    assert page.locator('[data-table="errors"] [data-error]').count() == 1


def test_given_seeded_store_when_funnel_and_sla_pages_read_then_numbers_equal_report_json(site, page):
    rt, _, base = site
    funnel, sla = build_report(rt, "funnel", "90d"), build_report(rt, "sla", "90d")
    page.goto(base + "/funnel")
    for name, n in funnel["stages"].items():
        assert cell(page, f'[data-metric="stage.{name}"]') == str(n)
    for c in funnel["conversions"]:
        row = page.locator(f'[data-step="{c["step"]}"]')
        assert cell(row, '[data-metric="entered"]') == str(c["entered"])
        assert cell(row, '[data-metric="rate_pct"]') == (f"{c['rate_pct']}%" if c["rate_pct"] is not None else "—")
    weekly = page.locator('[data-table="weeks"] [data-metric="mqls"]').all_inner_texts()
    assert [int(n) for n in weekly] == [w["mqls"] for w in funnel["mqls_per_week"]["weeks"]]
    page.goto(base + "/sla")
    c = sla["compliance"]
    assert cell(page, '[data-metric="handed_off"]') == str(c["handed_off"])
    assert cell(page, '[data-metric="overall_pct"]') == f"{c['overall_pct']}%"
    assert cell(page, '[data-metric="breaches"]') == str(c["breaches"])
    page.goto(base + "/queue")
    shown = page.locator('[data-table="queue"] [data-lead]').evaluate_all("rows => rows.map(r => r.dataset.lead)")
    assert shown == [r["hubspot_id"] for r in build_report(rt, "queue", "90d")["leads"]]


def _blue_pixels(png: bytes) -> int:
    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1_000_000)
    return sum(n for n, rgb in colours if rgb == (0x2F, 0x6F, 0xB0))


@pytest.mark.parametrize("path, chart", [("/funnel", "funnel"), ("/funnel", "mqls"), ("/sla", "sla")])
def test_given_page_when_loaded_then_chart_renders_with_content(site, page, tmp_path, path, chart):
    _, _, base = site
    page.goto(base + path)
    image = page.locator(f'[data-chart="{chart}"]')
    image.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [800, 360]
    shot = image.screenshot(path=str(tmp_path / f"{chart}.png"))
    width, height = Image.open(io.BytesIO(shot)).size
    assert width >= 600 and height >= 250
    colours = Image.open(io.BytesIO(shot)).convert("RGB").getcolors(maxcolors=1_000_000)
    assert len(colours) > 50, "a drawn chart, not a blank box"
    if chart in ("funnel", "sla"):
        assert _blue_pixels(shot) > 200, "the data series is drawn"


def test_given_token_in_environment_when_opened_then_refused_without_it_and_remembered_with_it(tmp_path, page):
    rt, _, web, base = serve(tmp_path, environ={"LEADSYNC_WEB_TOKEN": TOKEN})
    try:
        refused = page.goto(base + "/funnel")
        assert refused.status == 401 and "token is required" in page.content()
        assert page.goto(base + "/charts/funnel.png").status == 401
        allowed = page.goto(base + f"/funnel?token={TOKEN}")
        assert allowed.status == 200 and page.url == base + "/funnel"
        assert TOKEN not in page.content()
        assert page.goto(base + "/sla").status == 200, "the cookie carries the session"
        image = page.locator('[data-chart="sla"]')
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    finally:
        web.stop()
        rt.close()


def test_given_email_when_searched_then_person_history_shows_explanation_transitions_and_writes(site, page):
    _, _, base = site
    page.goto(base + "/people")
    page.fill('input[name="q"]', "person3@company3.com")
    with page.expect_navigation():      # (on a busy machine the count must not race the load)
        page.click('button[type="submit"]')
    rows = page.locator('[data-table="people"] [data-person]')
    assert rows.count() == 1
    with page.expect_navigation():
        rows.first.locator("a").click()
    assert page.url.endswith("/people/1003")
    assert page.locator("[data-stage]").inner_text() == "mql"
    assert page.locator("[data-summary]").inner_text().strip()
    assert page.locator('[data-table="transitions"] [data-transition]').count() == 1
    systems = page.locator('[data-table="changes"] [data-change] td:nth-child(3)').all_inner_texts()
    assert sorted(systems) == ["hubspot", "salesforce"], "what was written where"
    with page.expect_navigation():
        page.locator('[data-table="changes"] [data-change] a[href^="/runs/"]').first.click()
    assert "/runs/" in page.url and page.locator("h1").inner_text().startswith("Run ")
