"""Live events: their names, and how the ingest publishes them to dashboards.

The ingest calls a :class:`LiveEvents` after a row is committed. With
``REDIS_URL`` set, :class:`RedisLiveEvents` publishes on Flask-SocketIO's
message queue (channel ``flask-socketio``, its default), so every dashboard
process emits the event to its browsers. Without Redis nothing is published
here: a single-node dashboard follows the database instead, and on PostgreSQL
each committed batch also sends ``NOTIFY fleet_live`` (:func:`notify`, inside
the batch's transaction, so it is delivered at commit) so that the follower
wakes at once instead of at its next poll. Either way the :class:`LiveEvent`
comes from a record in :mod:`fleet_store.records`.

Event names and payloads (all JSON, times ISO 8601 UTC) are documented in
docs/dashboard.md ("Live events").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

log = logging.getLogger(__name__)

DETECTION = "detection"
HEALTH = "health"
CHECKPOINT_STATUS = "checkpoint_status"
ALERT = "alert"
NOTIFY_CHANNEL = "fleet_live"  # PostgreSQL LISTEN/NOTIFY channel: "rows were committed" (no payload)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One Socket.IO event: its name and JSON payload."""

    name: str
    payload: dict[str, Any]


class LiveEvents(Protocol):
    """Where committed rows are announced. ``publish`` never raises.

    ``enabled`` is False when publishing does nothing, so callers can skip
    building payloads on the hot path.
    """

    enabled: bool

    async def publish(self, event: LiveEvent) -> None: ...
    async def close(self) -> None: ...


class NoLiveEvents:
    """Single node without a broker: publishing is a no-op."""

    enabled = False

    async def publish(self, event: LiveEvent) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisLiveEvents:
    """Publishes through Redis with python-socketio's write-only AsyncRedisManager."""

    enabled = True

    def __init__(self, url: str, channel: str = "flask-socketio"):
        import socketio  # only needed when Redis is configured

        self._manager = socketio.AsyncRedisManager(url, channel=channel, write_only=True)
        self._failing = False

    async def publish(self, event: LiveEvent) -> None:
        try:
            await self._manager.emit(event.name, event.payload, namespace="/")
        except Exception as exc:  # a broker outage must never stop ingest
            if not self._failing:
                log.warning("live events: publishing to Redis failed (%s); will keep trying", exc)
            self._failing = True
            return
        if self._failing:
            log.info("live events: Redis publishing recovered")
            self._failing = False

    async def close(self) -> None:
        return None


def notify(conn: Connection) -> None:
    """Within a transaction that stored rows: wake database followers at its commit (PostgreSQL only).

    PostgreSQL folds identical notifications of one transaction into one and delivers them only
    if it commits; elsewhere (SQLite) followers poll, and this does nothing.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")


def make_live_events(redis_url: str | None) -> LiveEvents:
    """The publisher for this configuration."""
    return RedisLiveEvents(redis_url) if redis_url else NoLiveEvents()
