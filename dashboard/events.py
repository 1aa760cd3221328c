"""Live event payloads, built from stored rows (the shapes the ingest publishes).

Event names and fields are listed in docs/dashboard.md ("Live events"); the
ingest builds the same shapes in ``central_server.ingest.live_event`` and
``central_server.presence``, so browsers cannot tell whether an event came
through Redis or from this dashboard following the database.
"""

from __future__ import annotations

from typing import Any


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def detection_payload(row) -> dict[str, Any]:
    """``detection`` payload for an ``lpr_detections`` row."""
    return {"id": row.id, "checkpoint_id": row.checkpoint_id, "event_id": row.event_id,
            "timestamp": _iso(row.timestamp), "received_at": _iso(row.received_at), "hostname": row.hostname,
            "license_plate": row.license_plate, "confidence": row.confidence, "image_path": row.image_path,
            "latitude": row.latitude, "longitude": row.longitude}


def health_payload(row) -> dict[str, Any]:
    """``health`` payload for a ``health_monitors`` row."""
    return {"id": row.id, "checkpoint_id": row.checkpoint_id, "event_id": row.event_id,
            "timestamp": _iso(row.timestamp), "received_at": _iso(row.received_at), "hostname": row.hostname,
            "component": row.component, "status": row.status, "message": row.message,
            "system_info": row.system_info or {}}


def status_payload(event_row, connected: bool, status: str | None) -> dict[str, Any]:
    """``checkpoint_status`` payload for a ``connection_events`` row and its checkpoint's state."""
    return {"checkpoint_id": event_row.checkpoint_id, "connected": bool(connected), "event": event_row.event,
            "status": status, "at": _iso(event_row.at)}
