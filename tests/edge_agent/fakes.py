"""A fake VisionService (the camera/detector side is another package) and an event loop thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from edge_agent.events import ComponentStatus, EventSink, PlateEvent, Status


class FakeVision:
    """Honours the VisionService protocol: idempotent start/stop, JSON-ready status dicts."""

    def __init__(self, sink: EventSink | None = None):
        self.sink = sink
        self.camera_running = False
        self.detection_running = False
        self.closed = False
        self.calls: list[str] = []

    def start_camera(self) -> None:
        self.calls.append("start_camera")
        self.camera_running = True

    def stop_camera(self) -> None:
        self.calls.append("stop_camera")
        self.camera_running = False
        self.detection_running = False

    def start_detection(self) -> None:
        self.calls.append("start_detection")
        self.camera_running = self.detection_running = True

    def stop_detection(self) -> None:
        self.calls.append("stop_detection")
        self.detection_running = False

    def camera_status(self) -> dict[str, Any]:
        return {"running": self.camera_running, "source": "fake", "fps": 10.0 if self.camera_running else 0}

    def detection_status(self) -> dict[str, Any]:
        return {"running": self.detection_running, "detector": "fake"}

    def health(self) -> list[ComponentStatus]:
        camera = Status.PASS if self.camera_running else Status.WARN
        return [ComponentStatus("camera", camera, "fake camera"),
                ComponentStatus("detector", Status.PASS, "fake detector")]

    def close(self) -> None:
        self.closed = True

    def emit(self, event: PlateEvent) -> None:
        """What the real pipeline does once per vehicle."""
        assert self.sink is not None
        self.sink.submit(event)


class LoopThread:
    """An asyncio loop in a daemon thread, for parts (the uplink) that other threads drive."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
