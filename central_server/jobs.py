"""Central background jobs: retention, offline detection and alert conditions; the one place they are scheduled.

The jobs are plain functions that take an engine and a cut-off and return what
they did; tests call them directly. :func:`start_scheduler` wires them into an
APScheduler ``BackgroundScheduler``: jobs run on the scheduler's own worker
threads, so database work never blocks the ingest's event loop. Live
notifications go back to that loop with ``run_coroutine_threadsafe``.

    scheduler = start_scheduler(settings, engine, live)   # inside the running loop
    ...
    scheduler.shutdown(wait=False)                         # on SIGTERM
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, delete, insert, or_, select, update

from fleet_store import alerts, live
from fleet_store.imagefiles import remove_stored_images
from fleet_store.records import CheckpointStatus, PresenceEvent, StatusChange
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections

from .conditions import Limits, check_conditions
from .config import IngestSettings

log = logging.getLogger(__name__)

RETENTION_INTERVAL_SECONDS = 600
OFFLINE_INTERVAL_SECONDS = 10


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """Rows and files one retention run removed (``images``: detections whose images went, rows kept)."""

    detections: int
    health: int
    files: int
    images: int = 0
    connection_events: int = 0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind of data is kept; ``None`` follows ``detections_days`` (RETENTION_DAYS).

    Images may be kept shorter than the rows that describe them: past
    ``images_days`` a detection loses its scene and crop files (its image
    columns become NULL) and keeps the read.
    """

    detections_days: int
    images_days: int | None = None
    health_days: int | None = None
    connection_events_days: int | None = None

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> RetentionPolicy:
        return cls(settings.retention_days, settings.image_retention_days, settings.health_retention_days,
                   settings.connection_events_retention_days)

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """The cutoff of each kind of data at ``now``."""
        days = {"detections": self.detections_days, "images": self.images_days, "health": self.health_days,
                "connection_events": self.connection_events_days}
        return {k: now - timedelta(days=v if v is not None else self.detections_days) for k, v in days.items()}


@dataclass(frozen=True, slots=True)
class OfflineChange:
    """A checkpoint the offline job marked offline."""

    checkpoint_id: str
    at: datetime
    last_seen_at: datetime | None
    connected: bool = False

    def status_change(self) -> StatusChange:
        """The change as dashboards hear it."""
        return StatusChange(self.checkpoint_id, PresenceEvent.OFFLINE, self.at, self.connected,
                            CheckpointStatus.OFFLINE)


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- retention


def delete_old_detections(engine: Engine, image_dir: Path, cutoff: datetime, batch: int = 1000) -> tuple[int, int]:
    """Delete detections received before ``cutoff`` and their image files, ``batch`` rows per transaction.

    Each batch is its own short transaction so the ingest's writer is never
    held up for long. Files are removed after their rows are gone (a crash in
    between leaves an orphan file, never a row without its file). Returns
    ``(rows, files)``.
    """
    rows = files = 0
    while True:
        with engine.begin() as conn:
            found = conn.execute(select(lpr_detections.c.id, lpr_detections.c.image_path,
                                        lpr_detections.c.plate_image_path)
                                 .where(lpr_detections.c.received_at < cutoff)
                                 .order_by(lpr_detections.c.id).limit(batch)).all()
            if not found:
                return rows, files
            conn.execute(delete(lpr_detections).where(lpr_detections.c.id.in_([r.id for r in found])))
        rows += len(found)
        files += remove_stored_images(image_dir, [p for r in found for p in (r.image_path, r.plate_image_path) if p],
                                      "retention")


def delete_old_images(engine: Engine, image_dir: Path, cutoff: datetime, batch: int = 1000) -> tuple[int, int]:
    """Remove the scene and crop files of detections received before ``cutoff``, keeping the rows.

    The row's image columns are cleared first (in a short transaction per
    batch), then the files go, as for :func:`delete_old_detections`. Returns
    ``(rows, files)``.
    """
    d = lpr_detections.c
    rows = files = 0
    while True:
        with engine.begin() as conn:
            found = conn.execute(select(d.id, d.image_path, d.plate_image_path)
                                 .where(d.received_at < cutoff,
                                        (d.image_path.is_not(None)) | (d.plate_image_path.is_not(None)))
                                 .order_by(d.id).limit(batch)).all()
            if not found:
                return rows, files
            conn.execute(update(lpr_detections).where(d.id.in_([r.id for r in found]))
                         .values(image_path=None, plate_image_path=None))
        rows += len(found)
        files += remove_stored_images(image_dir, [p for r in found for p in (r.image_path, r.plate_image_path) if p],
                                      "retention")


def delete_old_health(engine: Engine, cutoff: datetime, batch: int = 5000) -> int:
    """Delete health rows received before ``cutoff`` in batches; return how many."""
    return _delete_before(engine, health_monitors, health_monitors.c.received_at, cutoff, batch)


def delete_old_connection_events(engine: Engine, cutoff: datetime, batch: int = 5000) -> int:
    """Delete connection events older than ``cutoff`` in batches; return how many."""
    return _delete_before(engine, connection_events, connection_events.c.at, cutoff, batch)


def _delete_before(engine: Engine, table, column, cutoff: datetime, batch: int) -> int:
    """Delete ``table``'s rows whose ``column`` is before ``cutoff``, ``batch`` ids per transaction
    (short transactions: the ingest's writer is never held up for long); return how many."""
    total = 0
    while True:
        with engine.begin() as conn:
            ids = conn.execute(select(table.c.id).where(column < cutoff)
                               .order_by(table.c.id).limit(batch)).scalars().all()
            if not ids:
                return total
            conn.execute(delete(table).where(table.c.id.in_(ids)))
        total += len(ids)


def run_retention(engine: Engine, image_dir: Path, retention_days: int | RetentionPolicy,
                  now: datetime | None = None) -> RetentionResult:
    """Apply the retention policy once (``retention_days``: a policy, or days for everything)."""
    policy = retention_days if isinstance(retention_days, RetentionPolicy) else RetentionPolicy(retention_days)
    cut = policy.cutoffs(now or _now())
    detections, files = delete_old_detections(engine, image_dir, cut["detections"])
    images, image_files = delete_old_images(engine, image_dir, cut["images"])
    health = delete_old_health(engine, cut["health"])
    events = delete_old_connection_events(engine, cut["connection_events"])
    result = RetentionResult(detections, health, files + image_files, images, events)
    if detections or images or health or events:
        log.info("retention: removed %d detections, the images of %d more (%d files), %d health rows and "
                 "%d connection events", detections, images, files + image_files, health, events)
    return result


# --------------------------------------------------------------------------- offline detection


def mark_offline(engine: Engine, default_heartbeat: int, now: datetime | None = None) -> list[OfflineChange]:
    """Mark online checkpoints silent for longer than their heartbeat as offline.

    A checkpoint's own ``heartbeat_seconds`` applies; ``default_heartbeat``
    (OFFLINE_AFTER_SECONDS) is the floor used when that is unset or zero. Each
    change writes a ``connection_events`` row ``offline``. The UPDATE re-checks
    the condition, so a checkpoint heard from meanwhile stays online. Coming
    back online is the ingest's presence flush.
    """
    now = now or _now()
    changes: list[OfflineChange] = []
    with engine.begin() as conn:
        candidates = conn.execute(select(checkpoints.c.checkpoint_id, checkpoints.c.last_seen_at,
                                         checkpoints.c.heartbeat_seconds, checkpoints.c.connected)
                                  .where(checkpoints.c.status == CheckpointStatus.ONLINE.value)).all()
        for cp in candidates:
            limit = now - timedelta(seconds=cp.heartbeat_seconds or default_heartbeat)
            if cp.last_seen_at is not None and cp.last_seen_at >= limit:
                continue
            done = conn.execute(update(checkpoints).where(
                checkpoints.c.checkpoint_id == cp.checkpoint_id,
                checkpoints.c.status == CheckpointStatus.ONLINE.value,
                or_(checkpoints.c.last_seen_at.is_(None), checkpoints.c.last_seen_at <= limit))
                .values(status=CheckpointStatus.OFFLINE.value))
            if done.rowcount:
                change = OfflineChange(cp.checkpoint_id, now, cp.last_seen_at, bool(cp.connected))
                conn.execute(insert(connection_events).values(detail="silent too long",
                                                              **change.status_change().row()))
                changes.append(change)
    for change in changes:
        log.info("offline: checkpoint %s is offline (last seen %s)", change.checkpoint_id,
                 change.last_seen_at.isoformat(timespec="seconds") if change.last_seen_at else "never")
    return changes


# --------------------------------------------------------------------------- wiring


class _Announcer:
    """Hands live events from job threads to the ingest's event loop."""

    def __init__(self, live_events: live.LiveEvents, loop: asyncio.AbstractEventLoop):
        self.live = live_events
        self.loop = loop

    def __call__(self, event: live.LiveEvent) -> None:
        if not self.live.enabled or self.loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.live.publish(event), self.loop)
        try:
            future.result(timeout=5)
        except Exception as exc:  # publishing is best effort; the row is the truth
            log.warning("offline: could not publish %s: %s", event.name, exc)


def offline_job(engine: Engine, default_heartbeat: int, announce) -> None:
    """Scheduled wrapper: mark silent checkpoints offline and announce each change."""
    for change in mark_offline(engine, default_heartbeat):
        announce(change.status_change().live_event())


def conditions_job(engine: Engine, limits: Limits, channels: tuple[str, ...], announce,
                   wake: Callable[[], None] | None = None) -> None:
    """Scheduled wrapper: run the alert condition rules, announce what opened or closed, wake the dispatcher."""
    result = check_conditions(engine, limits, channels)
    for alert in result.opened + result.closed:
        announce(alert.live_event())
    if wake is not None and (result.opened or result.closed):
        wake()


def retention_job(engine: Engine, image_dir: Path, policy: RetentionPolicy) -> None:
    """Scheduled wrapper around :func:`run_retention`; closed alerts older than the detections' retention go too."""
    run_retention(engine, image_dir, policy)
    removed = alerts.delete_closed_before(engine, _now() - timedelta(days=policy.detections_days))
    if removed:
        log.info("retention: removed %d closed alerts", removed)


def start_scheduler(settings: IngestSettings, engine: Engine, live_events: live.LiveEvents,
                    offline_interval: float = OFFLINE_INTERVAL_SECONDS,
                    retention_interval: float = RETENTION_INTERVAL_SECONDS,
                    wake: Callable[[], None] | None = None) -> BackgroundScheduler:
    """Start retention, offline detection and the alert conditions; call from inside the ingest's running loop.

    ``wake`` (the alert dispatcher's) is called when a check opened or closed alerts.

    Returns the started scheduler; call ``.shutdown(wait=False)`` on SIGTERM.
    Both jobs also run once right after start. ``max_instances=1`` and
    ``coalesce`` keep a slow run from stacking up.
    """
    announce = _Announcer(live_events, asyncio.get_running_loop())
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                "misfire_grace_time": 60})
    first = _now()
    scheduler.add_job(offline_job, "interval", seconds=offline_interval, next_run_time=first, id="offline",
                      args=(engine, settings.offline_after_seconds, announce))
    scheduler.add_job(retention_job, "interval", seconds=retention_interval, next_run_time=first,
                      id="retention", args=(engine, settings.image_dir, RetentionPolicy.from_settings(settings)))
    scheduler.add_job(conditions_job, "interval", seconds=settings.alert_check_seconds, id="alert_conditions",
                      next_run_time=first + timedelta(seconds=settings.alert_check_seconds),
                      args=(engine, Limits.from_settings(settings), settings.alert_channels, announce, wake))
    scheduler.start()
    log.info("jobs: started (offline check every %ss, retention %d days every %ss)",
             offline_interval, settings.retention_days, retention_interval)
    return scheduler


__all__ = ["OfflineChange", "RetentionPolicy", "RetentionResult", "delete_old_connection_events",
           "delete_old_detections", "delete_old_health", "delete_old_images", "mark_offline", "run_retention",
           "start_scheduler"]
