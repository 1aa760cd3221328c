"""Live updates to browsers over Socket.IO.

Browsers connect to namespace ``/`` and only after logging in: the WSGI gate
(dashboard/security.py) answers 401 before Engine.IO sees an anonymous request,
and the ``connect`` handler refuses again; it puts the browser in the rooms of
what its user may see (dashboard/rooms.py: the whole fleet, or some sites). :class:`SocketSessions` re-checks
every open socket's login every few seconds and disconnects those whose user
was removed or whose sessions were ended. Events reach them one of two ways:

- ``REDIS_URL`` set: the ingest publishes on Flask-SocketIO's message queue and
  every dashboard process relays to its own browsers; nothing to do here.
- no Redis: :class:`DatabaseTail` polls the database every
  ``DASHBOARD_POLL_INTERVAL`` (0.05 s) for rows with ids above the last seen and
  emits the events their records make (``fleet_store.records``, and
  ``fleet_store.alerts`` for newly opened alerts), which are the ones the ingest
  would have published. On PostgreSQL it also LISTENs on ``fleet_live`` and polls
  as soon as the ingest's commit notifies it. Acknowledgements are emitted by the
  dashboard that took them; alerts the ingest's checks close reach open pages only
  through Redis (a page shows them on its next load).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from flask import current_app, request
from flask_login import current_user
from flask_socketio import SocketIO, join_room
from sqlalchemy import Engine, func, select

from fleet_store.alerts import Alert
from fleet_store.live import NOTIFY_CHANNEL, LiveEvent, notify
from fleet_store.records import StatusChange, StoredDetection, StoredHealth
from fleet_store.schema import alerts, checkpoints, connection_events, health_monitors, lpr_detections

from .rooms import FLEET, site_room
from .users import session_versions

log = logging.getLogger(__name__)
BATCH = 500


def register_handlers(socketio: SocketIO) -> None:
    """Authenticate Socket.IO connections with the login session."""

    @socketio.on("connect")
    def _connect(auth=None):
        if not current_user.is_authenticated:
            log.info("realtime: refused an unauthenticated Socket.IO connection")
            return False
        sites = current_user.limited_to
        for room in [FLEET] if sites is None else [site_room(s) for s in sorted(sites)]:
            join_room(room)  # dashboard/rooms.py routes each event to the rooms allowed to see it
        sockets = current_app.extensions["fleet"].sockets
        if sockets is not None:
            sockets.add(request.sid, int(current_user.id), current_user.session_version)
        return None

    @socketio.on("disconnect")
    def _disconnect(reason=None):
        sockets = current_app.extensions["fleet"].sockets
        if sockets is not None:
            sockets.discard(request.sid)


class SocketSessions:
    """Open Socket.IO connections and the login each was opened with.

    ``check_once`` disconnects every socket whose user no longer exists or whose
    session version moved on (logout, password change, ``users logout``); ``run``
    does it every ``interval`` seconds. A database error is logged once and the
    round retried: sockets stay open meanwhile, since pages re-check on every request.
    """

    def __init__(self, engine: Engine, disconnect, interval: float = 5.0):
        self.engine = engine
        self.disconnect = disconnect
        self.interval = interval
        self._sockets: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failing = False

    def add(self, sid: str, user_id: int, version: int) -> None:
        with self._lock:
            self._sockets[sid] = (user_id, version)

    def discard(self, sid: str) -> None:
        with self._lock:
            self._sockets.pop(sid, None)

    def check_once(self) -> list[str]:
        """Disconnect sockets whose login ended; return their sids."""
        with self._lock:
            sockets = dict(self._sockets)
        current = session_versions(self.engine, {user for user, _ in sockets.values()})
        ended = [sid for sid, (user, version) in sockets.items() if current.get(user) != version]
        for sid in ended:
            log.info("realtime: disconnecting a Socket.IO connection whose login ended")
            self.discard(sid)
            self.disconnect(sid)
        return ended

    def run(self) -> None:
        """Check every ``interval`` seconds until stopped."""
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except Exception as exc:
                if not self._failing:
                    log.warning("realtime: re-checking logins of open sockets failed (%s); retrying", exc)
                self._failing = True
                continue
            if self._failing:
                log.info("realtime: re-checking logins of open sockets recovered")
                self._failing = False

    def stop(self) -> None:
        self._stop.set()


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
        self.listener: _Listener | None = None
        with engine.connect() as conn:
            self.last = {name: conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
                         for name, table in self._tables()}

    @staticmethod
    def _tables():
        return (("detection", lpr_detections), ("health", health_monitors), ("connection", connection_events),
                ("alert", alerts))

    def poll_once(self) -> int:
        """Emit every row stored since the last call; return how many events were sent."""
        with self.engine.connect() as conn:
            detections = self._new(conn, "detection", lpr_detections)
            health = self._new(conn, "health", health_monitors)
            changes = self._new(conn, "connection", connection_events)
            states = self._states(conn, {row.checkpoint_id for row in changes})
            opened = self._new(conn, "alert", alerts)
        for row in detections:
            self.emit(StoredDetection.from_row(row).live_event())
        for row in health:
            self.emit(StoredHealth.from_row(row).live_event())
        for row in changes:
            connected, status = states.get(row.checkpoint_id, (False, "never"))
            self.emit(StatusChange.from_row(row, connected, status).live_event())
        for row in opened:
            self.emit(Alert.from_row(row).live_event())
        return len(detections) + len(health) + len(changes) + len(opened)

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
        """Poll until stopped (at once when PostgreSQL notifies a commit); errors are logged once and retried."""
        self.listener = listener = _Listener(self.engine) if self.engine.dialect.name == "postgresql" else None
        log.info("realtime: following the database every %.0f ms%s (no Redis)", self.interval * 1000,
                 " and on each commit's NOTIFY" if listener else "")
        try:
            while not self._stop.is_set():
                if listener is None or not listener.wait(self.interval):
                    self._stop.wait(self.interval)  # no listener, or it failed: plain polling meanwhile
                if not self._stop.is_set():
                    self._round()
        finally:
            if listener is not None:
                listener.close()

    def _round(self) -> None:
        try:
            while self.poll_once() >= BATCH:  # catch up without sleeping
                pass
        except Exception as exc:
            if not self._failing:
                log.warning("realtime: polling the database failed (%s); retrying", exc)
            self._failing = True
            return
        if self._failing:
            log.info("realtime: polling the database recovered")
            self._failing = False

    def stop(self) -> None:
        self._stop.set()
        if self.listener is not None:  # wake it from its wait (a harmless extra poll for other followers)
            with contextlib.suppress(Exception), self.engine.begin() as conn:
                notify(conn)


class _Listener:
    """A PostgreSQL connection LISTENing on the ingest's commit notifications (psycopg 3)."""

    def __init__(self, engine: Engine):
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = None
        self._failing = False

    def wait(self, timeout: float) -> bool:
        """Block until a notification or ``timeout``; True if it waited (False: not listening, poll by timer)."""
        try:
            if self.conn is None or self.conn.closed:
                self._connect()
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                pass
            for _ in self.conn.notifies(timeout=0):  # several commits since the last round: one poll for all
                pass
        except Exception as exc:  # the database restarted or is down: poll by timer, reconnect next round
            if not self._failing:
                log.warning("realtime: listening for commits failed (%s); polling meanwhile", exc)
            self._failing = True
            self.close()
            return False
        if self._failing:
            log.info("realtime: listening for commits recovered")
            self._failing = False
        return True

    def _connect(self) -> None:
        import psycopg  # only on PostgreSQL

        self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
