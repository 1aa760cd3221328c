"""The live pipeline: camera → motion gate → plate recognizer → tracker → EventSink.

One worker thread owns the source, the gate, the recognizer and the tracker; the
public methods only flip flags and read a snapshot under a lock, so they are
thread-safe and return at once. A camera error closes the source and reopens it
with backoff (health says FAIL meanwhile, and "recovered" once it is back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import cv2
import numpy as np

from ..events import ComponentStatus, EventSink, PlateEvent, Status
from .base import Box, Frame, SourceError, VisionError
from .config import VisionSettings
from .reader import PlateRecognizer
from .sources import FrameSource, open_source_spec
from .tracking import PlateTracker, TrackerOptions, VehicleResult

log = logging.getLogger(__name__)


class MotionGate:
    """Cheap "is anything happening" check on a 160×90 grey thumbnail.

    Returns the region to run the recognizer on, or ``None`` to skip the frame. Runs the
    recognizer on moving regions, on the last region while a vehicle still waits for its
    plate (a car that stopped no longer moves), and on the whole frame every ``idle_check_s``.
    """

    SIZE = (160, 90)

    def __init__(self, threshold: float, idle_check_s: float = 2.0) -> None:
        self.threshold = threshold
        self.idle_check_s = idle_check_s
        self._background: np.ndarray | None = None
        self._last_check = -1e9
        self._last_roi: Box | None = None

    def check(self, image: np.ndarray, now: float, busy: bool) -> Box | None:
        h, w = image.shape[:2]
        small = cv2.resize(image, self.SIZE, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0).astype(np.float32)
        if self._background is None:
            self._background = small
            return self._full(now, w, h)
        moving = cv2.absdiff(small, self._background) > 20
        cv2.accumulateWeighted(small, self._background, 0.05)
        if moving.mean() >= self.threshold:
            ys, xs = np.nonzero(moving)
            fx, fy = w / self.SIZE[0], h / self.SIZE[1]
            roi = Box(int(xs.min() * fx), int(ys.min() * fy), int((np.ptp(xs) + 1) * fx), int((np.ptp(ys) + 1) * fy))
            self._last_roi, self._last_check = roi.expand(0.15, 0.15, w, h), now
            return self._last_roi
        if busy and self._last_roi is not None:
            return self._last_roi
        if now - self._last_check >= self.idle_check_s:
            return self._full(now, w, h)
        return None

    def _full(self, now: float, w: int, h: int) -> Box:
        self._last_check, self._last_roi = now, None
        return Box(0, 0, w, h)


@dataclass
class _Stats:
    frames: int = 0
    processed: int = 0
    events: int = 0
    camera: Status = Status.WARN
    camera_msg: str = "camera not started"
    detector: Status = Status.WARN
    detector_msg: str = "detection not started"
    last_frame_at: datetime | None = None
    last_plate: str = ""
    fps: float = 0.0


def _touches_edge(box: Box, width: int, height: int) -> bool:
    """A plate cut off by the frame edge (a car still driving in) is not read yet."""
    return box.x <= 1 or box.y <= 1 or box.x + box.w >= width - 1 or box.y + box.h >= height - 1


def encode_jpeg(image: np.ndarray, quality: int, max_width: int | None = None) -> bytes:
    """JPEG bytes of a BGR image, scaled down to ``max_width`` when wider."""
    if max_width is not None and image.shape[1] > max_width:
        scale = max_width / image.shape[1]
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VisionError("JPEG encoding failed")
    return buf.tobytes()


class VisionPipeline:
    """Implements :class:`edge_agent.events.VisionService` over a source and a recognizer."""

    def __init__(
        self,
        settings: VisionSettings,
        sink: EventSink,
        source_factory: Callable[[], FrameSource] | None = None,
        recognizer_factory: Callable[[], PlateRecognizer] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from .factory import build_recognizer

        self.settings = settings
        self.sink = sink
        self._source_factory = source_factory or (
            lambda: open_source_spec(
                settings.camera_source, settings.replay_fps, settings.frame_width, settings.frame_height
            )
        )
        self._recognizer_factory = recognizer_factory or (lambda: build_recognizer(settings))
        self._clock = clock
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._detecting = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recognizer: PlateRecognizer | None = None
        self._last_frame_clock: float | None = None
        self._frame_dt: float | None = None
        self.tracker = PlateTracker(
            TrackerOptions(
                emit_delay_s=settings.event_delay_s,
                min_sharpness=settings.min_sharpness,
                min_confidence=settings.min_confidence,
            )
        )
        self.gate = MotionGate(settings.motion_threshold)

    # -- VisionService -------------------------------------------------------------------
    def start_camera(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()  # one per worker: a stopping worker keeps its own
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="vision", daemon=True)
            self._thread.start()

    def stop_camera(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join(timeout=10.0)
        self._set(camera=Status.WARN, camera_msg="camera stopped")

    def start_detection(self) -> None:
        with self._lock:
            self._detecting = True
        self.start_camera()

    def stop_detection(self) -> None:
        with self._lock:
            self._detecting = False
        self._set(detector=Status.WARN, detector_msg="detection stopped")

    def camera_status(self) -> dict[str, Any]:
        with self._lock:
            s = self._stats
            return {
                "running": self._thread is not None and self._thread.is_alive(),
                "status": s.camera.value,
                "message": s.camera_msg,
                "source": self.settings.camera_source,
                "frames": s.frames,
                "fps": round(s.fps, 1),
                "last_frame_at": s.last_frame_at.isoformat() if s.last_frame_at else None,
            }

    def detection_status(self) -> dict[str, Any]:
        with self._lock:
            s = self._stats
            return {
                "enabled": self._detecting,
                "status": s.detector.value,
                "message": s.detector_msg,
                "detector": self._recognizer.detector.name if self._recognizer else None,
                "frames_processed": s.processed,
                "events": s.events,
                "last_plate": s.last_plate,
            }

    def health(self) -> list[ComponentStatus]:
        with self._lock:
            s = self._stats
            return [
                ComponentStatus("camera", s.camera, s.camera_msg, {"frames": s.frames}),
                ComponentStatus("detector", s.detector, s.detector_msg, {"events": s.events}),
            ]

    def close(self) -> None:
        self.stop_camera()
        if self._recognizer is not None:
            self._recognizer.close()
            self._recognizer = None

    # -- worker --------------------------------------------------------------------------
    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._stats = replace(self._stats, **changes)

    def _run(self, stop: threading.Event) -> None:
        source: FrameSource | None = None
        backoff = 0.2
        while not stop.is_set():
            if source is None and (source := self._open()) is None:
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:
                frame = source.read()
            except SourceError as exc:
                self._camera_failed(str(exc))
                source.close()
                source = None
                stop.wait(backoff)  # a source that opens but never delivers must not spin
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            self._on_frame(frame)
        if source is not None:
            source.close()
        self._submit(self.tracker.flush(self._clock()))

    def _open(self) -> FrameSource | None:
        try:
            source = self._source_factory()
            source.open()
        except (SourceError, VisionError) as exc:
            self._camera_failed(str(exc))
            return None
        if self._stats.camera == Status.FAIL:
            log.info("camera recovered: %s", source.description)
        self._set(camera=Status.PASS, camera_msg=f"Camera working normally ({source.description})")
        return source

    def _camera_failed(self, message: str) -> None:
        if self._stats.camera != Status.FAIL:
            log.warning("camera failed: %s", message)
        self._set(camera=Status.FAIL, camera_msg=message)

    def _on_frame(self, frame: Frame) -> None:
        now = self._clock()
        with self._lock:
            s = self._stats
            if self._last_frame_clock is not None:  # smooth the frame interval, not the rate
                dt = now - self._last_frame_clock
                self._frame_dt = dt if self._frame_dt is None else 0.9 * self._frame_dt + 0.1 * dt
            fps = 1.0 / self._frame_dt if self._frame_dt else 0.0
            self._stats = replace(s, frames=s.frames + 1, last_frame_at=frame.timestamp, fps=fps)
            self._last_frame_clock = now
            detecting = self._detecting
        if detecting:
            try:
                self._process(frame, now)
            except Exception as exc:  # a bug or a bad frame must not kill the camera thread  # noqa: BLE001
                if self._stats.detector != Status.FAIL:
                    log.exception("plate detection failed")
                self._set(detector=Status.FAIL, detector_msg=f"detection failed: {exc}")

    def _process(self, frame: Frame, now: float) -> None:
        recognizer = self._ensure_recognizer()
        if recognizer is None:
            return
        roi = self.gate.check(frame.image, now, self.tracker.undecided)
        reads = []
        if roi is not None:
            crop = frame.image[roi.y : roi.y + roi.h, roi.x : roi.x + roi.w]
            h, w = frame.image.shape[:2]
            shifted = [replace(r, box=r.box.shift(roi.x, roi.y)) for r in recognizer.recognize(crop, finer=False)]
            reads = [r for r in shifted if not _touches_edge(r.box, w, h)]
            self._set(processed=self._stats.processed + 1)
        self._submit(self.tracker.update(now, frame, reads))
        self._detector_health(recognizer)

    def _detector_health(self, recognizer: PlateRecognizer) -> None:
        error = recognizer.detector.last_error
        status, msg = (
            (Status.FAIL, f"detector error: {error}")
            if error
            else (Status.PASS, f"Detector working normally ({recognizer.detector.name})")
        )
        if self._stats.detector != status:
            self._set(detector=status, detector_msg=msg)

    def _ensure_recognizer(self) -> PlateRecognizer | None:
        if self._recognizer is None:
            try:
                self._recognizer = self._recognizer_factory()
            except VisionError as exc:
                if self._stats.detector != Status.FAIL:
                    log.error("cannot load the plate detector: %s", exc)
                self._set(detector=Status.FAIL, detector_msg=str(exc))
                return None
        return self._recognizer

    def _submit(self, results: list[VehicleResult]) -> None:
        for result in results:
            event = self._event(result)
            try:
                self.sink.submit(event)
            except Exception:  # the sink is another component: keep the camera running  # noqa: BLE001
                log.exception("event sink refused %s", result.text)
                continue
            self._set(events=self._stats.events + 1, last_plate=result.text)

    def _event(self, result: VehicleResult) -> PlateEvent:
        frame, read, q = result.frame, result.read, self.settings.jpeg_quality
        box = read.box
        crop_src, cbox = frame.image, box.expand(0.1, 0.2, frame.image.shape[1], frame.image.shape[0])
        if frame.hires is not None:  # crop from the hi-res stream of the same instant
            factor = frame.hires.shape[1] / frame.image.shape[1]
            crop_src, cbox = frame.hires, cbox.scale(factor)
        crop = crop_src[cbox.y : cbox.y + cbox.h, cbox.x : cbox.x + cbox.w]
        return PlateEvent(
            license_plate=result.text,
            confidence=round(result.confidence * 100, 1),
            timestamp=frame.timestamp,
            scene_jpeg=encode_jpeg(frame.image, q, self.settings.scene_max_width),
            plate_jpeg=encode_jpeg(crop, q) if crop.size else None,
            plate_raw=read.raw,
            province=result.province,
            province_confidence=(
                None if result.province_confidence is None else round(result.province_confidence * 100, 1)
            ),
            vehicle_type=result.read.vehicle_type,
            box=(box.x, box.y, box.w, box.h),
            exposure_time=frame.exposure_time,
            analog_gain=frame.analog_gain,
            lux=frame.lux,
        )
