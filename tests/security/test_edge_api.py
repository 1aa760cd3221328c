"""Threat model, edge control API and local pages: a web page the operator visits, DNS rebinding,
and rows written by outside programs (findings 3, 6 and 16).

The agent runs as ``python -m edge_agent`` with its default settings (no EDGE_API_TOKEN,
127.0.0.1) and a real Chromium plays the operator's browser. Every test here failed on
main at b009fd5; the last one held there and must keep holding.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import urllib.parse

import pytest
import requests

from tests.dashboard.stack import CHROMIUM, CHROMIUM_ARGS
from tests.edge_agent.harness import agent_env, agent_process, edge_settings, fill_outbox
from tests.support.images import scene_jpeg
from tests.support.ingest import REPO, _free_port
from tests.support.processes import wait_http

pytestmark = [pytest.mark.slow]
STOP = "fetch('/api/stop_websocket_sender',{method:'POST'})"
REFLECTED = f"\"><img src=x onerror=\"document.title='XSS-RAN';{STOP}\">"
STORED = "x\" onerror=\"document.title='stored-xss';//"


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """An edge agent with default API settings on a free port, with one detection and one hostile outside row."""
    tmp = tmp_path_factory.mktemp("edge-attack")
    port = _free_port()
    settings = edge_settings(tmp, "ws://127.0.0.1:9", None, edge_api_port=port)
    fill_outbox(settings, 1, scene_jpeg(320, 240), prefix="SEEN")
    photo = tmp / "outside.jpg"
    photo.write_bytes(scene_jpeg(320, 240, seed=2))
    with contextlib.closing(sqlite3.connect(settings.db_path)) as con, con:
        con.execute("INSERT INTO detection_results (event_id, license_plate, confidence, timestamp, image_path) "
                    "VALUES (?, 'XSS1', 80.0, '2026-11-30T10:00:00', ?)", (STORED, str(photo)))
    with agent_process(settings, tmp / "agent.log"):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/websocket_status")
        yield base, port


def uplink_state(base: str) -> str:
    return requests.get(base + "/api/websocket_status", timeout=5).json()["websocket"]["state"]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM or not __import__("os").path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def visit(chromium, url: str, wait_for: str) -> tuple[str, list[str], int]:
    """Open ``url``; return the title, the POSTs the page made, and how many ``img[onerror]`` it holds."""
    page = chromium.new_page()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(url)
    page.wait_for_selector(wait_for, timeout=10_000)
    page.wait_for_timeout(2500)  # one more refresh round of the page's polling
    result = page.title(), posts, page.locator("img[onerror]").count()
    page.close()
    return result


@pytest.mark.browser
def test_token_parameter_cannot_inject_script(agent, chromium):
    """Finding 3: ``/?token=<markup>`` runs nothing, posts nothing, and the uplink keeps running."""
    base, _ = agent
    title, posts, injected = visit(chromium, base + "/?token=" + urllib.parse.quote(REFLECTED), "text=SEEN0")
    assert (title, posts, injected) == ("Checkpoint · Overview", [], 0)
    assert uplink_state(base) != "stopped"


@pytest.mark.browser
def test_outside_rows_event_id_cannot_inject_script(agent, chromium):
    """Finding 16: an outside program's row with markup in ``event_id`` is shown as text, never run."""
    base, _ = agent
    title, posts, injected = visit(chromium, base + "/detection", "text=XSS1")
    assert (title, posts, injected) == ("Checkpoint · Detection", [], 0)


def test_pages_send_a_strict_content_security_policy(agent):
    """Finding 3: pages allow only their own script (no inline script, no eval) and no framing."""
    base, _ = agent
    page = requests.get(base + "/detection", timeout=5)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text and "onclick" not in page.text


def test_dns_rebinding_cannot_reach_the_control_api(agent):
    """Finding 6: a request whose Host is a foreign name (DNS rebinding) is refused with 400 and changes nothing."""
    base, port = agent
    foreign = {"Host": f"rebind.evil.example:{port}", "Origin": f"http://rebind.evil.example:{port}"}
    before = uplink_state(base)
    stop = requests.post(base + "/api/stop_websocket_sender", headers=foreign, timeout=5)
    read = requests.get(base + "/api/websocket_unsent_data", headers=foreign, timeout=5)
    assert (stop.status_code, read.status_code) == (400, 400)
    assert uplink_state(base) == before != "stopped"
    assert requests.get(base + "/api/websocket_status", headers={"Host": f"localhost:{port}"},
                        timeout=5).status_code == 200


def test_control_api_is_served_by_waitress(agent):
    """Finding 6: the API is served by a production WSGI server, not werkzeug's development server."""
    base, _ = agent
    assert requests.get(base + "/api/websocket_status", timeout=5).headers["Server"] == "waitress"


def test_api_beyond_loopback_needs_a_token(tmp_path):
    """Finding 6 (held on main): EDGE_API_HOST=0.0.0.0 without EDGE_API_TOKEN refuses to start."""
    settings = edge_settings(tmp_path, "ws://127.0.0.1:9", None)
    env = {**agent_env(settings), "EDGE_API_HOST": "0.0.0.0"}
    done = subprocess.run([sys.executable, "-m", "edge_agent"], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "EDGE_API_TOKEN" in done.stderr
