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


def test_overview_checkpoint_view_and_live_feed_at_volume(page, site, fleet_db):
    """The overview lists all 500 checkpoints; a checkpoint's view and the live feed render with data."""
    dash, counts = site
    _open(page, dash.url + "/", "#fleet")
    assert page.locator("#fleet tbody tr[data-cp]").count() == counts.checkpoints
    page.screenshot(path=str(_shot_path("volume-overview", fleet_db)), full_page=False)
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


def test_statistics_watchlist_and_detail_at_volume(page, site):
    """Statistics by hour and by day, the watchlist and a detection's detail page render at volume."""
    dash, counts = site
    for url in ("/statistics", "/statistics?by=day"):
        _open(page, dash.url + url, "#stats-chart")
    _open(page, dash.url + "/watchlist", "#watch-entries")
    _open(page, dash.url + f"/detections?plate={counts.repeat_plate}&province={counts.repeat_province}", "#results")
    page.click("#results tbody tr a")
    page.wait_for_selector("#detail-plate", timeout=TIMEOUT)
    assert page.text_content("#detail-province") == counts.repeat_province


def _shot_path(name: str, fleet_db) -> os.PathLike:
    SHOTS.mkdir(parents=True, exist_ok=True)
    backend = "pg" if fleet_db[0].startswith("postgresql") else "sqlite"
    return SHOTS / f"{name}-{backend}.png"
