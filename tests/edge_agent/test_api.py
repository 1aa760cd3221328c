"""The control API: old endpoint paths, JSON errors, token and origin checks, pages and images."""

from __future__ import annotations

import pytest

from edge_agent.api import AgentParts, create_app
from edge_agent.cleanup import CapWatch
from edge_agent.delivery import Kind
from edge_agent.health import HealthConfig, HealthMonitor
from edge_agent.uplink import Uplink, UplinkConfig
from tests.edge_agent.conftest import make_event
from tests.edge_agent.fakes import FakeVision, LoopThread
from tests.support.ingest import _free_port

TOKEN = "s3cret-token"


@pytest.fixture
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def parts(outbox, loop_thread):
    uplink = Uplink(outbox, UplinkConfig(f"ws://127.0.0.1:{_free_port()}", reconnect_min=0.05,
                                         reconnect_max=0.2), None)
    uplink.bind(loop_thread.loop)
    vision = FakeVision()
    health = HealthMonitor(outbox, uplink.status, vision, CapWatch(), HealthConfig())
    yield AgentParts(outbox, uplink, health, vision)
    loop_thread.run(uplink.stop_async())


@pytest.fixture
def client(parts):
    return create_app(parts).test_client()


def test_websocket_start_stop_restart_and_status(client):
    """The sender endpoints change the uplink state and report it."""
    assert client.get("/api/websocket_status").json["websocket"]["state"] == "stopped"
    started = client.post("/api/start_websocket_sender").json
    assert started["status"] == "success" and started["websocket"]["running"] is True
    assert client.post("/api/restart_websocket_sender").json["websocket"]["running"] is True
    stopped = client.post("/api/stop_websocket_sender").json
    assert stopped["websocket"]["state"] == "stopped" and stopped["websocket"]["running"] is False


def test_unsent_data_lists_pending_rows_and_validates_limit(client, outbox):
    """Unsent rows are listed oldest first; a bad limit is a clear 400 that changes nothing."""
    for plate in ("A1", "B2", "C3"):
        outbox.submit(make_event(plate))
    body = client.get("/api/websocket_unsent_data?limit=2").json
    assert [r["license_plate"] for r in body["detections"]] == ["A1", "B2"]
    assert body["detections"][0]["delivery"] == "pending" and body["detections"][0]["has_plate"] is True
    for bad, message in (("abc", "must be an integer"), ("0", "between 1 and 1000")):
        answer = client.get(f"/api/websocket_unsent_data?limit={bad}")
        assert answer.status_code == 400 and message in answer.json["message"]
        assert answer.json["status"] == "error"


def test_camera_and_detection_endpoints_drive_vision(client, parts):
    """Start/stop endpoints call the vision service and return its status."""
    assert client.post("/api/start_camera").json["camera"]["running"] is True
    assert client.post("/api/start_detection").json["detection"]["running"] is True
    assert client.get("/api/detection_status").json["detection"]["running"] is True
    assert client.post("/api/stop_detection").json["detection"]["running"] is False
    assert client.post("/api/stop_camera").json["camera"]["running"] is False
    assert client.get("/api/camera_status").json["camera"]["source"] == "fake"
    assert parts.vision.calls == ["start_camera", "start_detection", "stop_detection", "stop_camera"]


def test_vision_absent_is_a_clear_503(parts):
    """Without vision (EDGE_VISION=0) the camera endpoints say so instead of failing obscurely."""
    bare = AgentParts(parts.outbox, parts.uplink, parts.health, None, "disabled (EDGE_VISION=0)")
    answer = create_app(bare).test_client().post("/api/start_camera")
    assert answer.status_code == 503 and "EDGE_VISION=0" in answer.json["message"]


def test_health_status_and_run_health_check(client, outbox):
    """Running a check returns every component and queues health rows for delivery."""
    body = client.post("/api/run_health_check").json["health"]
    names = {c["component"] for c in body["components"]}
    assert {"system", "disk", "camera", "detector", "hailo", "outbox", "uplink"} <= names
    assert outbox.backlog(Kind.HEALTH).pending == len(body["components"])
    assert client.get("/api/health_status").json["health"]["checked_at"] == body["checked_at"]


def test_wrong_method_and_unknown_path_are_json(client):
    """HTTP errors come back as JSON with a message, not HTML."""
    wrong = client.get("/api/start_camera")
    missing = client.get("/api/nope")
    assert wrong.status_code == 405 and wrong.json["status"] == "error"
    assert missing.status_code == 404 and "Not Found" in missing.json["message"]


def test_cross_site_post_is_refused(client, parts):
    """A POST whose Origin is another site is refused and changes nothing."""
    answer = client.post("/api/start_camera", headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403 and parts.vision.calls == []
    assert client.post("/api/start_camera", headers={"Origin": "http://localhost"}).status_code == 200


def test_token_required_when_configured(parts):
    """With a token every API request needs it, as a Bearer header or the pages' cookie (never ?token=)."""
    guarded = create_app(parts, token=TOKEN).test_client()
    refused = guarded.get("/api/websocket_status")
    assert refused.status_code == 401 and "token" in refused.json["message"]
    wrong = guarded.get("/api/websocket_status", headers={"Authorization": "Bearer wrong"})
    right = guarded.get("/api/websocket_status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert wrong.status_code == 401 and right.status_code == 200
    assert guarded.get("/health").status_code == 200  # the page shell holds no data
    assert guarded.get(f"/api/websocket_status?token={TOKEN}").status_code == 401
    assert guarded.post("/api/start_camera").status_code == 401 and parts.vision.calls == []
    assert guarded.post("/api/session", json={"token": "wrong"}).status_code == 401
    assert guarded.post("/api/session", json={"token": TOKEN}).status_code == 200
    assert guarded.get("/api/websocket_status").status_code == 200  # the cookie now carries it


def test_pages_render_and_images_are_served(client, outbox):
    """The four pages load; scene and plate crops of a detection are served as JPEG."""
    for path in ("/", "/detection", "/health", "/websocket"):
        page = client.get(path)
        assert page.status_code == 200 and b"/static/pages.js" in page.data
    event_id = outbox.submit(make_event("IMG1"))
    recent = client.get("/api/detections?limit=1").json["detections"][0]
    assert recent["event_id"] == event_id and recent["has_scene"] and recent["has_plate"]
    for which in ("scene", "plate"):
        image = client.get(f"/images/{event_id}/{which}.jpg")
        assert image.status_code == 200 and image.data[:2] == b"\xff\xd8"
    assert client.get(f"/images/{event_id}/other.jpg").status_code == 400
    assert client.get("/images/not-a-uuid/scene.jpg").status_code == 400


def test_component_failure_is_a_json_500_with_the_reason(client, parts, monkeypatch):
    """When the vision service raises, the API answers JSON 500 naming the failure."""
    def broken():
        raise RuntimeError("camera /dev/video0 is busy")

    monkeypatch.setattr(parts.vision, "start_camera", broken)
    answer = client.post("/api/start_camera")
    assert answer.status_code == 500 and "camera /dev/video0 is busy" in answer.json["message"]
