"""Types shared by every part of the vision pipeline, and its exception hierarchy.

Everything that crosses a module boundary here is a frozen dataclass: frames from
sources, plate candidates from detectors, reads from the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from ..errors import EdgeError


class VisionError(EdgeError):
    """Base of every error raised by ``edge_agent.vision`` (an edge agent error like any other)."""


class VisionConfigError(VisionError):
    """Settings that cannot work (bad source string, missing HEF when ``hailo`` is forced)."""


class SourceError(VisionError):
    """A camera source could not be opened or stopped delivering frames."""


class DetectorError(VisionError):
    """A detector backend could not be loaded."""


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixels: top-left ``x, y``, width ``w``, height ``h``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return max(self.w, 0) * max(self.h, 0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    def intersection(self, other: Box) -> int:
        """Area the two boxes share, 0 when they do not overlap."""
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        return ix * iy

    def iou(self, other: Box) -> float:
        """Intersection over union, 0 when the boxes do not overlap."""
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def expand(self, fx: float, fy: float, width: int, height: int) -> Box:
        """Grow by ``fx``×w and ``fy``×h on each side, clipped to a ``width``×``height`` image."""
        x0 = max(0, int(self.x - fx * self.w))
        y0 = max(0, int(self.y - fy * self.h))
        x1 = min(width, int(self.x + self.w * (1 + fx)))
        y1 = min(height, int(self.y + self.h * (1 + fy)))
        return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def scale(self, factor: float) -> Box:
        return Box(int(self.x * factor), int(self.y * factor), int(self.w * factor), int(self.h * factor))

    def shift(self, dx: int, dy: int) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)

    @staticmethod
    def union(boxes: list[Box]) -> Box:
        x0 = min(b.x for b in boxes)
        y0 = min(b.y for b in boxes)
        x1 = max(b.x + b.w for b in boxes)
        y1 = max(b.y + b.h for b in boxes)
        return Box(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One camera frame: BGR ``uint8`` image plus what the source knows about its exposure."""

    image: np.ndarray
    timestamp: datetime
    index: int
    exposure_time: float | None = None
    analog_gain: float | None = None
    lux: float | None = None
    hires: np.ndarray | None = None  # same instant at higher resolution, when the source has one


@dataclass(frozen=True, slots=True, eq=False)
class TextLine:
    """A text line found by a text detector: its 4-point quad (float32 4x2) and bounding box."""

    quad: np.ndarray
    box: Box


@dataclass(frozen=True, slots=True, eq=False)
class PlateCandidate:
    """A region that may hold a plate. ``lines`` are the text lines inside it when known."""

    box: Box
    score: float
    lines: tuple[TextLine, ...] = ()


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One plate read. ``text`` is normalised (no spaces, Arabic digits); ``confidence`` is 0-1."""

    text: str
    raw: str
    confidence: float
    box: Box
    script: str  # "latin" or "thai"
    region: str = ""  # the national format that matched ("US", "SK", "TH", ...), "" when none
    province: str = ""
    sharpness: float = 0.0
    province_confidence: float | None = None  # 0-1, the reader's score for ``province``
    vehicle_type: str = ""  # what the plate's format and colours say (thai_model.vehicle_type), "" unsure

    def as_json(self) -> dict[str, object]:
        """The JSON shape ``read-plates`` prints for each plate."""
        return {
            "text": self.text,
            "confidence": round(self.confidence, 3),
            "box": self.box.as_list(),
            "raw": self.raw,
            "script": self.script,
            "region": self.region,
            "province": self.province,
            "province_confidence": None if self.province_confidence is None else round(self.province_confidence, 3),
            "vehicle_type": self.vehicle_type,
        }


class PlateDetector(Protocol):
    """Finds plate candidates in a BGR image. Never raises for a bad frame: returns ``[]``.

    ``last_error`` is ``None`` while inference works, else the last failure (for health).
    """

    name: str
    last_error: str | None

    def detect(self, image: np.ndarray) -> list[PlateCandidate]: ...

    def close(self) -> None: ...
