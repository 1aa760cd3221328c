"""The durable outbox: SQLite (WAL) rows with an explicit delivery lifecycle.

Lifecycle of a row (column ``delivery``; ``sent_to_server`` mirrors it for the
old SQL habits: 0 = not yet delivered, 1 = delivered, 2 = rejected)::

    pending --claim--> in_flight --ack--> delivered
       ^                   |  \\--permanent refusal--> rejected (last_error = reason)
       +-- retryable refusal (next_attempt_at = back-off), disconnect, restart

``submit`` commits a detection (and writes its JPEGs) before returning, so
nothing is sent that is not on disk. ``claim`` moves the oldest sendable rows
to ``in_flight`` with one ``UPDATE ... RETURNING``; on :meth:`Outbox.open`
rows left ``in_flight`` by a crash go back to ``pending`` (the server
deduplicates by ``event_id``, so a resend is harmless).

One connection guarded by a lock serves every thread (vision, uplink, API,
scheduler); each call is one short transaction.
"""

from __future__ import annotations

import enum
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from fleet_protocol import Detection, HealthReport, Message

from .errors import ImageError, OutboxError
from .events import ComponentStatus, PlateEvent
from .files import MAX_IMAGE_BYTES, read_image_file
from .ids import canonical_event_id, uuid7, uuid7_time_ms
from .images import ImageLimits, prepare_jpeg
from .schema import migrate

log = logging.getLogger(__name__)


class Kind(str, enum.Enum):
    """Which table a row lives in."""

    DETECTION = "detection_results"
    HEALTH = "health_checks"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this checkpoint is, stamped on every outgoing message."""

    checkpoint_id: str
    hostname: str = ""
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """Where the outbox lives and how it stores images."""

    db_path: Path
    image_dir: Path
    image_limits: ImageLimits = ImageLimits()
    synchronous: str = "FULL"
    local_tz: tzinfo | None = None  # how naive timestamps from outside programs are read
    outside_image_dirs: tuple[Path, ...] = ()  # where outside programs' rows may point (besides image_dir)
    max_outside_image_bytes: int = MAX_IMAGE_BYTES


class Result(str, enum.Enum):
    """What an answer means for a row."""

    DELIVERED = "delivered"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row moved to in_flight, with the message to send for it (``attempts`` includes this one)."""

    kind: Kind
    row_id: int
    event_id: str
    attempts: int
    message: Message


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one in-flight row (built by the window, applied by the outbox)."""

    kind: Kind
    row_id: int
    result: Result
    record_id: int | None = None
    reason: str = ""
    retry_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Backlog:
    """Counts per lifecycle state for one table, and the oldest unsent row's age."""

    pending: int
    in_flight: int
    delivered: int
    rejected: int
    oldest_unsent_age_s: float | None

    @property
    def unsent(self) -> int:
        """Rows not yet delivered nor rejected."""
        return self.pending + self.in_flight


_DETECTION_INSERT = """INSERT INTO detection_results (
    event_id, license_plate, confidence, timestamp, image_path, plate_image_path, plate_raw,
    province, vehicle_type, vehicle_color, exposure_time, analog_gain, lux, prepared, image_bytes,
    created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"""
_DETECTION_RETURNING = ("id, event_id, attempts, license_plate, confidence, timestamp, image_path, "
                        "vehicle_type, vehicle_color, exposure_time, analog_gain, lux")
_HEALTH_RETURNING = "id, event_id, attempts, timestamp, component, status, message, system_info"


class Outbox:
    """The SQLite outbox; implements :class:`edge_agent.events.EventSink`. Thread-safe."""

    def __init__(self, conn: sqlite3.Connection, config: OutboxConfig, identity: Identity):
        self._conn = conn
        self._lock = threading.RLock()
        self.config = config
        self.identity = identity
        self._local_tz = config.local_tz or datetime.now().astimezone().tzinfo
        self._folder: Path | None = None
        self._sync_mode = config.synchronous
        self._image_folders = (config.image_dir, *config.outside_image_dirs)

    @classmethod
    def open(cls, config: OutboxConfig, identity: Identity) -> Outbox:
        """Open (creating or upgrading) the database; return in-flight rows to pending."""
        try:
            config.db_path.parent.mkdir(parents=True, exist_ok=True)
            config.image_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(config.db_path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={config.synchronous}")
            migrate(conn)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {config.db_path}: {exc}") from exc
        outbox = cls(conn, config, identity)
        released = outbox.release_all_in_flight()
        if released:
            log.info("returned %d rows left in flight by the last run to pending", released)
        return outbox

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------ writing

    def submit(self, event: PlateEvent) -> str:
        """Store one plate event durably (images compressed once) and return its event id.

        Raises :class:`ImageError` if the scene is not a picture (nothing is stored then)
        and :class:`OutboxError` if the database cannot be written.
        """
        return self.submit_many([event])[0]

    def submit_many(self, events: list[PlateEvent]) -> list[str]:
        """Store several events in one transaction (one fsync); all or none. Returns their ids."""
        rows = [self._prepare(event) for event in events]
        self._write(_DETECTION_INSERT, rows)
        return [row[0] for row in rows]

    def _prepare(self, event: PlateEvent) -> tuple:
        event_id = uuid7()
        scene = prepare_jpeg(event.scene_jpeg, self.config.image_limits)
        plate = prepare_jpeg(event.plate_jpeg, self.config.image_limits) if event.plate_jpeg else None
        scene_path, plate_path = self._write_images(event_id, scene, plate)
        return (event_id, event.license_plate, event.confidence, event.timestamp.isoformat(),
                str(scene_path), str(plate_path) if plate_path else None, event.plate_raw,
                event.province, event.vehicle_type, event.vehicle_color, event.exposure_time,
                event.analog_gain, event.lux, len(scene) + len(plate or b""), time.time())

    def _write_images(self, event_id: str, scene: bytes, plate: bytes | None) -> tuple[Path, Path | None]:
        """Write the JPEGs before the row commits, so every row that can be claimed finds its files."""
        day = datetime.fromtimestamp(uuid7_time_ms(event_id) / 1000, UTC).strftime("%Y-%m-%d")
        folder = self.config.image_dir / day  # one folder per UTC day: easy to browse and to prune by hand
        if folder != self._folder:
            folder.mkdir(exist_ok=True)
            self._folder = folder
        scene_path = folder / f"{event_id}.jpg"
        scene_path.write_bytes(scene)
        plate_path = None
        if plate:
            plate_path = folder / f"{event_id}.plate.jpg"
            plate_path.write_bytes(plate)
        return scene_path, plate_path

    def add_health(self, statuses: list[ComponentStatus], system_info: dict[str, Any],
                   now: datetime) -> None:
        """Queue one health row per component for delivery."""
        info = json.dumps(system_info, separators=(",", ":"))
        rows = [(uuid7(), now.isoformat(), s.component, s.status.value, s.message, info, time.time())
                for s in statuses]
        self._write("INSERT INTO health_checks (event_id, timestamp, component, status, message, "
                    "system_info, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _begin(self, durable: bool) -> None:
        """Start a write transaction; ``durable`` commits fsync per the configured mode.

        Only new rows need that: a claim or an answer lost in a power cut is redone
        (in-flight rows return to pending, the server answers a resend as a duplicate),
        so those commits skip the fsync. Call with the lock held.
        """
        mode = self.config.synchronous if durable else "NORMAL"
        if mode != self._sync_mode:
            self._conn.execute(f"PRAGMA synchronous={mode}")
            self._sync_mode = mode
        self._conn.execute("BEGIN IMMEDIATE")

    def _write(self, sql: str, rows: list[tuple]) -> None:
        with self._lock:
            try:
                self._begin(durable=True)
                self._conn.executemany(sql, rows)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox write failed: {exc}") from exc

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    # ------------------------------------------------------------------ rows from outside programs

    def prepare_outside_rows(self, limit: int = 200) -> int:
        """Adopt rows another program inserted; return how many.

        A row is data, not a capability. Its ``event_id`` is put in the canonical form
        the server answers with (one that is not a UUID makes the row ``rejected`` here,
        with the reason in ``last_error``). Its scene and plate crop are read only as
        regular files inside the image folder or ``outside_image_dirs``, at most
        ``max_outside_image_bytes`` (:func:`~edge_agent.files.read_image_file`: no FIFO,
        device or link can stall or widen the read), compressed once and copied into the
        image folder, so the row then names only the agent's own files. A missing or
        refused image does not hold the row back: it is sent without it and
        ``last_error`` says why. One transaction for the whole batch.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, event_id, image_path, plate_image_path FROM detection_results WHERE prepared = 0 "
                "AND delivery = 'pending' ORDER BY id LIMIT ?", (limit,)).fetchall()
        adopted = [self._adopt_row(*row) for row in rows]
        if adopted:
            self._record_adoptions(adopted)
        return len(adopted)

    def _adopt_row(self, row_id: int, event_id: str | None, scene: str | None, plate: str | None) -> tuple:
        canonical = canonical_event_id(event_id)
        if canonical is None:
            return row_id, None, None, None, 0, f"event_id {str(event_id)[:64]!r} is not a UUID"
        scene_path, scene_bytes, scene_error = self._adopt_file(row_id, scene)
        plate_path, plate_bytes, plate_error = self._adopt_file(row_id, plate)
        errors = "; ".join(e for e in (scene_error, plate_error) if e) or None
        return row_id, canonical, scene_path, plate_path, scene_bytes + plate_bytes, errors

    def _adopt_file(self, row_id: int, path: str | None) -> tuple[str | None, int, str | None]:
        if not path:
            return None, 0, None
        try:
            original = read_image_file(path, self._image_folders, self.config.max_outside_image_bytes)
            prepared = prepare_jpeg(original, self.config.image_limits)
        except (OSError, ImageError) as exc:
            log.warning("outside row %d: image %s unusable (%s); sending it without", row_id, path, exc)
            return None, 0, f"image {path} unusable: {exc}"
        stored, _ = self._write_images(uuid7(), prepared, None)  # a fresh name: the row's id is not ours
        return str(stored), len(prepared), None

    def _record_adoptions(self, adopted: list[tuple]) -> None:
        with self._lock:
            try:
                self._begin(durable=True)
                for row_id, event_id, scene, plate, size, error in adopted:
                    if event_id is None or not self._adopt_values(row_id, event_id, scene, plate, size, error):
                        self._conn.execute("UPDATE detection_results SET delivery = 'rejected', sent_to_server = 2, "
                                           "prepared = 1, last_error = ? WHERE id = ?",
                                           (error or "event_id repeats another row's", row_id))
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox write failed: {exc}") from exc

    def _adopt_values(self, row_id, event_id, scene, plate, size, error) -> bool:
        """Write one adopted row; False when its canonical event id is taken by another row."""
        try:
            self._conn.execute("UPDATE detection_results SET event_id = ?, image_path = ?, plate_image_path = ?, "
                               "image_bytes = ?, last_error = ?, prepared = 1 WHERE id = ?",
                               (event_id, scene, plate, size, error, row_id))
        except sqlite3.IntegrityError:
            return False
        return True

    # ------------------------------------------------------------------ claiming and outcomes

    def claim(self, limit: int, now: float | None = None) -> list[Claimed]:
        """Move up to ``limit`` of the oldest sendable rows to in_flight; health rows first."""
        if limit <= 0:
            return []
        now = time.time() if now is None else now
        with self._lock:
            try:
                self._begin(durable=False)
                health = self._claim_rows(Kind.HEALTH, _HEALTH_RETURNING, "", limit, now)
                detections = self._claim_rows(Kind.DETECTION, _DETECTION_RETURNING, "AND prepared = 1",
                                              limit - len(health), now)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox claim failed: {exc}") from exc
        claimed = [self._health_message(r) for r in health]
        claimed += [self._detection_message(r) for r in detections]
        return claimed

    def _claim_rows(self, kind: Kind, returning: str, extra: str, limit: int, now: float) -> list:
        if limit <= 0:
            return []
        rows = self._conn.execute(
            f"UPDATE {kind.value} SET delivery = 'in_flight', attempts = attempts + 1, sent_at = ? "
            f"WHERE id IN (SELECT id FROM {kind.value} WHERE delivery = 'pending' AND sent_to_server = 0 "
            f"AND next_attempt_at <= ? {extra} ORDER BY id LIMIT ?) RETURNING {returning}",
            (now, now, limit)).fetchall()
        rows.sort(key=lambda r: r[0])  # RETURNING order is unspecified
        return rows

    def _timestamp(self, text: str) -> datetime:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return datetime.fromtimestamp(0, UTC)  # the server refuses it: row gets rejected
        return moment if moment.tzinfo else moment.replace(tzinfo=self._local_tz)

    def _detection_message(self, row: tuple) -> Claimed:
        (row_id, event_id, attempts, plate, confidence, ts, image_path, vtype, vcolor,
         exposure, gain, lux) = row
        ident = self.identity
        message = Detection(
            checkpoint_id=ident.checkpoint_id, license_plate=plate, confidence=confidence,
            timestamp=self._timestamp(ts), hostname=ident.hostname, vehicle_type=vtype or "",
            vehicle_color=vcolor or "", latitude=ident.latitude, longitude=ident.longitude,
            image=self._read_optional(image_path), exposure_time=exposure, analog_gain=gain, lux=lux,
            event_id=event_id)
        return Claimed(Kind.DETECTION, row_id, event_id, attempts, message)

    def _read_optional(self, path: str | None) -> bytes | None:
        """The JPEG at ``path``, or None if there is none (pruned, lost in a power cut, or not a file we read)."""
        if not path:
            return None
        try:
            return read_image_file(path, self._image_folders, self.config.max_outside_image_bytes)
        except (OSError, ImageError):
            return None

    def _health_message(self, row: tuple) -> Claimed:
        row_id, event_id, attempts, ts, component, status, message, system_info = row
        try:
            info = json.loads(system_info or "{}")
        except ValueError:
            info = {}
        report = HealthReport(
            checkpoint_id=self.identity.checkpoint_id, component=component, status=status,
            timestamp=self._timestamp(ts), hostname=self.identity.hostname, message=message or "",
            system_info=info if isinstance(info, dict) else {}, event_id=event_id)
        return Claimed(Kind.HEALTH, row_id, event_id, attempts, report)

    def apply(self, outcomes: list[Outcome]) -> None:
        """Record answers: delivered, rejected (with reason) or back to pending after a back-off."""
        if not outcomes:
            return
        with self._lock:
            try:
                self._begin(durable=False)
                for outcome in outcomes:
                    self._apply_one(outcome)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox update failed: {exc}") from exc

    def _apply_one(self, o: Outcome) -> None:
        table = o.kind.value
        if o.result is Result.DELIVERED:
            self._conn.execute(f"UPDATE {table} SET delivery = 'delivered', sent_to_server = 1, "
                               "server_record_id = ?, last_error = NULL WHERE id = ?",
                               (o.record_id, o.row_id))
        elif o.result is Result.REJECTED:
            self._conn.execute(f"UPDATE {table} SET delivery = 'rejected', sent_to_server = 2, "
                               "last_error = ? WHERE id = ?", (o.reason, o.row_id))
        else:
            self._conn.execute(f"UPDATE {table} SET delivery = 'pending', next_attempt_at = ?, "
                               "last_error = ? WHERE id = ? AND delivery = 'in_flight'",
                               (o.retry_at, o.reason, o.row_id))

    def release_all_in_flight(self) -> int:
        """Return every in-flight row to pending (start-up, end of a session); return the count."""
        return sum(self.execute(f"UPDATE {kind.value} SET delivery = 'pending' "
                                "WHERE delivery = 'in_flight'") for kind in Kind)

    # ------------------------------------------------------------------ reading

    def backlog(self, kind: Kind, now: float | None = None) -> Backlog:
        """Counts per state and the age of the oldest unsent row (None when all are sent)."""
        now = time.time() if now is None else now
        with self._lock:
            counts = dict(self._conn.execute(
                f"SELECT delivery, count(*) FROM {kind.value} GROUP BY delivery").fetchall())
            oldest = self._conn.execute(
                f"SELECT min(created_at) FROM {kind.value} WHERE delivery IN ('pending', 'in_flight')"
            ).fetchone()[0]
        return Backlog(counts.get("pending", 0), counts.get("in_flight", 0), counts.get("delivered", 0),
                       counts.get("rejected", 0), None if oldest is None else max(0.0, now - oldest))

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        """Run a read-only query and return rows as mappings (for pages, cleanup, doctor)."""
        with self._lock:
            cursor = self._conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def execute(self, sql: str, params: tuple | list = (), many: bool = False) -> int:
        """Run one write statement in its own transaction; return the rows changed."""
        with self._lock:
            try:
                self._begin(durable=True)
                cursor = (self._conn.executemany if many else self._conn.execute)(sql, params)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox write failed: {exc}") from exc
            return cursor.rowcount
