"""The hand-off between the vision pipeline and the rest of the edge agent.

The vision side (``edge_agent.vision``) turns camera frames into one
:class:`PlateEvent` per vehicle and gives it to an :class:`EventSink`; the
outbox is that sink. Components report :class:`ComponentStatus` to the health
monitor. These types are the whole contract between the two halves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Status(str, enum.Enum):
    """Health status of one component (the wire protocol's PASS/WARN/FAIL)."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """What one component says about itself, for the health monitor."""

    component: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlateEvent:
    """One vehicle's plate, decided after voting over frames.

    ``license_plate`` is the normalised text (Thai digits as Arabic, no spaces);
    ``plate_raw`` is what the reader saw. ``confidence`` is 0-100. Images are
    JPEG bytes: the scene (full frame) and the best plate crop.
    ``timestamp`` is timezone-aware. ``province_confidence`` (0-100) is the
    reader's score for ``province`` (None when the reader gave none).
    """

    license_plate: str
    confidence: float
    timestamp: datetime
    scene_jpeg: bytes
    plate_jpeg: bytes | None = None
    plate_raw: str = ""
    province: str = ""
    province_confidence: float | None = None
    box: tuple[int, int, int, int] | None = None  # x, y, w, h in the scene
    vehicle_type: str = ""
    vehicle_color: str = ""
    exposure_time: float | None = None
    analog_gain: float | None = None
    lux: float | None = None
    gate: dict[str, Any] | None = None  # the gate's decision record (edge_agent.gate), sent up as data.gate

    @property
    def wire_extra(self) -> dict[str, Any]:
        """Fields beyond protocol v1 this event carries (the ``extra`` column; the central keeps them)."""
        return {"gate": self.gate} if self.gate else {}


class EventSink(Protocol):
    """Takes plate events; when ``submit`` returns, the event is durable on disk."""

    def submit(self, event: PlateEvent) -> None: ...


class VisionService(Protocol):
    """The camera + detection pipeline as the agent and its control API see it.

    All methods are thread-safe and return promptly; ``start_*``/``stop_*`` are
    idempotent. ``*_status`` return JSON-ready dicts for the control API.
    """

    def start_camera(self) -> None: ...
    def stop_camera(self) -> None: ...
    def start_detection(self) -> None: ...
    def stop_detection(self) -> None: ...
    def camera_status(self) -> dict[str, Any]: ...
    def detection_status(self) -> dict[str, Any]: ...
    def health(self) -> list[ComponentStatus]: ...
    def close(self) -> None: ...
