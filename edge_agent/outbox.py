"""The durable outbox: SQLite (WAL) rows with an explicit delivery lifecycle; the only code that runs its SQL.

Lifecycle of a row (:class:`~edge_agent.delivery.Delivery` in column
``delivery``; ``sent_to_server`` mirrors it for the old SQL habits: 0 = not yet
delivered, 1 = delivered, 2 = rejected)::

    pending --claim--> in_flight --ack--> delivered
       ^                   |  \\--permanent refusal--> rejected (last_error = reason)
       +-- retryable refusal (next_attempt_at = back-off), disconnect, restart

``submit`` commits a detection (and writes its JPEGs) before returning, so
nothing is sent that is not on disk. ``claim`` moves the oldest sendable rows
to ``in_flight`` with one ``UPDATE ... RETURNING`` and builds each message from
the column map in :mod:`edge_agent.schema`; on :meth:`Outbox.open` rows left
``in_flight`` by a crash go back to ``pending`` (the server deduplicates by
``event_id``, so a resend is harmless).

Everything else reads or prunes through named methods returning frozen
records: :class:`OutboxReader` (also opened read-only by the doctor, without
the agent) for pages, health and cleanup, :class:`Outbox` for the agent.
One connection guarded by a lock serves every thread (vision, uplink, API,
scheduler); each call is one short transaction.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from fleet_protocol import Detection, HealthReport, Limits, Message

from .delivery import ANSWERED, Claimed, Delivery, Kind, Outcome, Result
from .errors import ImageError, OutboxError
from .events import ComponentStatus, PlateEvent
from .files import MAX_IMAGE_BYTES, Roots, read_image_file
from .ids import canonical_event_id, uuid7, uuid7_time_ms
from .images import ImageLimits, prepare_jpeg
from .outbox_reader import OutboxReader
from .schema import (
    PICTURE_COLUMNS,
    TABLES,
    Codec,
    Column,
    delivery_in,
    insert_sql,
    migrate,
    returning_list,
    set_delivery,
    wire_columns,
)

log = logging.getLogger(__name__)

_WIRE = {kind: wire_columns(columns) for kind, columns in TABLES.items()}
_PROTOCOL = Limits()
_PICTURE_BYTES = {"scene": _PROTOCOL.max_image_bytes, "plate": _PROTOCOL.max_plate_image_bytes}
_OWN = {Kind.DETECTION: ("prepared", "image_bytes", "created_at"), Kind.HEALTH: ("created_at",)}
_INSERT = {kind: insert_sql(kind.value, ("event_id", *(c.name for c in _WIRE[kind]), *_OWN[kind])) for kind in Kind}
_SENDABLE = {Kind.DETECTION: "AND prepared = 1", Kind.HEALTH: ""}
_CLAIM = {kind: (f"UPDATE {kind.value} SET {set_delivery(Delivery.IN_FLIGHT)}, attempts = attempts + 1, "
                 f"sent_at = :now WHERE id IN (SELECT id FROM {kind.value} WHERE {delivery_in([Delivery.PENDING])} "
                 f"AND sent_to_server = 0 AND next_attempt_at <= :now {_SENDABLE[kind]} ORDER BY id LIMIT :limit) "
                 f"RETURNING {returning_list(TABLES[kind])}") for kind in Kind}
_ANSWERED = delivery_in(ANSWERED)


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


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one pruning call did: rows it deleted (or whose images it dropped) and image files deleted."""

    rows: int
    images: int


class Outbox(OutboxReader):
    """The SQLite outbox; implements :class:`edge_agent.events.EventSink`. Thread-safe."""

    def __init__(self, conn: sqlite3.Connection, config: OutboxConfig, identity: Identity):
        super().__init__(conn, config.db_path)
        self.config = config
        self.identity = identity
        self._local_tz = config.local_tz or datetime.now().astimezone().tzinfo
        self._limits = {picture: replace(config.image_limits, max_bytes=size)
                        for picture, size in _PICTURE_BYTES.items()}
        self._folder: tuple[int, str] | None = None  # (UTC day number, its image folder)
        self._sync_mode = config.synchronous
        self._image_folders = (config.image_dir, *config.outside_image_dirs)
        self._roots = Roots.of(self._image_folders)  # resolved again by each batch that reads files

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

    # ------------------------------------------------------------------ writing

    def submit(self, event: PlateEvent) -> str:
        """Store one plate event durably (images compressed once) and return its event id.

        Raises :class:`ImageError` if the scene or the plate crop is not a picture (nothing is stored then)
        and :class:`OutboxError` if the database cannot be written.
        """
        return self.submit_many([event])[0]

    def submit_many(self, events: list[PlateEvent]) -> list[str]:
        """Store several events in one transaction (one fsync); all or none. Returns their ids."""
        rows = [self._row(event) for event in events]
        self._write(_INSERT[Kind.DETECTION], rows)
        return [row["event_id"] for row in rows]

    def _row(self, event: PlateEvent) -> dict[str, Any]:
        """The INSERT's values for ``event`` by column name; its JPEGs are written first."""
        event_id = uuid7()
        # Every picture is prepared before any file is written: a bad one raises and stores nothing.
        pictures = {c: prepare_jpeg(data, self._limits[c.picture])
                    for c in PICTURE_COLUMNS if (data := getattr(event, c.source))}
        row = {"event_id": event_id, "prepared": 1, "created_at": time.time(),
               "image_bytes": sum(len(jpeg) for jpeg in pictures.values())}
        for column in _WIRE[Kind.DETECTION]:
            if column.codec is not Codec.JPEG:
                row[column.name] = _to_row(column, getattr(event, column.source))
            elif column in pictures:
                row[column.name] = self._write_picture(event_id, column.picture, pictures[column])
            else:
                row[column.name] = None
        return row

    def _write_picture(self, event_id: str, picture: str, jpeg: bytes) -> str:
        """Write a JPEG before its row commits, so every row that can be claimed finds its files; return its path."""
        day = uuid7_time_ms(event_id) // 86_400_000
        if self._folder is None or self._folder[0] != day:  # one folder per UTC day: easy to browse and prune by hand
            folder = self.config.image_dir / datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
            folder.mkdir(exist_ok=True)
            self._folder = (day, str(folder))
        path = f"{self._folder[1]}/{event_id}.jpg" if picture == "scene" else \
            f"{self._folder[1]}/{event_id}.{picture}.jpg"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(jpeg)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return path

    def add_health(self, statuses: list[ComponentStatus], system_info: Mapping[str, Any],
                   now: datetime) -> None:
        """Queue one health row per component for delivery."""
        info = _json_text(system_info)
        rows = [{"event_id": uuid7(), "timestamp": now.isoformat(), "component": s.component,
                 "status": s.status.value, "message": s.message, "system_info": info, "created_at": time.time()}
                for s in statuses]
        self._write(_INSERT[Kind.HEALTH], rows)

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

    def _write(self, sql: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]], durable: bool = True) -> int:
        """Run ``sql`` once per row in one transaction; return the rows changed."""
        with self._lock:
            try:
                self._begin(durable)
                changed = self._conn.executemany(sql, rows).rowcount
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox write failed: {exc}") from exc
            return changed

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    # ------------------------------------------------------------------ rows from outside programs

    def prepare_outside_rows(self, limit: int = 200) -> int:
        """Adopt rows another program inserted; return how many.

        A row is data, not a capability. Its ``event_id`` is put in the canonical form the
        server answers with (one that is not a UUID, or then repeats another row's, makes
        the row ``rejected`` here, with the reason in ``last_error``). Each picture is read
        only as a regular file inside the image folder or ``outside_image_dirs``, at most
        ``max_outside_image_bytes`` (:func:`~edge_agent.files.read_image_file`: no FIFO,
        device or link can stall or widen the read), compressed once and copied into the
        image folder under a fresh name, so the row then names only the agent's own files.
        A missing or refused picture does not hold the row back: it is sent without it and
        ``last_error`` says why. One transaction for the whole batch.
        """
        rows = self._select(f"SELECT id, event_id, {', '.join(c.name for c in PICTURE_COLUMNS)} FROM detection_results "
                            f"WHERE prepared = 0 AND {delivery_in([Delivery.PENDING])} ORDER BY id LIMIT ?", (limit,))
        if not rows:
            return 0
        self._roots = Roots.of(self._image_folders)
        updates = [self._adopt(row) for row in rows]
        if updates:
            self._record_adoptions(updates)
        return len(updates)

    def _adopt(self, row: sqlite3.Row) -> dict[str, Any]:
        update: dict[str, Any] = {"id": row["id"], "event_id": canonical_event_id(row["event_id"]), "image_bytes": 0}
        if update["event_id"] is None:
            return {**update, "last_error": f"event_id {str(row['event_id'])[:64]!r} is not a UUID"}
        errors = []
        for column in PICTURE_COLUMNS:
            path, owned, error = self._adopt_picture(row["id"], column, row[column.name])
            update[column.name] = path
            update["image_bytes"] += owned
            if error:
                errors.append(error)
        update["last_error"] = "; ".join(errors) or None
        return update

    def _adopt_picture(self, row_id: int, column: Column, path: str | None) -> tuple[str | None, int, str | None]:
        """One outside picture: (the agent's copy, bytes the outbox now owns, why it was dropped)."""
        if not path:
            return None, 0, None
        try:
            original = read_image_file(path, self._roots, self.config.max_outside_image_bytes)
            prepared = prepare_jpeg(original, self._limits[column.picture])
        except (OSError, ImageError) as exc:
            log.warning("outside row %d: %s image %s unusable (%s); sending it without one",
                        row_id, column.picture, path, exc)
            return None, 0, f"{column.picture} image {path} unusable: {exc}"
        # A fresh name: the row's id is the outside program's text, not a safe file name.
        return self._write_picture(uuid7(), column.picture, prepared), len(prepared), None

    def _record_adoptions(self, updates: list[dict[str, Any]]) -> None:
        paths = ", ".join(f"{c.name} = :{c.name}" for c in PICTURE_COLUMNS)
        adopt = (f"UPDATE detection_results SET event_id = :event_id, {paths}, image_bytes = :image_bytes, "
                 "last_error = :last_error, prepared = 1 WHERE id = :id")
        reject = (f"UPDATE detection_results SET {set_delivery(Delivery.REJECTED)}, prepared = 1, "
                  "last_error = :last_error WHERE id = :id")
        with self._lock:
            try:
                self._begin(durable=True)
                for update in updates:
                    if update["event_id"] is None or not self._try(adopt, update):
                        self._conn.execute(reject, {"id": update["id"], "last_error": update["last_error"]
                                                    or f"event_id {update['event_id']} repeats another row's"})
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox write failed: {exc}") from exc

    def _try(self, sql: str, params: Mapping[str, Any]) -> bool:
        """Run one statement; False when it breaks a unique index (the transaction goes on)."""
        try:
            self._conn.execute(sql, params)
        except sqlite3.IntegrityError:
            return False
        return True

    # ------------------------------------------------------------------ claiming and outcomes

    def claim(self, limit: int, now: float | None = None) -> list[Claimed]:
        """Move up to ``limit`` of the oldest sendable rows to in_flight; health rows first."""
        if limit <= 0:
            return []
        now = time.time() if now is None else now
        self._roots = Roots.of(self._image_folders)
        with self._lock:
            try:
                self._begin(durable=False)
                health = self._claim_rows(Kind.HEALTH, limit, now)
                detections = self._claim_rows(Kind.DETECTION, limit - len(health), now)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox claim failed: {exc}") from exc
        return [self._claimed(Kind.HEALTH, r) for r in health] + [self._claimed(Kind.DETECTION, r) for r in detections]

    def _claim_rows(self, kind: Kind, limit: int, now: float) -> list[sqlite3.Row]:
        if limit <= 0:
            return []
        cursor = self._conn.cursor()
        cursor.row_factory = sqlite3.Row
        rows = cursor.execute(_CLAIM[kind], {"now": now, "limit": limit}).fetchall()
        rows.sort(key=lambda r: r["id"])  # RETURNING order is unspecified
        return rows

    def _claimed(self, kind: Kind, row: sqlite3.Row) -> Claimed:
        """The message for a claimed row: identity from this checkpoint, every carried column from the row."""
        fields = {c.wire: self._to_wire(c, row[c.name]) for c in _WIRE[kind]}
        ident = self.identity
        message: Message
        if kind is Kind.DETECTION:
            message = Detection(checkpoint_id=ident.checkpoint_id, hostname=ident.hostname, latitude=ident.latitude,
                                longitude=ident.longitude, event_id=row["event_id"], **fields)
        else:
            message = HealthReport(checkpoint_id=ident.checkpoint_id, hostname=ident.hostname,
                                   event_id=row["event_id"], **fields)
        return Claimed(kind, row["id"], row["event_id"], row["attempts"], message)

    def _to_wire(self, column: Column, value: Any) -> Any:
        if column.codec is Codec.TEXT:
            return "" if value is None else value
        if column.codec is Codec.TIME:
            return self._timestamp(value)
        if column.codec is Codec.JSON:
            return _json_object(value)
        if column.codec is Codec.JPEG:
            return self._read_picture(value, _PICTURE_BYTES[column.picture])
        return value

    def _read_picture(self, path: str | None, max_bytes: int) -> bytes | None:
        """The JPEG at ``path``; None if there is none (pruned, lost in a power cut), it is not a regular
        file in the allowed folders, or it is over ``max_bytes``."""
        if not path:
            return None
        try:
            return read_image_file(path, self._roots, max_bytes)
        except ImageError as exc:  # e.g. a plate crop an outside program named before this agent adopted plates
            log.warning("%s: %s; sent without it", path, exc)
        except OSError:
            pass
        return None

    def _timestamp(self, text: str | None) -> datetime:
        try:
            moment = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            return datetime.fromtimestamp(0, UTC)  # the server refuses it: row gets rejected
        return moment if moment.tzinfo else moment.replace(tzinfo=self._local_tz)

    def apply(self, outcomes: list[Outcome]) -> None:
        """Record answers: delivered, rejected (with reason) or back to pending after a back-off."""
        if not outcomes:
            return
        with self._lock:
            try:
                self._begin(durable=False)
                for outcome in outcomes:
                    self._conn.execute(*_answer_sql(outcome))
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox update failed: {exc}") from exc

    def release_all_in_flight(self) -> int:
        """Return every in-flight row to pending (start-up, end of a session); return the count."""
        return sum(self._write(f"UPDATE {kind.value} SET {set_delivery(Delivery.PENDING)} "
                               f"WHERE delivery = '{Delivery.IN_FLIGHT.value}'", [()]) for kind in Kind)

    # ------------------------------------------------------------------ pruning (the policy is edge_agent.cleanup)

    def prune_answered(self, before: float | None = None, limit: int = 500) -> Pruned:
        """Delete up to ``limit`` of the oldest answered rows of each table, with the image files the outbox owns.

        ``before`` (Unix time) limits it to rows created earlier. Unsent rows are never touched.
        """
        where = _ANSWERED + ("" if before is None else " AND created_at < :before")
        params = {"before": before, "limit": limit}
        rows = self._select(f"SELECT id, images_pruned, {', '.join(c.name for c in PICTURE_COLUMNS)} "
                            f"FROM detection_results WHERE {where} ORDER BY id LIMIT :limit", params)
        images = sum(self._delete_pictures(r) for r in rows if not r["images_pruned"])
        deleted = self._write("DELETE FROM detection_results WHERE id = ?", [(r["id"],) for r in rows]) if rows else 0
        deleted += self._write(f"DELETE FROM health_checks WHERE id IN (SELECT id FROM health_checks "
                               f"WHERE {where} ORDER BY id LIMIT :limit)", [params])
        return Pruned(deleted, images)

    def prune_answered_images(self, limit: int = 50) -> Pruned:
        """Delete the owned images of up to ``limit`` of the oldest answered rows; the rows stay (``images_pruned``)."""
        rows = self._select(f"SELECT id, {', '.join(c.name for c in PICTURE_COLUMNS)} FROM detection_results WHERE "
                            f"{_ANSWERED} AND images_pruned = 0 AND image_bytes > 0 ORDER BY id LIMIT ?", (limit,))
        images = sum(self._delete_pictures(r) for r in rows)
        if rows:
            self._write("UPDATE detection_results SET images_pruned = 1 WHERE id = ?", [(r["id"],) for r in rows])
        return Pruned(len(rows), images)

    def _delete_pictures(self, row: sqlite3.Row) -> int:
        """Delete a row's picture files that live in the outbox's image folder; return how many."""
        count = 0
        root = self.config.image_dir.resolve()
        for column in PICTURE_COLUMNS:
            if row[column.name] and (path := Path(row[column.name]).resolve()).is_relative_to(root):
                path.unlink(missing_ok=True)
                count += 1
        return count


def _to_row(column: Column, value: Any) -> Any:
    """A carried value as the row stores it."""
    if column.codec is Codec.TIME:
        return value.isoformat()
    if column.codec is Codec.JSON:
        return _json_text(value)
    return value


def _json_text(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _answer_sql(o: Outcome) -> tuple[str, tuple]:
    """The UPDATE recording one outcome."""
    table = o.kind.value
    if o.result is Result.DELIVERED:
        return (f"UPDATE {table} SET {set_delivery(Delivery.DELIVERED)}, server_record_id = ?, last_error = NULL "
                "WHERE id = ?", (o.record_id, o.row_id))
    if o.result is Result.REJECTED:
        return (f"UPDATE {table} SET {set_delivery(Delivery.REJECTED)}, last_error = ? WHERE id = ?",
                (o.reason, o.row_id))
    return (f"UPDATE {table} SET {set_delivery(Delivery.PENDING)}, next_attempt_at = ?, last_error = ? "
            f"WHERE id = ? AND delivery = '{Delivery.IN_FLIGHT.value}'", (o.retry_at, o.reason, o.row_id))


def _json_object(text: str | None) -> dict[str, Any]:
    """A stored JSON object; anything else reads as empty."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
