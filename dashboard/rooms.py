"""Live events go only to the browsers allowed to see them: one Socket.IO room per site.

A browser of a user who sees the whole fleet joins room :data:`FLEET`; one of a
user limited to sites joins ``site:<name>`` for each of their sites. Every event
published to "everyone" (no room: how the ingest and the database tail emit) is
delivered by the client manager to :data:`FLEET`, and, when its payload names a
checkpoint, to that checkpoint's site room as well. An event without a
checkpoint therefore never reaches a site-limited browser.

The routing sits in the client manager's local delivery, so it applies both to
events this process emits (no Redis) and to those arriving from Redis (another
process, or the ingest): :class:`SiteRoutedManager` and
:class:`SiteRoutedRedisManager`.
"""

from __future__ import annotations

import logging
import threading
import time

import socketio as python_socketio
from sqlalchemy import Engine, select

from fleet_store.schema import checkpoints

log = logging.getLogger(__name__)
FLEET = "fleet"


def site_room(site: str) -> str:
    return f"site:{site}"


class SiteDirectory:
    """Each checkpoint's site, read from ``checkpoints`` and kept ``ttl`` seconds (an unknown id refreshes
    at most once a second, so a new checkpoint is routed within a second)."""

    def __init__(self, engine: Engine, ttl: float = 30.0):
        self.engine, self.ttl = engine, ttl
        self._sites: dict[str, str] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def site_of(self, checkpoint_id: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            stale = now - self._loaded > self.ttl or (checkpoint_id not in self._sites and now - self._loaded > 1)
            if stale:
                try:
                    with self.engine.connect() as conn:
                        self._sites = dict(conn.execute(select(checkpoints.c.checkpoint_id, checkpoints.c.site)).all())
                except Exception:  # the database is down: route with what we know, retry later
                    log.warning("rooms: could not read checkpoint sites; routing with the last known ones")
                self._loaded = now
            return self._sites.get(checkpoint_id) or None


def targets(directory: SiteDirectory, data) -> list[str]:
    """The rooms an event for everyone goes to: the fleet room, and the site room of its checkpoint."""
    rooms = [FLEET]
    checkpoint_id = data.get("checkpoint_id") if isinstance(data, dict) else None
    site = directory.site_of(checkpoint_id) if isinstance(checkpoint_id, str) else None
    if site:
        rooms.append(site_room(site))
    return rooms


class _Routing:
    directory: SiteDirectory

    def _deliver(self, deliver, event, data, namespace, room, **kwargs) -> None:
        if room is not None:
            deliver(event, data, namespace=namespace, room=room, **kwargs)
            return
        for target in targets(self.directory, data):
            deliver(event, data, namespace=namespace, room=target, **kwargs)


class SiteRoutedManager(_Routing, python_socketio.Manager):
    """The in-process client manager (no Redis) with site routing."""

    def __init__(self, directory: SiteDirectory):
        super().__init__()
        self.directory = directory

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        self._deliver(super().emit, event, data, namespace, to or room, skip_sid=skip_sid, callback=callback,
                      **kwargs)


class SiteRoutedRedisManager(_Routing, python_socketio.RedisManager):
    """The Redis client manager (channel ``flask-socketio``) with site routing of what it delivers locally."""

    def __init__(self, url: str, directory: SiteDirectory, channel: str = "flask-socketio"):
        super().__init__(url, channel=channel, write_only=False)
        self.directory = directory

    def _handle_emit(self, message):
        if message.get("room") is not None or message.get("callback"):
            return super()._handle_emit(message)
        data = message.get("data")
        payload = data[0] if isinstance(data, list) and data else data
        for target in targets(self.directory, payload):
            super()._handle_emit({**message, "room": target})
        return None
