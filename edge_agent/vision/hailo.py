"""Hailo-8/8L plate detector through HailoRT 4.x's ``hailo_platform`` (imported lazily).

Call order is HailoRT's async API: ``VDevice`` → ``create_infer_model(hef)`` →
``configure()`` → ``create_bindings()`` → ``run_async([bindings])`` → ``job.wait()``.
The VDevice lives in the process (and object) that created it. Frames are
letterboxed to the HEF's NHWC input; boxes come back in frame pixels.

Two output kinds are decoded:

* on-chip NMS (``HAILO_NMS_BY_CLASS``): per class a float32 count, then count ×
  (y_min, x_min, y_max, x_max, score), 0-1 relative to the letterboxed input;
  ``get_buffer()`` hands it over as one (n, 5) array per class;
* raw YOLO grids (e.g. Model Zoo ``tiny_yolov4_license_plates``: 13×13×18 and
  26×26×18 = 3 anchors × (x, y, w, h, objectness, class)), decoded and NMS'd on the host.

A failed inference returns ``[]`` and is reported through :attr:`last_error`; nothing
from the driver escapes :meth:`HailoPlateDetector.detect`.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .base import Box, DetectorError, PlateCandidate

log = logging.getLogger(__name__)

# Model Zoo tiny_yolov4_license_plates anchors (pixels at 416x416), largest grid stride first.
TINY_YOLOV4_ANCHORS: dict[int, tuple[tuple[int, int], ...]] = {
    32: ((81, 82), (135, 169), (344, 319)),
    16: ((23, 27), (37, 58), (81, 82)),
}


@dataclass(frozen=True, slots=True)
class HailoOptions:
    """How to run and decode a HEF: thresholds, classes kept, anchors for raw YOLO outputs."""

    hef_path: Path
    score_threshold: float = 0.4
    iou_threshold: float = 0.45
    class_ids: tuple[int, ...] | None = None  # None keeps every class
    timeout_ms: int = 1000
    anchors: dict[int, tuple[tuple[int, int], ...]] | None = None


def hailo_available(hef_path: Path) -> tuple[bool, str]:
    """Whether the Hailo path can run here: module importable, a device present, HEF on disk."""
    try:
        hp = importlib.import_module("hailo_platform")
    except ImportError:
        return False, "hailo_platform is not installed"
    if not hef_path.is_file():
        return False, f"HEF not found: {hef_path}"
    try:
        devices = hp.Device.scan()
    except Exception as exc:  # the driver raises its own types  # noqa: BLE001
        return False, f"device scan failed: {exc}"
    return (True, f"{len(devices)} device(s)") if devices else (False, "no Hailo device found")


def letterbox(image: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float, int, int]:
    """Resize keeping the aspect ratio and pad (grey 114) to ``height``×``width``; RGB out.

    Returns the contiguous image, the scale and the left/top padding.
    """
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    left, top = (width - nw) // 2, (height - nh) // 2
    out = np.full((height, width, 3), 114, np.uint8)
    out[top : top + nh, left : left + nw] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(out), scale, left, top


def decode_nms(per_class: list[np.ndarray], opts: HailoOptions) -> list[tuple[float, float, float, float, float]]:
    """(x0, y0, x1, y1, score) in letterboxed-input relative units, from per-class NMS arrays."""
    out = []
    for cls, arr in enumerate(per_class):
        if opts.class_ids is not None and cls not in opts.class_ids:
            continue
        for y0, x0, y1, x1, score in np.asarray(arr, np.float32).reshape(-1, 5):
            if score >= opts.score_threshold:
                out.append((float(x0), float(y0), float(x1), float(y1), float(score)))
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_yolo(
    grids: list[np.ndarray], input_hw: tuple[int, int], opts: HailoOptions
) -> list[tuple[float, float, float, float, float]]:
    """Raw YOLO grids (H, W, anchors×(5+classes), logits) to boxes after host NMS, relative units."""
    in_h, in_w = input_hw
    anchors = opts.anchors or TINY_YOLOV4_ANCHORS
    boxes, scores = [], []
    for grid in grids:
        gh, gw, depth = grid.shape
        masks = anchors[in_h // gh]
        g = grid.reshape(gh, gw, len(masks), depth // len(masks))
        cy, cx = np.mgrid[0:gh, 0:gw]
        for a, (aw, ah) in enumerate(masks):
            p = g[:, :, a, :]
            bx = (_sigmoid(p[..., 0]) + cx) / gw
            by = (_sigmoid(p[..., 1]) + cy) / gh
            bw = aw * np.exp(np.clip(p[..., 2], -10, 10)) / in_w
            bh = ah * np.exp(np.clip(p[..., 3], -10, 10)) / in_h
            cls = _sigmoid(p[..., 5:])
            keep_cls = list(opts.class_ids) if opts.class_ids is not None else list(range(cls.shape[-1]))
            score = _sigmoid(p[..., 4]) * cls[..., keep_cls].max(axis=-1)
            for j, i in zip(*np.nonzero(score >= opts.score_threshold), strict=True):
                boxes.append((bx[j, i] - bw[j, i] / 2, by[j, i] - bh[j, i] / 2, bw[j, i], bh[j, i]))
                scores.append(float(score[j, i]))
    if not boxes:
        return []
    keep = cv2.dnn.NMSBoxes([list(map(float, b)) for b in boxes], scores, opts.score_threshold, opts.iou_threshold)
    return [
        (boxes[k][0], boxes[k][1], boxes[k][0] + boxes[k][2], boxes[k][1] + boxes[k][3], scores[k])
        for k in np.asarray(keep).ravel()
    ]


def to_frame_boxes(
    rel: list[tuple[float, float, float, float, float]],
    input_hw: tuple[int, int],
    scale: float,
    left: int,
    top: int,
    frame_hw: tuple[int, int],
) -> list[PlateCandidate]:
    """Map boxes relative to the letterboxed input back to frame pixels (clipped)."""
    in_h, in_w = input_hw
    fh, fw = frame_hw
    out = []
    for x0, y0, x1, y1, score in rel:
        fx0 = min(max((x0 * in_w - left) / scale, 0), fw)
        fy0 = min(max((y0 * in_h - top) / scale, 0), fh)
        fx1 = min(max((x1 * in_w - left) / scale, 0), fw)
        fy1 = min(max((y1 * in_h - top) / scale, 0), fh)
        if fx1 - fx0 >= 2 and fy1 - fy0 >= 2:
            out.append(PlateCandidate(Box(round(fx0), round(fy0), round(fx1 - fx0), round(fy1 - fy0)), score))
    return sorted(out, key=lambda c: c.score, reverse=True)


class HailoPlateDetector:
    """Plate (or vehicle) boxes from a HEF on a Hailo-8/8L. Not shareable across processes."""

    name = "hailo"

    def __init__(self, opts: HailoOptions) -> None:
        try:
            hp = importlib.import_module("hailo_platform")
        except ImportError as exc:
            raise DetectorError("hailo_platform is not installed (on the Pi: apt install hailo-all)") from exc
        if not opts.hef_path.is_file():
            raise DetectorError(f"HEF not found: {opts.hef_path}")
        self.opts = opts
        self.last_error: str | None = None
        params = hp.VDevice.create_params()
        params.scheduling_algorithm = hp.HailoSchedulingAlgorithm.ROUND_ROBIN
        self._vdevice = hp.VDevice(params)
        self._model = self._vdevice.create_infer_model(str(opts.hef_path))
        self._model.set_batch_size(1)
        self._model.input().set_format_type(hp.FormatType.UINT8)
        for name in self._model.output_names:
            self._model.output(name).set_format_type(hp.FormatType.FLOAT32)
        self._config_ctx = self._model.configure()
        self._configured = self._config_ctx.__enter__()
        self.input_hw: tuple[int, int] = tuple(self._model.input().shape[:2])  # type: ignore[assignment]
        log.info(
            "Hailo model %s ready: input %s, outputs %s",
            opts.hef_path.name,
            self._model.input().shape,
            list(self._model.output_names),
        )

    def detect(self, image: np.ndarray) -> list[PlateCandidate]:
        """Plate candidates in frame pixels; ``[]`` (and :attr:`last_error` set) on failure."""
        if image is None or image.size == 0:
            return []
        tensor, scale, left, top = letterbox(image, *self.input_hw)
        try:
            outputs = self._infer(tensor)
        except Exception as exc:  # HailoRT raises its own exception types  # noqa: BLE001
            if self.last_error is None:
                log.warning("Hailo inference failed: %s", exc)
            self.last_error = str(exc)
            return []
        if self.last_error is not None:
            log.info("Hailo inference recovered")
            self.last_error = None
        return to_frame_boxes(self._decode(outputs), self.input_hw, scale, left, top, image.shape[:2])

    def _infer(self, tensor: np.ndarray) -> dict[str, Any]:
        bindings = self._configured.create_bindings()
        bindings.input().set_buffer(tensor)
        for name in self._model.output_names:
            bindings.output(name).set_buffer(np.empty(self._model.output(name).shape, dtype=np.float32))
        self._configured.wait_for_async_ready(timeout_ms=self.opts.timeout_ms)
        job = self._configured.run_async([bindings])
        job.wait(self.opts.timeout_ms)
        return {name: bindings.output(name).get_buffer() for name in self._model.output_names}

    def _decode(self, outputs: dict[str, Any]) -> list[tuple[float, float, float, float, float]]:
        values = list(outputs.values())
        if len(values) == 1 and isinstance(values[0], list):  # NMS by class, parsed by HailoRT
            return decode_nms(values[0], self.opts)
        grids = [np.asarray(v, np.float32) for v in values]
        grids = [g.reshape(g.shape[-3:]) for g in grids]
        return decode_yolo(grids, self.input_hw, self.opts)

    def close(self) -> None:
        """Release the configured model and the VDevice (idempotent)."""
        if self._config_ctx is not None:
            self._config_ctx.__exit__(None, None, None)
            self._config_ctx = None
            self._vdevice.release()
