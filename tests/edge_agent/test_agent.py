"""The whole agent in-process: vision events through the sink to the real ingest, API over HTTP."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from edge_agent.agent import load_vision
from tests.edge_agent.conftest import make_event
from tests.edge_agent.fakes import FakeVision
from tests.edge_agent.harness import edge_backlog, edge_settings, running_agent, stored, until
from tests.support.ingest import ingest_settings, running_ingest


def http(port: int, path: str, method: str = "GET", token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


async def test_vision_events_flow_to_server_and_api_answers_over_http(tmp_path, sqlite_url):
    """Events the vision service submits are delivered; the API drives vision; shutdown closes it."""
    created: list[FakeVision] = []

    def loader(settings, sink):
        created.append(FakeVision(sink))
        return created[0], ""

    async with running_ingest(ingest_settings(sqlite_url, tmp_path / "central")) as server:
        settings = edge_settings(tmp_path, server.url, server.add_checkpoint("1"))
        async with running_agent(settings, loader) as agent:
            vision = created[0]
            assert vision.calls == ["start_camera", "start_detection"]
            for plate in ("V1", "V2", "V3"):
                vision.emit(make_event(plate))
            await until(lambda: edge_backlog(settings).delivered == 3, 15, "vision events delivered")
            port = agent.api_port
            assert http(port, "/api/stop_detection", "POST")[1]["detection"]["running"] is False
            status, body = http(port, "/api/websocket_status")
            assert status == 200 and body["websocket"]["state"] == "connected"
            assert body["websocket"]["delivered"] >= 3
        engine = server.engine()
        plates = {r.license_plate for r in stored(engine)}
        engine.dispose()
    assert plates == {"V1", "V2", "V3"} and vision.closed


async def test_agent_runs_without_vision_package_and_needs_token_beyond_localhost(tmp_path, monkeypatch):
    """Without the vision package the agent still serves; a bound token guards the API."""
    monkeypatch.setitem(sys.modules, "edge_agent.vision", None)  # a build without the package
    settings = edge_settings(tmp_path, "ws://127.0.0.1:9", None, edge_api_token="tok-123")
    assert load_vision(settings, None) == (None, "vision package not installed")
    async with running_agent(settings, load_vision) as agent:
        assert http(agent.api_port, "/api/camera_status")[0] == 401
        status, body = http(agent.api_port, "/api/camera_status", token="tok-123")
        assert status == 503 and "not installed" in body["message"]
        health = http(agent.api_port, "/api/health_status", token="tok-123")[1]["health"]
        camera = next(c for c in health["components"] if c["component"] == "camera")
        assert camera["status"] == "WARN"
