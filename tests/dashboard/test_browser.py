"""End to end in headless Chromium: real ingest + dashboard processes, detections over the real protocol.

Screenshots of each page go to artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from sqlalchemy import update

from fleet_store import db
from fleet_store.audit import entries as audit_entries
from fleet_store.lists import EntryFields, ListKind, add_entry
from fleet_store.schema import checkpoints
from tests.dashboard.stack import (
    ADMIN_PASSWORD,
    CHROMIUM,
    CHROMIUM_ARGS,
    Checkpoint,
    dashboard_env,
    dashboard_process,
    free_port,
)
from tests.dashboard.support import add_checkpoint, add_connection_event, add_detection
from tests.support.images import scene_jpeg
from tests.support.ingest import REPO, ingest_process, ingest_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed "
                                 "(apt-get install chromium chromium-driver, or make system-deps)")]
SHOTS = REPO / "artifacts" / "screenshots"
TIMEOUT = 10_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Ingest + dashboard processes on one SQLite file, checkpoint gate-1 registered and placed."""
    tmp = tmp_path_factory.mktemp("stack")
    settings = ingest_settings(f"sqlite:///{tmp / 'central.db'}", tmp)
    with ingest_process(settings, log_path=tmp / "ingest.log") as ingest:
        token = ingest.add_checkpoint("gate-1")
        engine = ingest.engine()
        with engine.begin() as conn:
            conn.execute(update(checkpoints).values(latitude=13.75, longitude=100.52, name="North gate"))
        engine.dispose()
        env = dashboard_env(settings.central_db_url, settings.image_dir, free_port(), tmp)
        with dashboard_process(env, tmp / "dashboard.log") as dash:
            dash.db_url = settings.central_db_url
            sender = Checkpoint(ingest.url, "gate-1", token)
            yield dash, sender
            sender.close()


@pytest.fixture(scope="module")
def db_engine(stack):
    """An engine on the stack's database (for rows written by other programs)."""
    dash, _ = stack
    engine = db.make_engine(dash.db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def logged_in_state(stack, browser, tmp_path_factory):
    """Log in once through the form; later pages reuse the session cookie."""
    dash, _ = stack
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(dash.url + "/")
    assert page.url.startswith(dash.url + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#fleet", timeout=TIMEOUT)
    path = tmp_path_factory.mktemp("state") / "state.json"
    context.storage_state(path=str(path))
    context.close()
    return str(path)


@pytest.fixture
def page(browser, logged_in_state, stack):
    context = browser.new_context(storage_state=logged_in_state, locale="en-US", accept_downloads=True,
                                  viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _live(page, url: str) -> None:
    """Open a page and wait until its Socket.IO connection is up (not networkidle: it never settles)."""
    page.goto(url)
    page.wait_for_selector("#conn.up", timeout=TIMEOUT)


def test_login_page_refuses_a_wrong_password(browser, stack):
    """The login form refuses a wrong password and says so."""
    dash, _ = stack
    context = browser.new_context()
    page = context.new_page()
    page.goto(dash.url + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash.error", timeout=TIMEOUT)
    _shot(page, "login")
    context.close()


def test_anonymous_socketio_is_refused_by_the_real_server(browser, stack):
    """Without a login the running dashboard refuses the Socket.IO connection (connect_error)."""
    dash, _ = stack
    context = browser.new_context()
    page = context.new_page()
    page.goto(dash.url + "/login")
    page.add_script_tag(url="/static/vendor/socket.io.min.js")
    outcome = page.evaluate("""() => new Promise((done) => {
        const socket = io({transports: ["websocket"], reconnection: false});
        socket.on("connect", () => done("connected"));
        socket.on("connect_error", (err) => done("refused: " + err.message));
        setTimeout(() => done("timeout"), 5000);
    })""")
    assert outcome.startswith("refused")
    context.close()


def test_detection_appears_live_on_feed_and_overview(page, stack):
    """A detection acked by the ingest shows up on the live feed and bumps the overview count."""
    dash, sender = stack
    overview = page.context.new_page()
    _live(overview, dash.url + "/")
    before = int(overview.inner_text('#fleet tr[data-cp="gate-1"] td.count'))
    _live(page, dash.url + "/live")
    answer = sender.detection("กข 1234", image=scene_jpeg(320, 240))
    assert answer["status"] == "success"
    row = page.wait_for_selector(f'#live-feed tr[data-id="{answer["record_id"]}"]', timeout=TIMEOUT)
    assert "กข 1234" in row.inner_text()
    page.wait_for_function("() => document.querySelector('#live-feed tr.new td.thumb img')?.complete",
                           timeout=TIMEOUT)
    overview.wait_for_function(
        f"() => document.querySelector('#fleet tr[data-cp=\"gate-1\"] td.count').textContent == '{before + 1}'",
        timeout=TIMEOUT)
    _shot(page, "live")
    _shot(overview, "overview")
    assert overview.locator('#fleet-map circle[data-cp="gate-1"]').count() == 1


def test_new_checkpoint_appears_on_the_overview(page, stack, db_engine):
    """A checkpoint that connects for the first time after the page loaded gets its own row, live."""
    dash, _ = stack
    _live(page, dash.url + "/")
    add_checkpoint(db_engine, "gate-new", lat=None, lon=None)
    add_connection_event(db_engine, "gate-new", "connected")
    page.wait_for_selector('#fleet tr[data-cp="gate-new"] td.state .s-online', timeout=TIMEOUT)
    assert page.inner_text("#n-online") == "2"


def test_health_view_updates_live(page, stack):
    """The health view shows component statuses and charts, and takes new reports live."""
    dash, sender = stack
    sender.health("camera", "PASS", "Camera working normally", cpu_usage="12%", memory_usage="45%",
                  disk_usage="30%", temperature=52.5, outbox_backlog=0)
    _live(page, dash.url + "/checkpoints/gate-1")
    assert page.locator('#components tr[data-component="camera"]').count() == 1
    assert page.locator("figure.chart canvas").count() == 5
    sender.health("uplink", "FAIL", "server unreachable", cpu_usage="70%", outbox_backlog=12)
    page.wait_for_selector('#components tr[data-component="uplink"] .s-FAIL', timeout=TIMEOUT)
    _shot(page, "health")


def test_search_and_export(page, stack):
    """Searching a partial Thai plate finds it; the export downloads the same rows as CSV."""
    dash, sender = stack  # its own plate: the test passes alone or after the others
    assert sender.detection("ฆง 5678", image=scene_jpeg(320, 240))["status"] == "success"
    sender.detection("ZZ9911")
    page.goto(dash.url + "/detections")
    page.fill("input[name=plate]", "ฆง 56")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#results tbody tr td.plate", timeout=TIMEOUT)
    assert "ฆง 5678" in page.inner_text("#results")
    assert "ZZ9911" not in page.inner_text("#results")
    _shot(page, "search")
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [r["license_plate"] for r in rows] == ["ฆง 5678"]
    page.click("#results tbody tr td.plate a")
    page.wait_for_selector("#detail-image", timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('#detail-image').naturalWidth == 320", timeout=TIMEOUT)
    _shot(page, "detail")


def test_watchlist_alert_on_every_page(page, stack):
    """An admin adds a pattern; a matching detection raises an alert on the page being watched."""
    dash, sender = stack
    page.goto(dash.url + "/watchlist")
    page.fill("input[name=pattern]", "ST*LEN")
    page.fill("input[name=note]", "reported stolen")
    page.click("#watch-form button[type=submit]")
    page.wait_for_selector("#watch-entries td.plate:has-text('ST*LEN')", timeout=TIMEOUT)
    _live(page, dash.url + "/statistics")
    sender.detection("ST-0LEN")
    sender.detection("INNOCENT1")
    alert = page.wait_for_selector("#alerts .alert", timeout=TIMEOUT)
    assert "ST-0LEN" in alert.inner_text()
    page.wait_for_timeout(300)
    assert page.locator("#alerts .alert").count() == 1
    _shot(page, "watchlist-alert")
    page.goto(dash.url + "/watchlist")
    _shot(page, "watchlist")


def test_alerts_page_shows_hits_live_and_an_admin_acknowledges(page, stack, db_engine):
    """A hit matched by the ingest appears live on the alerts page and as a banner; acknowledging it is audited."""
    dash, sender = stack
    add_entry(db_engine, ListKind.WATCH, EntryFields("WANTED9", "", "<i>van</i>"), "test")
    _live(page, dash.url + "/alerts?state=open")
    before = int(page.inner_text("#open-alerts") or 0)
    sender.detection("WANTED9")
    row = page.wait_for_selector("#alert-list tr[data-alert]:has-text('WANTED9')", timeout=TIMEOUT)
    assert "<i>van</i>" in row.inner_text()
    assert "WANTED9" in page.inner_text("#alerts .alert")
    assert int(page.inner_text("#open-alerts")) == before + 1
    alert_id = row.get_attribute("data-alert")
    _shot(page, "alerts-live")
    row.query_selector("form.ack button").click()
    page.wait_for_selector("p.flash.info", timeout=TIMEOUT)
    assert page.locator(f'#alert-list tr[data-alert="{alert_id}"]').count() == 0
    page.goto(dash.url + "/alerts?state=closed")
    closed = page.inner_text(f'#alert-list tr[data-alert="{alert_id}"] td.state')
    assert "admin" in closed
    assert [e.actor for e in audit_entries(db_engine) if e.subject == f"alert:{alert_id}"] == ["admin"]
    _shot(page, "alerts-closed")


def test_html_in_a_plate_stays_text(page, stack, db_engine):
    """Markup in stored text (a plate written by SQL, a checkpoint name) is shown literally and runs nothing.

    The ingest refuses '<' in plates, but rows written straight into the database by other programs
    (the old system's SQL habits) still reach every page.
    """
    dash, _ = stack
    evil = "<img src=x onerror=pwned=1>"
    _live(page, dash.url + "/live")
    detection_id = add_detection(db_engine, evil, "gate-1")
    row = page.wait_for_selector(f'#live-feed tr[data-id="{detection_id}"] td.plate', timeout=TIMEOUT)
    assert row.inner_text() == evil
    page.reload()
    page.wait_for_selector(f'#live-feed tr[data-id="{detection_id}"]', timeout=TIMEOUT)
    assert page.inner_text(f'#live-feed tr[data-id="{detection_id}"] td.plate') == evil
    with db_engine.begin() as conn:
        conn.execute(update(checkpoints).values(name="<b onmouseover=pwned=2>North</b>"))
    page.goto(dash.url + "/")
    assert "<b onmouseover=pwned=2>North</b>" in page.inner_text('#fleet tr[data-cp="gate-1"]')
    assert page.evaluate("() => window.pwned") is None
    _shot(page, "xss")
    with db_engine.begin() as conn:
        conn.execute(update(checkpoints).values(name="North gate"))


def test_phone_width_and_thai(browser, logged_in_state, stack):
    """At phone width in Thai, the overview fits the screen and is translated."""
    dash, _ = stack
    context = browser.new_context(storage_state=logged_in_state, locale="th-TH",
                                  viewport={"width": 390, "height": 844}, extra_http_headers={"Accept-Language": "th"})
    page = context.new_page()
    _live(page, dash.url + "/")
    assert "ภาพรวมจุดตรวจ" in page.inner_text("h1")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(page, "overview-phone-th")
    page.goto(dash.url + "/statistics")
    page.wait_for_selector("#stats-chart canvas", timeout=TIMEOUT)
    _shot(page, "statistics-th")
    context.close()
