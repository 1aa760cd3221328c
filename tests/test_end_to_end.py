"""The whole plate record from gate to screen, with every part real and on 127.0.0.1.

An outside program (the old detection app) inserts a detection with a province
and a plate crop into the edge's ``detection_results``; ``python -m edge_agent``
delivers it to ``python -m central_server``; ``python -m dashboard`` shows it to
a logged-in Chromium: the province beside the plate, the crop as a picture.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time

import pytest

from fleet_store import db
from tests.dashboard.stack import ADMIN_PASSWORD, CHROMIUM, CHROMIUM_ARGS, dashboard_env, dashboard_process, free_port
from tests.edge_agent.harness import agent_process, edge_settings, stored
from tests.support.images import scene_jpeg
from tests.support.ingest import REPO, ingest_process, ingest_settings

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]
SHOTS = REPO / "artifacts" / "screenshots"


def _wait_stored(settings, timeout: float = 60.0):
    engine = db.make_engine(settings.central_db_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = stored(engine)
            if rows:
                return rows
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise AssertionError("the outside row never reached the central database")


def test_outside_row_reaches_the_operators_screen_with_province_and_crop(tmp_path):
    """Old app's row → real agent → real ingest → real dashboard: province and plate crop all the way."""
    from playwright.sync_api import sync_playwright

    scene, crop = scene_jpeg(seed=1), scene_jpeg(200, 64, seed=2)
    (tmp_path / "scene.jpg").write_bytes(scene)
    (tmp_path / "crop.jpg").write_bytes(crop)
    central = ingest_settings(f"sqlite:///{tmp_path / 'central.db'}", tmp_path / "central")
    with ingest_process(central, log_path=tmp_path / "ingest.log") as ingest:
        edge = edge_settings(tmp_path, ingest.url, ingest.add_checkpoint("1"),
                             edge_outside_image_dirs=(tmp_path,))  # where the old app keeps its captures
        with agent_process(edge, tmp_path / "agent.log"):
            with contextlib.closing(_outbox_when_ready(edge.db_path)) as con:
                con.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, image_path, "
                            "province, plate_image_path) VALUES ('1กข1234', 93.5, '2026-11-30T09:00:00', ?, "
                            "'เชียงใหม่', ?)", (str(tmp_path / "scene.jpg"), str(tmp_path / "crop.jpg")))
            (row,) = _wait_stored(central)
    assert (row.license_plate, row.province) == ("1กข1234", "เชียงใหม่")
    assert (central.image_dir / row.plate_image_path).read_bytes() == crop
    assert row.plate_image_sha256 == hashlib.sha256(crop).hexdigest() and row.image_path
    env = dashboard_env(central.central_db_url, central.image_dir, free_port(), tmp_path)
    with dashboard_process(env, tmp_path / "dashboard.log") as dash, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(locale="en-US")
        page.goto(dash.url + "/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#fleet", timeout=20_000)
        page.goto(dash.url + "/live")
        assert page.text_content("#live-feed tbody td.province") == "เชียงใหม่"
        page.goto(dash.url + f"/detections/{row.id}")
        page.wait_for_function("document.querySelector('#detail-plate-image').naturalWidth > 0", timeout=20_000)
        assert page.text_content("#detail-province") == "เชียงใหม่"
        assert page.eval_on_selector("#detail-plate-image", "img => img.naturalWidth") == 200
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "detail-province-and-crop.png"), full_page=True)
        browser.close()


def _outbox_when_ready(path, timeout: float = 30.0) -> sqlite3.Connection:
    """The agent creates its outbox when it starts; an outside program waits for detection_results."""
    deadline = time.monotonic() + timeout
    while True:
        if path.exists():
            con = sqlite3.connect(path, isolation_level=None, timeout=30)
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'detection_results'").fetchone():
                return con
            con.close()
        assert time.monotonic() < deadline, "the agent never created its outbox"
        time.sleep(0.2)
