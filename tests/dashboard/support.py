"""Rows for dashboard tests, written with the real schema (Core inserts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections


def add_checkpoint(engine, checkpoint_id: str, status: str = "online", lat: float | None = 13.75,
                   lon: float | None = 100.5, **values) -> None:
    """A checkpoint row (no token)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(checkpoints).values(checkpoint_id=checkpoint_id, created_at=now, status=status,
                                                connected=status == "online", last_seen_at=now,
                                                latitude=lat, longitude=lon, **values))


def add_detection(engine, plate: str, checkpoint_id: str = "cp1", when: datetime | None = None,
                  confidence: float = 90.0, image_path: str | None = None, **values) -> int:
    """A detection row; returns its id."""
    when = when or datetime.now(UTC)
    row = dict(checkpoint_id=checkpoint_id, event_id=str(uuid.uuid4()), license_plate=plate,
               confidence=confidence, timestamp=when, received_at=when, image_path=image_path)
    row.update(values)
    with engine.begin() as conn:
        return conn.execute(insert(lpr_detections).values(**row)).inserted_primary_key[0]


def add_health(engine, checkpoint_id: str = "cp1", component: str = "camera", status: str = "PASS",
               message: str = "ok", when: datetime | None = None, **system_info) -> int:
    """A health row with ``system_info``; returns its id."""
    when = when or datetime.now(UTC)
    with engine.begin() as conn:
        return conn.execute(insert(health_monitors).values(
            checkpoint_id=checkpoint_id, event_id=str(uuid.uuid4()), timestamp=when, received_at=when,
            component=component, status=status, message=message, system_info=system_info or None,
        )).inserted_primary_key[0]


def add_connection_event(engine, checkpoint_id: str, event: str, when: datetime | None = None) -> None:
    """A connection_events row."""
    with engine.begin() as conn:
        conn.execute(insert(connection_events).values(checkpoint_id=checkpoint_id, at=when or datetime.now(UTC),
                                                      event=event, remote="127.0.0.1:5"))


def ago(**kwargs) -> datetime:
    return datetime.now(UTC) - timedelta(**kwargs)
