"""Camera sources behind one interface, chosen by the ``CAMERA_SOURCE`` string.

* ``picamera2`` — the Pi camera (imported lazily): a low-res stream for detection and a
  hi-res one for crops of the same frame. Its "RGB888" format is BGR in memory, which
  is what OpenCV wants, so no conversion happens. Exposure time, analogue gain and lux
  come from the frame metadata.
* ``usb:N``, ``rtsp://…``, a video file — OpenCV ``VideoCapture``. RTSP keeps only the
  newest frame (a reader thread drains the stream) so a slow detector never lags.
* a folder of images — replayed in name order at a fixed rate, looping; for demos/tests.

``read()`` returns a :class:`Frame` or raises :class:`SourceError`; the pipeline reopens
the source after an error (that is the reconnect).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .base import Frame, SourceError, VisionConfigError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class FrameSource(Protocol):
    """A camera. ``open`` may raise :class:`SourceError`; ``read`` blocks until a frame or raises."""

    description: str

    def open(self) -> None: ...

    def read(self) -> Frame: ...

    def close(self) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class FolderSource:
    """Images from a folder in name order, at ``fps`` frames per second, looping if asked."""

    def __init__(self, folder: Path, fps: float = 10.0, loop: bool = True, realtime: bool = True) -> None:
        self.folder = folder
        self.fps = fps
        self.loop = loop
        self.realtime = realtime
        self.description = f"folder {folder}"
        self._files: list[Path] = []
        self._pos = 0
        self._count = 0
        self._started = 0.0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"no such folder: {self.folder}")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise SourceError(f"no images in {self.folder}")
        self._pos, self._started = 0, time.monotonic()

    def read(self) -> Frame:
        """The image due now; when the caller is slow, frames are skipped, as with a live camera."""
        if not self._files:
            raise SourceError("source is not open")
        self._pos = self._due_index()
        if self._pos >= len(self._files):
            if not self.loop:
                raise SourceError(f"end of {self.folder}")
            self._started -= len(self._files) / self.fps if self.realtime else 0.0
            self._pos %= len(self._files)
        path = self._files[self._pos]
        self._pos += 1
        image = cv2.imread(str(path))
        if image is None:
            raise SourceError(f"cannot decode {path}")
        self._count += 1
        return Frame(image, _now(), self._count)

    def _due_index(self) -> int:
        """Next index to show: sleep until it is due; skip ahead to the one due now if late."""
        if not self.realtime:
            return self._pos
        elapsed = time.monotonic() - self._started
        due = int(elapsed * self.fps)
        if due < self._pos:
            time.sleep(max(0.0, self._started + self._pos / self.fps - time.monotonic()))
            return self._pos
        return due

    def close(self) -> None:
        self._files = []


class OpenCVSource:
    """USB cameras, RTSP streams and video files through ``cv2.VideoCapture``.

    For live streams (RTSP) a reader thread keeps only the newest frame.
    """

    def __init__(
        self,
        target: str | int,
        latest_only: bool = False,
        width: int = 1280,
        height: int = 720,
        loop: bool = False,
    ) -> None:
        self.target = target
        self.latest_only = latest_only
        self.size = (width, height)
        self.loop = loop
        self.description = f"opencv {target}"
        self._cap: cv2.VideoCapture | None = None
        self._latest: np.ndarray | None = None
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._failed = False
        self._count = 0

    def open(self) -> None:
        cap = cv2.VideoCapture(self.target)
        if isinstance(self.target, int):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.target}")
        self._cap, self._failed = cap, False
        if self.latest_only:
            self._reader = threading.Thread(target=self._drain, name="vision-rtsp", daemon=True)
            self._reader.start()

    def _drain(self) -> None:
        cap = self._cap
        while cap is not None and cap is self._cap:
            ok, image = cap.read()
            with self._cond:
                if not ok:
                    self._failed = True
                    self._cond.notify_all()
                    return
                self._latest = image
                self._cond.notify_all()

    def read(self) -> Frame:
        if self._cap is None:
            raise SourceError("source is not open")
        image = self._read_latest() if self.latest_only else self._read_next()
        self._count += 1
        return Frame(image, _now(), self._count)

    def _read_next(self) -> np.ndarray:
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        if not ok:
            raise SourceError(f"{self.target}: no frame")
        return image

    def _read_latest(self) -> np.ndarray:
        with self._cond:
            if not self._cond.wait_for(lambda: self._latest is not None or self._failed, timeout=5.0):
                raise SourceError(f"{self.target}: no frame for 5 s")
            if self._latest is None:
                raise SourceError(f"{self.target}: stream ended")
            image, self._latest = self._latest, None
        return image

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
            self._reader = None


class Picamera2Source:
    """The Pi camera via ``picamera2`` (only importable on a Pi with libcamera)."""

    def __init__(self, lores: tuple[int, int] = (1280, 720), main: tuple[int, int] = (2304, 1296)) -> None:
        self.lores, self.main = lores, main
        self.description = "picamera2"
        self._cam = None
        self._count = 0

    def open(self) -> None:
        try:
            picamera2 = importlib.import_module("picamera2")
        except ImportError as exc:
            raise SourceError(f"picamera2 is not available here: {exc}") from exc
        try:
            cam = picamera2.Picamera2()
            # "RGB888" is B, G, R in memory: exactly OpenCV's order.
            config = cam.create_video_configuration(
                main={"size": self.main, "format": "RGB888"}, lores={"size": self.lores, "format": "RGB888"}
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # libcamera raises RuntimeError and its own types  # noqa: BLE001
            raise SourceError(f"picamera2: {exc}") from exc
        self._cam = cam

    def read(self) -> Frame:
        if self._cam is None:
            raise SourceError("source is not open")
        try:
            request = self._cam.capture_request()
            try:
                lores, main = request.make_array("lores"), request.make_array("main")
                meta = request.get_metadata()
            finally:
                request.release()
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"picamera2: {exc}") from exc
        self._count += 1
        exposure = meta.get("ExposureTime")
        return Frame(
            lores,
            _now(),
            self._count,
            exposure_time=exposure / 1e6 if exposure else None,
            analog_gain=meta.get("AnalogueGain"),
            lux=meta.get("Lux"),
            hires=main,
        )

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.stop()
            cam.close()


def open_source_spec(spec: str, fps: float = 10.0, width: int = 1280, height: int = 720) -> FrameSource:
    """The source for a ``CAMERA_SOURCE`` string (not yet opened); raises :class:`VisionConfigError`."""
    if spec == "picamera2":
        return Picamera2Source(lores=(width, height))
    if spec.startswith("usb:"):
        index = spec[4:]
        if not index.isdigit():
            raise VisionConfigError(f"usb source needs a device number, e.g. usb:0 (got {spec!r})")
        return OpenCVSource(int(index), width=width, height=height)
    if spec.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return OpenCVSource(spec, latest_only=True)
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path, fps=fps)
    if path.is_file():
        return OpenCVSource(str(path), loop=True)
    raise VisionConfigError(f"CAMERA_SOURCE {spec!r} is not picamera2, usb:N, rtsp://..., a video file or a folder")
