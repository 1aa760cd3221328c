"""Checkpoint presence: connected/disconnected transitions and last-seen times.

Transitions are written at once (``checkpoints`` + ``connection_events``) and
logged once each. ``last_seen_at`` moves on every message, so it is kept in
memory and flushed every few seconds in one small transaction instead of one
UPDATE per message. A checkpoint the offline job had marked ``offline`` comes
back ``online`` on that flush, and dashboards hear it live.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from fleet_store import live
from fleet_store.records import CheckpointStatus, PresenceEvent, StatusChange
from fleet_store.schema import checkpoints, connection_events

from .store import GroupCommitWriter

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class Presence:
    """Tracks which checkpoints are connected and when each was last heard from."""

    def __init__(self, writer: GroupCommitWriter, live_events: live.LiveEvents):
        self.writer = writer
        self.live = live_events
        self._seen: dict[str, datetime] = {}
        self._connections: dict[str, int] = {}

    def seen(self, checkpoint_id: str, when: datetime | None = None) -> None:
        """Note a message from ``checkpoint_id`` received at ``when`` (default now; flushed by :meth:`flush`)."""
        self._seen[checkpoint_id] = when or _now()

    async def connected(self, checkpoint_id: str, remote: str, anonymous: bool) -> None:
        """Record a new connection (creating the row for an anonymous legacy sender)."""
        self._connections[checkpoint_id] = self._connections.get(checkpoint_id, 0) + 1
        log.info("ingest: checkpoint %s connected from %s%s", checkpoint_id, remote,
                 " (anonymous)" if anonymous else "")
        await self._write_transition(checkpoint_id, PresenceEvent.CONNECTED, remote, connected=True)

    async def disconnected(self, checkpoint_id: str, remote: str) -> None:
        """Record a closed connection; ``connected`` clears when its last one closes."""
        left = self._connections.get(checkpoint_id, 1) - 1
        self._connections[checkpoint_id] = left
        log.info("ingest: checkpoint %s disconnected (%s)", checkpoint_id, remote)
        await self._write_transition(checkpoint_id, PresenceEvent.DISCONNECTED, remote, connected=left > 0)

    async def _write_transition(self, checkpoint_id: str, event: PresenceEvent, remote: str,
                                connected: bool) -> None:
        now = _now()

        def job(conn: Connection) -> StatusChange:
            _ensure_row(conn, checkpoint_id, now)
            values = {"connected": connected, "last_seen_at": now}
            if connected:
                values["status"] = CheckpointStatus.ONLINE.value
            status = conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id)
                                  .values(**values).returning(checkpoints.c.status)).scalar_one()
            change = StatusChange(checkpoint_id, event, now, connected, CheckpointStatus(status))
            conn.execute(insert(connection_events).values(remote=remote[:64], **change.row()))
            return change

        try:
            change = await self.writer.call(job)
        except Exception as exc:  # presence is best effort: never fail the connection for it
            log.warning("ingest: could not record %s of %s: %s", event.value, checkpoint_id, exc)
            return
        await self.live.publish(change.live_event())

    async def flush(self) -> None:
        """Write pending last-seen times; announce checkpoints that came back online."""
        if not self._seen:
            return
        seen, self._seen = self._seen, {}

        def job(conn: Connection) -> list[str]:
            # One conditional UPDATE decides who came back, so a concurrent offline job can't
            # slip between a read and a write (that produced offline, offline without online).
            back = conn.execute(update(checkpoints).where(
                checkpoints.c.checkpoint_id.in_(list(seen)), checkpoints.c.status != CheckpointStatus.ONLINE.value)
                .values(status=CheckpointStatus.ONLINE.value).returning(checkpoints.c.checkpoint_id)).scalars().all()
            for checkpoint_id, when in seen.items():
                conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id)
                             .values(last_seen_at=when))
            connected = dict(conn.execute(select(checkpoints.c.checkpoint_id, checkpoints.c.connected)
                                          .where(checkpoints.c.checkpoint_id.in_(list(back)))).all()) if back else {}
            changes = [StatusChange(cp, PresenceEvent.ONLINE, seen[cp], bool(connected.get(cp)),
                                    CheckpointStatus.ONLINE) for cp in back]
            for change in changes:
                conn.execute(insert(connection_events).values(**change.row()))
            return changes

        try:
            back = await self.writer.call(job)
        except Exception as exc:
            log.warning("ingest: could not flush last-seen times: %s", exc)
            for checkpoint_id, when in seen.items():
                self._seen.setdefault(checkpoint_id, when)
            return
        for change in back:
            log.info("ingest: checkpoint %s is back online", change.checkpoint_id)
            await self.live.publish(change.live_event())

    async def run(self, interval: float = 5.0) -> None:
        """Flush every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.flush()


def _ensure_row(conn: Connection, checkpoint_id: str, now: datetime) -> None:
    exists = conn.execute(select(checkpoints.c.checkpoint_id)
                          .where(checkpoints.c.checkpoint_id == checkpoint_id)).first()
    if exists is None:
        conn.execute(insert(checkpoints).values(checkpoint_id=checkpoint_id, created_at=now))
