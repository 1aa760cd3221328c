"""A stand-in for ``picamera2`` (Raspberry Pi camera) for tests off the Pi.

Honours the calls the source uses: ``Picamera2()``, ``create_video_configuration(main=...,
lores=...)``, ``configure``, ``start``, ``capture_request()`` → ``make_array(stream)``,
``get_metadata()``, ``release()``, ``stop``, ``close``. "RGB888" arrays are H×W×3 uint8
in B, G, R order, as on the Pi. Metadata uses libcamera's names and units
(``ExposureTime`` in µs). Never installed: tests put this folder on ``sys.path``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FRAME_COLOR_BGR = (200, 100, 50)
METADATA = {"ExposureTime": 20000, "AnalogueGain": 2.5, "Lux": 310.0}
FAIL_AFTER: list[int] = []  # if set, capture_request raises after that many frames


class _Request:
    def __init__(self, cam: Picamera2) -> None:
        self._cam = cam
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        w, h = self._cam.config[name]["size"]
        if self._cam.config[name]["format"] != "RGB888":
            raise RuntimeError("only RGB888 is faked")
        return np.full((h, w, 3), FRAME_COLOR_BGR, np.uint8)

    def get_metadata(self) -> dict[str, Any]:
        return dict(METADATA)

    def release(self) -> None:
        self.released = True


class Picamera2:
    def __init__(self, camera_num: int = 0) -> None:
        self.config: dict[str, Any] = {}
        self.started = False
        self.frames = 0

    def create_video_configuration(
        self, main: dict | None = None, lores: dict | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return {"main": dict(main or {"size": (1920, 1080), "format": "XBGR8888"}), "lores": lores}

    def configure(self, config: dict[str, Any]) -> None:
        self.config = {k: v for k, v in config.items() if v is not None}

    def start(self) -> None:
        if not self.config:
            raise RuntimeError("Camera must be configured before start")
        self.started = True

    def capture_request(self) -> _Request:
        if not self.started:
            raise RuntimeError("Camera not started")
        if FAIL_AFTER and self.frames >= FAIL_AFTER[0]:
            raise RuntimeError("Camera frontend has timed out!")
        self.frames += 1
        return _Request(self)

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.config = {}
