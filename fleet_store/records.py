"""Typed records of what the central database holds, and the one author of every live event.

A stored row becomes a frozen record (``from_row``), and the record says how
it is announced to browsers (``live_event``). The ingest announces what it just
committed through Redis; a dashboard without Redis follows the database and
announces the rows it finds. Both build the same records from the same
columns, so browsers cannot tell the paths apart (the contract test in
``tests/fleet_store/test_live_contract.py`` holds them to it).

Event names and payload fields are listed in docs/dashboard.md ("Live events").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .live import CHECKPOINT_STATUS, DETECTION, HEALTH, LiveEvent
from .metrics import metrics_of


class CheckpointStatus(str, enum.Enum):
    """A checkpoint's state in ``checkpoints.status``."""

    NEVER = "never"
    ONLINE = "online"
    OFFLINE = "offline"


class PresenceEvent(str, enum.Enum):
    """What a ``connection_events`` row records."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ONLINE = "online"
    OFFLINE = "offline"


def _columns(row: Any) -> Mapping[str, Any]:
    return getattr(row, "_mapping", row)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class StoredDetection:
    """One ``lpr_detections`` row as browsers see it (image paths stay on the server)."""

    id: int
    checkpoint_id: str
    event_id: str | None
    license_plate: str
    province: str
    confidence: float
    timestamp: datetime
    received_at: datetime
    hostname: str
    vehicle_type: str
    latitude: float | None
    longitude: float | None
    has_image: bool
    has_plate_image: bool

    @classmethod
    def from_row(cls, row: Any) -> StoredDetection:
        """The record of a row (a SQLAlchemy ``Row`` or a mapping of its columns, ``id`` included)."""
        c = _columns(row)
        return cls(c["id"], c["checkpoint_id"], c["event_id"], c["license_plate"], c["province"] or "",
                   c["confidence"], c["timestamp"], c["received_at"], c["hostname"] or "",
                   c["vehicle_type"] or "", c["latitude"], c["longitude"], bool(c["image_path"]),
                   bool(c["plate_image_path"]))

    def live_event(self) -> LiveEvent:
        """The ``detection`` event announcing this row."""
        return LiveEvent(DETECTION, {
            "id": self.id, "checkpoint_id": self.checkpoint_id, "event_id": self.event_id,
            "license_plate": self.license_plate, "province": self.province, "confidence": self.confidence,
            "timestamp": _iso(self.timestamp), "received_at": _iso(self.received_at), "hostname": self.hostname,
            "vehicle_type": self.vehicle_type, "latitude": self.latitude, "longitude": self.longitude,
            "has_image": self.has_image, "has_plate_image": self.has_plate_image})


@dataclass(frozen=True, slots=True)
class StoredHealth:
    """One ``health_monitors`` row, with its figures read once (``metrics``)."""

    id: int
    checkpoint_id: str
    event_id: str | None
    component: str
    status: str
    message: str
    timestamp: datetime
    received_at: datetime
    hostname: str
    metrics: Mapping[str, float]

    @classmethod
    def from_row(cls, row: Any) -> StoredHealth:
        """The record of a row (a SQLAlchemy ``Row`` or a mapping of its columns, ``id`` included)."""
        c = _columns(row)
        return cls(c["id"], c["checkpoint_id"], c["event_id"], c["component"], c["status"], c["message"] or "",
                   c["timestamp"], c["received_at"], c["hostname"] or "", metrics_of(c["system_info"]))

    def live_event(self) -> LiveEvent:
        """The ``health`` event announcing this row."""
        return LiveEvent(HEALTH, {
            "id": self.id, "checkpoint_id": self.checkpoint_id, "event_id": self.event_id,
            "component": self.component, "status": self.status, "message": self.message,
            "timestamp": _iso(self.timestamp), "received_at": _iso(self.received_at), "hostname": self.hostname,
            "metrics": dict(self.metrics)})


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A ``connection_events`` row with its checkpoint's state right after it."""

    checkpoint_id: str
    event: PresenceEvent
    at: datetime
    connected: bool
    status: CheckpointStatus

    @classmethod
    def from_row(cls, event_row: Any, connected: bool, status: str) -> StatusChange:
        """The record of a ``connection_events`` row.

        The row's own ``status``/``connected`` (the state right after the event)
        win; ``connected`` and ``status`` given here (the checkpoint's state now)
        stand in for rows written before those columns existed.
        """
        c = _columns(event_row)
        if c["status"] is not None:
            connected, status = c["connected"], c["status"]
        return cls(c["checkpoint_id"], PresenceEvent(c["event"]), c["at"], bool(connected),
                   CheckpointStatus(status))

    def row(self) -> dict[str, Any]:
        """The ``connection_events`` columns that record this change."""
        return {"checkpoint_id": self.checkpoint_id, "event": self.event.value, "at": self.at,
                "status": self.status.value, "connected": self.connected}

    def live_event(self) -> LiveEvent:
        """The ``checkpoint_status`` event announcing this change."""
        return LiveEvent(CHECKPOINT_STATUS, {
            "checkpoint_id": self.checkpoint_id, "event": self.event.value, "at": _iso(self.at),
            "connected": self.connected, "status": self.status.value})


StoredRecord = StoredDetection | StoredHealth
