"""Live updates to browsers over Socket.IO.

Browsers connect to namespace ``/`` and only after logging in (the ``connect``
handler refuses anonymous sockets). Events reach them one of two ways:

- ``REDIS_URL`` set: the ingest publishes on Flask-SocketIO's message queue and
  every dashboard process relays to its own browsers; nothing to do here.
- no Redis: :class:`DatabaseTail` polls the database every
  ``DASHBOARD_POLL_INTERVAL`` (0.05 s) for rows with ids above the last seen and
  emits the events their records make (``fleet_store.records``), which are the
  ones the ingest would have published.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask_login import current_user
from flask_socketio import SocketIO
from sqlalchemy import Engine, func, select

from fleet_store.live import LiveEvent
from fleet_store.records import StatusChange, StoredDetection, StoredHealth
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections

log = logging.getLogger(__name__)
BATCH = 500


def register_handlers(socketio: SocketIO) -> None:
    """Authenticate Socket.IO connections with the login session."""

    @socketio.on("connect")
    def _connect(auth=None):
        if not current_user.is_authenticated:
            log.info("realtime: refused an unauthenticated Socket.IO connection")
            return False
        return None


class DatabaseTail:
    """Follows new detections, health rows and connection events by id and emits them.

    ``poll_once`` does one round (tests call it directly); ``run`` loops until
    :meth:`stop`. Starting points are the current maxima, so only rows stored
    after the dashboard started are announced.
    """

    def __init__(self, engine: Engine, emit: Callable[[LiveEvent], None], interval: float = 0.05):
        self.engine = engine
        self.emit = emit
        self.interval = interval
        self._stop = threading.Event()
        self._failing = False
        with engine.connect() as conn:
            self.last = {name: conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
                         for name, table in self._tables()}

    @staticmethod
    def _tables():
        return (("detection", lpr_detections), ("health", health_monitors), ("connection", connection_events))

    def poll_once(self) -> int:
        """Emit every row stored since the last call; return how many events were sent."""
        with self.engine.connect() as conn:
            detections = self._new(conn, "detection", lpr_detections)
            health = self._new(conn, "health", health_monitors)
            changes = self._new(conn, "connection", connection_events)
            states = self._states(conn, {row.checkpoint_id for row in changes})
        for row in detections:
            self.emit(StoredDetection.from_row(row).live_event())
        for row in health:
            self.emit(StoredHealth.from_row(row).live_event())
        for row in changes:
            connected, status = states.get(row.checkpoint_id, (False, "never"))
            self.emit(StatusChange.from_row(row, connected, status).live_event())
        return len(detections) + len(health) + len(changes)

    def _new(self, conn, name: str, table) -> list:
        rows = conn.execute(select(table).where(table.c.id > self.last[name]).order_by(table.c.id)
                            .limit(BATCH)).all()
        if rows:
            self.last[name] = rows[-1].id
        return rows

    @staticmethod
    def _states(conn, ids: set[str]) -> dict[str, tuple[bool, str]]:
        if not ids:
            return {}
        rows = conn.execute(select(checkpoints.c.checkpoint_id, checkpoints.c.connected, checkpoints.c.status)
                            .where(checkpoints.c.checkpoint_id.in_(ids)))
        return {r.checkpoint_id: (bool(r.connected), r.status) for r in rows}

    def run(self) -> None:
        """Poll until stopped; a database error is logged once and retried."""
        log.info("realtime: following the database every %.0f ms (no Redis)", self.interval * 1000)
        while not self._stop.wait(self.interval):
            try:
                while self.poll_once() >= BATCH:  # catch up without sleeping
                    pass
            except Exception as exc:
                if not self._failing:
                    log.warning("realtime: polling the database failed (%s); retrying", exc)
                self._failing = True
                continue
            if self._failing:
                log.info("realtime: polling the database recovered")
                self._failing = False

    def stop(self) -> None:
        self._stop.set()
