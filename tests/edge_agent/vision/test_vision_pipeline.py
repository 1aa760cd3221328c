"""The live pipeline over replayed footage: one event per car, none for blur, camera failure and recovery."""

from __future__ import annotations

import shutil
import threading
import time

import cv2
import numpy as np
import pytest

from demo.render import write_demo_footage
from edge_agent.events import PlateEvent, Status
from edge_agent.vision.base import DetectorError
from edge_agent.vision.config import VisionSettings
from edge_agent.vision.pipeline import MotionGate, VisionPipeline
from edge_agent.vision.sources import FolderSource


class ListSink:
    """Collects submitted events (the outbox's role in the agent)."""

    def __init__(self) -> None:
        self.events: list[PlateEvent] = []
        self.lock = threading.Lock()

    def submit(self, event: PlateEvent) -> None:
        with self.lock:
            self.events.append(event)


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _run_footage(folder, recognizer, seconds):
    sink = ListSink()
    settings = VisionSettings(camera_source=str(folder), detector="cpu", event_delay_s=1.0)
    pipe = VisionPipeline(
        settings,
        sink,
        source_factory=lambda: FolderSource(folder, fps=10, loop=False),
        recognizer_factory=lambda: recognizer,
    )
    pipe.start_detection()
    time.sleep(seconds)
    pipe.close()
    return pipe, sink


@pytest.mark.slow
def test_car_held_in_view_for_three_seconds_gives_one_event(tmp_path, recognizer, monkeypatch):
    """A car that drives in and waits 3 s yields exactly one event, with scene and plate JPEGs; the
    live path never takes read-plates' finer second look (frames with a car and no plate yet)."""
    looks = []
    monkeypatch.setattr(recognizer.detector, "detect_finer", lambda image: looks.append(image) or [])
    (car,) = write_demo_footage(tmp_path / "f", seed=7, vehicles=1, dwell_s=3.0, gap_s=1.0)
    pipe, sink = _run_footage(tmp_path / "f", recognizer, 5.5)
    assert looks == []
    assert [e.license_plate for e in sink.events] == [car.spec.text]
    event = sink.events[0]
    assert event.province == car.spec.province and 0 < event.confidence <= 100
    assert event.timestamp.tzinfo is not None and event.box is not None
    assert cv2.imdecode(np.frombuffer(event.scene_jpeg, np.uint8), cv2.IMREAD_COLOR).shape[1] == 640
    assert event.plate_jpeg and cv2.imdecode(np.frombuffer(event.plate_jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
    assert pipe.detection_status()["events"] == 1


@pytest.mark.slow
def test_blurred_plate_gives_no_event(tmp_path, recognizer):
    """A car whose plate is badly blurred for the whole visit yields no event."""
    write_demo_footage(tmp_path / "f", seed=7, vehicles=1, dwell_s=3.0, gap_s=1.0, blur=12.0)
    _, sink = _run_footage(tmp_path / "f", recognizer, 5.5)
    assert sink.events == []


def test_dead_camera_shows_fail_and_recovers(tmp_path):
    """Frames stop when the folder vanishes: health says FAIL; when it is back, PASS again."""
    folder = tmp_path / "cam"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((90, 160, 3), i * 30, np.uint8))
    backup = shutil.copytree(folder, tmp_path / "backup")
    pipe = VisionPipeline(VisionSettings(camera_source=str(folder), replay_fps=50), ListSink())
    pipe.start_camera()
    try:
        assert _wait_for(lambda: pipe.camera_status()["frames"] > 3)
        assert pipe.health()[0].status == Status.PASS
        shutil.rmtree(folder)
        assert _wait_for(lambda: pipe.health()[0].status == Status.FAIL)
        assert pipe.camera_status()["status"] == "FAIL"
        shutil.copytree(backup, folder)
        assert _wait_for(lambda: pipe.health()[0].status == Status.PASS)
    finally:
        pipe.close()
    assert pipe.camera_status()["running"] is False


def test_detector_that_cannot_load_shows_fail(tmp_path):
    """If the models cannot load, the detector component says FAIL and the camera keeps going."""
    folder = tmp_path / "cam"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((90, 160, 3), np.uint8))

    def broken():
        raise DetectorError("Thai plate model not found: /nowhere/thai_plate_reader.onnx")

    pipe = VisionPipeline(
        VisionSettings(camera_source=str(folder), replay_fps=50), ListSink(), recognizer_factory=broken
    )
    pipe.start_detection()
    try:
        assert _wait_for(lambda: pipe.health()[1].status == Status.FAIL)
        assert "Thai plate model not found" in pipe.health()[1].message
        assert pipe.health()[0].status == Status.PASS
    finally:
        pipe.close()


def test_motion_gate_skips_still_frames_and_wakes_on_motion():
    """A still scene is checked only now and then; a moving object returns its region."""
    gate = MotionGate(threshold=0.004, idle_check_s=2.0)
    still = np.full((720, 1280, 3), 100, np.uint8)
    assert gate.check(still, 0.0, busy=False) is not None  # first frame: full check
    assert gate.check(still, 0.1, busy=False) is None
    moving = still.copy()
    moving[300:500, 600:900] = 250
    roi = gate.check(moving, 0.2, busy=False)
    assert roi is not None and roi.x <= 600 and roi.x + roi.w >= 900 and roi.w < 1280
    assert gate.check(still, 2.5, busy=False) is not None  # periodic full check
