"""Every page at the size users run: 500 checkpoints and 100,000 detections, in headless Chromium.

The volume fixture (tests/support/volume.py) is built once per backend and
served by a real ``python -m dashboard``. The walk opens every page, follows
the search's Older link three times, downloads the CSV export and reads it
back, and fails on any HTTP error or JavaScript error. Page timings at this
volume are measured by ``python -m bench.dashboard pages``, not here.
"""

from __future__ import annotations

import csv
import io
import os

import pytest

from fleet_store import db
from tests.conftest import PG_ADMIN_URL, _port_open
from tests.dashboard.stack import ADMIN_PASSWORD, CHROMIUM, CHROMIUM_ARGS, dashboard_env, dashboard_process, free_port
from tests.support.databases import throwaway_postgres
from tests.support.ingest import REPO
from tests.support.volume import FleetCounts, fill_fleet

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed "
                                 "(apt-get install chromium chromium-driver, or make system-deps)")]
SHOTS = REPO / "artifacts" / "screenshots"
TIMEOUT = 20_000


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fleet_db(request, tmp_path_factory):
    """The volume fixture on SQLite and on PostgreSQL: (URL, counts)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('volume') / 'central.db'}"
        yield url, _filled(url)
        return
    if not _port_open("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with throwaway_postgres(PG_ADMIN_URL, "fleet_volume") as url:
        yield url, _filled(url)


def _filled(url: str) -> FleetCounts:
    engine = db.make_engine(url)
    db.upgrade(engine)
    try:
        return fill_fleet(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def site(fleet_db, tmp_path_factory):
    """A dashboard process on the volume database."""
    url, counts = fleet_db
    tmp = tmp_path_factory.mktemp("volume-dash")
    env = dashboard_env(url, tmp / "images", free_port(), tmp)
    with dashboard_process(env, tmp / "dashboard.log") as dash:
        yield dash, counts


@pytest.fixture(scope="module")
def page(site):
    from playwright.sync_api import sync_playwright

    dash, _ = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(locale="en-US", accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(dash.url + "/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#fleet", timeout=TIMEOUT)
        yield page
        browser.close()


def _open(page, url: str, ready: str):
    response = page.goto(url)
    assert response.status == 200, (url, response.status)
    page.wait_for_selector(ready, timeout=TIMEOUT)
    assert page.errors == [], page.errors
    return response


def _count(page, state: str) -> int:
    return int(page.text_content(f"#n-{state}"))


def _row_ids(page) -> list[str]:
    return page.locator("#fleet tbody tr[data-cp]").evaluate_all("rows => rows.map(r => r.dataset.cp)")


def test_overview_problems_first_filters_and_pages_at_volume(page, site, fleet_db):
    """500 checkpoints: problems first, 50 a page, fleet-wide counts stay in view; site, state and text filter."""
    dash, counts = site
    _open(page, dash.url + "/", "#fleet")
    assert _count(page, "all") == counts.checkpoints
    assert _count(page, "online") + _count(page, "offline") + _count(page, "never") == counts.checkpoints
    assert page.locator("#fleet tbody tr[data-cp]").count() == 50
    problems = _count(page, "problems")
    assert 0 < problems < counts.checkpoints
    assert page.locator("#fleet tbody tr").first.locator("td.problems .badge").count() >= 1
    assert page.locator("#fleet tbody tr").first.locator("td.problems .badge.s-offline").count() == 1
    page.screenshot(path=str(_shot_path("volume-overview", fleet_db)), full_page=False)
    assert page.locator("#fleet-map .cluster").count() > 0  # the fixture's sites are scattered: no labels
    page.locator("#fleet-map").screenshot(path=str(_shot_path("volume-map", fleet_db)))
    seen = _row_ids(page)
    while page.locator("#next-page").count():
        page.click("#next-page")
        page.wait_for_selector("#fleet", timeout=TIMEOUT)
        seen += _row_ids(page)
        assert page.locator("#fleet-counts").is_visible() and _count(page, "all") == counts.checkpoints
    # A live view pages by position: a gate whose state changes during the walk (its last detection
    # crossing the silent line on a slow run) can move over a page boundary, seen twice or not at all.
    assert len(seen) == counts.checkpoints and len(set(seen)) >= counts.checkpoints - 2
    page.select_option("#fleet-filter select[name=site]", "Site C")
    page.select_option("#fleet-filter select[name=state]", "offline")
    page.click("#fleet-filter button[type=submit]")
    page.wait_for_selector("#fleet", timeout=TIMEOUT)
    rows = page.locator("#fleet tbody tr[data-cp]")
    assert rows.count() > 0 and set(rows.locator("td.site").all_text_contents()) == {"Site C"}
    assert all("offline" in t for t in rows.locator("td.state").all_text_contents())
    assert _count(page, "all") == counts.checkpoints
    page.screenshot(path=str(_shot_path("volume-overview-filtered", fleet_db)), full_page=False)
    _open(page, dash.url + "/?q=Gate%20123", "#fleet")
    assert _row_ids(page) == ["cp-123"]
    _open(page, dash.url + "/?state=offline", "#fleet")
    assert page.locator("#fleet tbody tr[data-cp]").count() == min(50, _count(page, "offline"))


def test_checkpoint_view_and_live_feed_at_volume(page, site, fleet_db):
    """A checkpoint's view and the live feed render with data."""
    dash, counts = site
    _open(page, dash.url + "/checkpoints/cp-001", "#components")
    assert page.locator("#components tbody tr[data-component]").count() == 4
    _open(page, dash.url + "/live", "#live-feed")
    assert page.locator("#live-feed tbody tr").count() == 50


def test_search_walks_older_three_times_and_exports(page, site, fleet_db):
    """A search follows Older three times (200 distinct rows); the CSV export holds every match."""
    dash, counts = site
    _open(page, dash.url + f"/detections?plate=1&province={counts.repeat_province}", "#results")
    seen = []
    for _ in range(3):
        seen += page.locator("#results tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        page.click("#older")
        page.wait_for_selector("#results", timeout=TIMEOUT)
        assert page.errors == []
    seen += page.locator("#results tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert len(seen) == len(set(seen)) == 200 and all(seen)
    assert [int(i) for i in seen] == sorted((int(i) for i in seen), reverse=True)
    page.screenshot(path=str(_shot_path("volume-search-page4", fleet_db)))
    _open(page, dash.url + f"/detections?province={counts.repeat_province}", "#results")
    with page.expect_download(timeout=60_000) as download:
        page.click("#export")
    text = download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["province"] for r in rows} == {counts.repeat_province}
    assert any(r["license_plate"] == counts.repeat_plate for r in rows)


def test_statistics_watchlist_and_detail_at_volume(page, site, fleet_db):
    """Statistics by hour and by day, the watchlist and a detection's detail page render at volume."""
    dash, counts = site
    for url in ("/statistics", "/statistics?by=day"):
        _open(page, dash.url + url, "#stats-chart")
        page.wait_for_selector("#site-chart canvas", timeout=TIMEOUT)
    _open(page, dash.url + "/statistics?view=hours", "#heatmap")
    assert page.locator("#heatmap tbody tr").count() == 7
    page.screenshot(path=str(_shot_path("volume-statistics-hours", fleet_db)), full_page=False)
    _open(page, dash.url + "/statistics?view=repeats", "#repeats")
    assert counts.repeat_plate in page.text_content("#repeats") or page.locator("#repeats tbody tr").count() == 20
    _open(page, dash.url + "/statistics?view=travel&from=cp-001&to=cp-011", "#travel-form")
    assert page.locator("#travel-summary").count() == 1
    _open(page, dash.url + "/watchlist", "#watch-entries")
    _open(page, dash.url + f"/detections?plate={counts.repeat_plate}&province={counts.repeat_province}", "#results")
    page.click("#results tbody tr a")
    page.wait_for_selector("#detail-plate", timeout=TIMEOUT)
    assert page.text_content("#detail-province") == counts.repeat_province


def test_console_pages_at_volume(page, site, fleet_db):
    """Correct a misread in the browser, then find it by both reads; the audit log, users and lists render."""
    dash, counts = site
    _open(page, dash.url + f"/detections?plate={counts.repeat_plate}", "#results")
    page.click("#results tbody tr a")
    page.wait_for_selector("#correct-form", timeout=TIMEOUT)
    detail_url = page.url
    page.fill("#correct-form input[name=plate]", "ฮฮ9999")
    page.fill("#correct-form input[name=note]", "read checked on the crop")
    page.click("#correct-form button[type=submit]")
    page.wait_for_selector("#correction-history", timeout=TIMEOUT)
    assert page.url == detail_url and page.text_content("#detail-plate").startswith("ฮฮ9999")
    assert counts.repeat_plate in page.text_content("#original-read")
    page.screenshot(path=str(_shot_path("volume-correction", fleet_db)), full_page=True)
    detection_id = detail_url.rsplit("/", 1)[1]
    for plate in ("ฮฮ9999", counts.repeat_plate):
        _open(page, dash.url + f"/detections?plate={plate}", "#results")
        assert page.locator(f'#results tbody tr[data-id="{detection_id}"]').count() == 1, plate
    _open(page, dash.url + "/audit", "#audit-rows")
    assert page.locator("#audit-rows tbody tr[data-id]").count() >= 5
    _open(page, dash.url + "/audit?action=correct", "#audit-rows")
    assert page.locator("#audit-rows tbody tr[data-id]").count() == 1
    page.screenshot(path=str(_shot_path("volume-audit", fleet_db)), full_page=False)
    _open(page, dash.url + "/users", "#user-rows")
    page.screenshot(path=str(_shot_path("volume-users", fleet_db)), full_page=False)
    _open(page, dash.url + "/allowlist", "#import-form")
    page.screenshot(path=str(_shot_path("volume-allowlist", fleet_db)), full_page=False)


def test_a_site_limited_viewer_at_volume(page, site, fleet_db):
    """A viewer limited to Site C sees only its 50 gates, in Thai, with the live connection up."""
    from dashboard.users import Role, add_user

    dash, counts = site
    engine = db.make_engine(fleet_db[0])
    try:
        add_user(engine, "site-c", "site-c-pass-1", Role.VIEWER, ["Site C"])
    finally:
        engine.dispose()
    context = page.context.browser.new_context(locale="th-TH", viewport={"width": 1280, "height": 900})
    viewer = context.new_page()
    errors = []
    viewer.on("pageerror", lambda exc: errors.append(str(exc)))
    viewer.goto(dash.url + "/login")
    viewer.fill("input[name=username]", "site-c")
    viewer.fill("input[name=password]", "site-c-pass-1")
    viewer.click("button[type=submit]")
    viewer.wait_for_selector("#fleet", timeout=TIMEOUT)
    viewer.wait_for_selector("#conn.up", timeout=TIMEOUT)
    assert int(viewer.text_content("#n-all")) == counts.checkpoints // 10
    assert set(viewer.locator("#fleet td.site").all_text_contents()) == {"Site C"}
    viewer.screenshot(path=str(_shot_path("volume-site-limited-th", fleet_db)), full_page=False)
    viewer.goto(dash.url + "/checkpoints/cp-001")  # Site B
    assert "404" in viewer.title() or viewer.locator("#components").count() == 0
    assert errors == []
    context.close()


def _shot_path(name: str, fleet_db) -> os.PathLike:
    SHOTS.mkdir(parents=True, exist_ok=True)
    backend = "pg" if fleet_db[0].startswith("postgresql") else "sqlite"
    return SHOTS / f"{name}-{backend}.png"
