"""The local pages in a real browser (Debian chromium via Playwright) against a running agent."""

from __future__ import annotations

import shutil

import pytest

from tests.edge_agent.conftest import make_event
from tests.edge_agent.fakes import FakeVision
from tests.edge_agent.harness import edge_settings, running_agent

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.async_api", reason="Playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    return playwright


async def test_pages_show_live_state_images_and_buttons_work(tmp_path, browser):
    """Detection page lists the plate with its crop; its buttons drive the camera; token pages work."""
    vision: list[FakeVision] = []

    def loader(settings, sink):
        vision.append(FakeVision(sink))
        return vision[0], ""

    settings = edge_settings(tmp_path, "ws://127.0.0.1:9", None, edge_api_token="tok")
    async with running_agent(settings, loader) as agent, browser.async_playwright() as pw:
        vision[0].emit(make_event("PAGE1"))
        chrome = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await chrome.new_page()
        base = f"http://127.0.0.1:{agent.api_port}"
        await page.goto(f"{base}/detection")
        await page.fill("input[name=token]", "tok")
        await page.click("text=Unlock")
        await page.wait_for_selector("text=PAGE1")
        assert await page.locator("img[alt=plate]").evaluate("img => img.naturalWidth") > 0
        await page.click("text=stop camera")
        await page.wait_for_function(  # a function, not a string: the page's CSP forbids eval
            "() => document.querySelector('pre').textContent.includes('\"running\": false')")
        assert vision[0].calls[-1] == "stop_camera"
        await page.goto(f"{base}/health")  # the cookie carries the token from page to page
        await page.wait_for_selector("text=uplink")
        fresh = await chrome.new_page()  # another browser profile: no cookie, the API's refusal is shown
        await fresh.goto(f"{base}/websocket")
        await fresh.wait_for_selector("text=a valid token is required")
        await chrome.close()
