"""Scale-out: two dashboard processes on Redis both relay an event from one ingest-side publisher."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from fleet_store import db
from fleet_store.live import DETECTION, LiveEvent, RedisLiveEvents
from tests.dashboard.stack import ADMIN_PASSWORD, CHROMIUM, CHROMIUM_ARGS, dashboard_env, dashboard_process, free_port

pytestmark = [pytest.mark.redis, pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]


def _publish(redis_url: str, payload: dict) -> None:
    """Publish as the ingest does, from an event loop of its own thread (Playwright owns this one's)."""
    async def go():
        live = RedisLiveEvents(redis_url)
        await live.publish(LiveEvent(DETECTION, payload))
        await live.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result(10)


def _payload(plate: str) -> dict:
    return {"id": 1, "checkpoint_id": "cp1", "event_id": None, "license_plate": plate, "confidence": 90.0,
            "timestamp": "2026-11-24T01:00:00+00:00", "received_at": "2026-11-24T01:00:00+00:00",
            "hostname": "", "image_path": None, "latitude": None, "longitude": None}


def _wait_until_subscribed(redis_url: str, pages, timeout: float = 20.0) -> None:
    """Redis pub/sub keeps nothing for late subscribers: ping until both dashboards relay."""
    probe = f"P{uuid.uuid4().hex[:8].upper()}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _publish(redis_url, _payload(probe))
        if all(page.locator(f"#live-feed td.plate:has-text('{probe}')").count() for page in pages):
            return
        pages[0].wait_for_timeout(500)
    raise TimeoutError("the dashboards did not subscribe to Redis in time")


def test_two_dashboards_receive_one_publish(tmp_path, redis_url):
    """One RedisLiveEvents.publish reaches browsers on two separate dashboard processes."""
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'central.db'}"
    db.upgrade(db.make_engine(url))
    envs = [dashboard_env(url, tmp_path / "images", free_port(), tmp_path, redis_url=redis_url) for _ in range(2)]
    marker = f"R{uuid.uuid4().hex[:8].upper()}"
    with dashboard_process(envs[0], tmp_path / "d1.log") as one, \
            dashboard_process(envs[1], tmp_path / "d2.log") as two, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()  # one cookie jar: both dashboards share the session key
        pages = []
        for dash in (one, two):
            page = context.new_page()
            page.goto(dash.url + "/login")
            if page.locator("input[name=password]").count():
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", ADMIN_PASSWORD)
                page.click("button[type=submit]")
            page.goto(dash.url + "/live")
            page.wait_for_selector("#conn.up", timeout=10_000)
            pages.append(page)
        _wait_until_subscribed(redis_url, pages)
        _publish(redis_url, _payload(marker))
        for page in pages:
            page.wait_for_selector(f"#live-feed td.plate:has-text('{marker}')", timeout=10_000)
            page.wait_for_timeout(200)
            assert page.locator(f"#live-feed td.plate:has-text('{marker}')").count() == 1
        browser.close()
