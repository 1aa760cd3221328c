"""Group-commit storage: one writer thread commits whatever is queued, then answers all.

Ingest handlers call :meth:`GroupCommitWriter.submit` from the event loop and
await the returned future; it resolves only after the row's transaction is
durably committed (SQLite ``synchronous=FULL``, PostgreSQL's default
``synchronous_commit``). Under load one fsync covers many messages; idle, a
message is committed at once — there is no timer to wait for.

Exactly-once: rows carrying an ``event_id`` are unique per
``(checkpoint_id, event_id)``. The writer looks up existing keys first, so a
repeat is answered with the first row's id and ``duplicate=True``; a race with
another ingest process (unique violation) retries the batch, which then finds
the winner's row.

Watchlist matching happens here, once, in the same transaction as the insert
(``fleet_store.alerts.WatchMatcher``): a detection and the alert it raises
(with its queued deliveries) commit together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from fleet_protocol import Detection, HealthReport, Message
from fleet_store import live
from fleet_store.alerts import Alert, WatchMatcher
from fleet_store.records import StoredDetection, StoredHealth, StoredRecord
from fleet_store.schema import checkpoints, health_monitors, lpr_detections

from .errors import StorageUnavailable
from .images import ImageStore, StoredImage

log = logging.getLogger(__name__)
_STOP = object()


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The outcome of storing one message: the new row's record, or the first one's id for a repeat."""

    record_id: int
    duplicate: bool
    record: StoredRecord | None = None
    alerts: tuple[Alert, ...] = ()


@dataclass(slots=True)
class _Pending:
    message: Message
    received_at: datetime
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class GroupCommitWriter:
    """Owns all writes to the central database from one ingest process.

    Start with :meth:`start`, stop with :meth:`stop` (commits everything queued
    first). ``max_batch`` bounds one transaction; ``stats`` counts batches and
    rows for ``/healthz`` and the benchmark.
    """

    def __init__(self, engine: Engine, images: ImageStore, max_batch: int = 500,
                 matcher: WatchMatcher | None = None, on_alerts: Callable[[], None] | None = None):
        self.engine = engine
        self.images = images
        self.max_batch = max_batch
        self.matcher = matcher
        self.on_alerts = on_alerts  # called on the writer thread after a commit that opened alerts
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.stats = {"batches": 0, "rows": 0, "duplicates": 0, "failures": 0}
        self.healthy = True
        self.last_error = ""
        self._positioned: set[str] = set()  # checkpoints whose position was settled (this process)
        self._unsure: list[StoredImage] = []  # files of failed batches whose rows may exist after all

    def start(self) -> None:
        self._thread.start()

    def submit(self, message: Message, received_at: datetime | None = None) -> asyncio.Future:
        """Queue a validated message received at ``received_at`` (aware; default now); the future
        resolves to a :class:`StoreResult`.

        The future fails with :class:`StorageUnavailable` when the database or
        the image directory could not take it (the sender should retry).
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Pending(message, received_at or datetime.now(UTC), future, loop))
        return future

    def call(self, job: Callable[[Connection], Any]) -> asyncio.Future:
        """Run ``job(connection)`` in its own transaction on the writer thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((job, future, loop))
        return future

    def depth(self) -> int:
        """Messages queued but not yet committed."""
        return self._queue.qsize()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then end the thread (blocking)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch: list[_Pending] = []
            while True:
                if isinstance(item, tuple):
                    self._run_job(*item)
                elif item is _STOP:
                    self._queue.put(_STOP)
                    break
                else:
                    batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)

    def _run_job(self, job: Callable, future: asyncio.Future, loop: asyncio.AbstractEventLoop) -> None:
        try:
            with self.engine.begin() as conn:
                result = job(conn)
        except Exception as exc:
            log.warning("store: background write failed: %s", exc)
            _resolve(loop, future, error=exc)
        else:
            _resolve(loop, future, result=result)

    def _commit(self, batch: list[_Pending]) -> None:
        for attempt in (1, 2, 3):
            try:
                results = self._write_batch(batch)
            except IntegrityError as exc:  # usually: another process stored one of these keys
                if attempt == 3:
                    self._fail(batch, f"integrity error persisted after retries: {exc}".splitlines()[0])
                    return
                continue
            except (DBAPIError, OSError) as exc:
                self._fail(batch, f"{type(exc).__name__}: {exc}".splitlines()[0])
                time.sleep(0.2)  # don't spin against a database that is down
                return
            break
        self._recovered()
        self._reconcile()
        self.stats["batches"] += 1
        self.stats["rows"] += len(batch)
        self.stats["duplicates"] += sum(result.duplicate for result in results)
        if self.on_alerts is not None and any(result.alerts for result in results):
            self.on_alerts()
        _settle_all(batch, results)

    def _fail(self, batch: list[_Pending], reason: str) -> None:
        self.stats["failures"] += 1
        if self.healthy:
            log.error("store: writes failing: %s", reason)
        self.healthy, self.last_error = False, reason
        _settle_all(batch, [StorageUnavailable(reason)] * len(batch))

    def _recovered(self) -> None:
        if not self.healthy:
            log.info("store: writes recovered")
        self.healthy, self.last_error = True, ""

    def _write_batch(self, batch: list[_Pending]) -> list[StoreResult]:
        written: list[StoredImage] = []
        try:
            with self.engine.begin() as conn:
                results = [None] * len(batch)
                for table, kind in ((lpr_detections, Detection), (health_monitors, HealthReport)):
                    indexes = [i for i, p in enumerate(batch) if isinstance(p.message, kind)]
                    if indexes:
                        self._write_table(conn, table, batch, indexes, results, written)
                positioned = self._adopt_positions(conn, [p.message for p in batch])
                self._match(conn, results)
                live.notify(conn)  # PostgreSQL: dashboards following the database wake at the commit
                self.images.sync(written)
        except BaseException:
            self._unsure.extend(written)
            self._reconcile()
            raise
        self._positioned |= positioned
        return results

    def _reconcile(self) -> None:
        """Delete the files of failed batches that no stored row names; keep the rest.

        A COMMIT can fail after it reached the database (the connection dropped while
        the reply was on its way, an fsync error after the WAL was written): its rows may
        exist, and the sender's resend is then answered as a duplicate. So files are only
        removed once the database says no row names them; while it cannot say, they wait
        for the next successful batch (an orphan costs disk; a missing file loses data).
        """
        if not self._unsure:
            return
        try:
            with self.engine.connect() as conn:
                named = _named_images(conn, [image.path for image in self._unsure])
        except (DBAPIError, OSError):
            return
        unused = [image for image in self._unsure if image.path not in named]
        if len(unused) < len(self._unsure):
            log.warning("store: a failed commit had stored %d rows after all; their images are kept",
                        len(self._unsure) - len(unused))
        self.images.remove(unused)
        self._unsure = []

    def _match(self, conn: Connection, results: list[StoreResult]) -> None:
        """Open the watchlist alerts the new detections raise; attach them to their results."""
        if self.matcher is None:
            return
        new = [r.record for r in results if isinstance(r.record, StoredDetection)]
        opened = self.matcher.match(conn, new) if new else {}
        for i, result in enumerate(results):
            if result.record is not None and result.record.id in opened and isinstance(result.record, StoredDetection):
                results[i] = replace(result, alerts=tuple(opened[result.record.id]))

    def _adopt_positions(self, conn: Connection, messages: list[Message]) -> set[str]:
        """Give a checkpoint without a position the first one its detections report; return whom.

        An operator's position (``checkpoints set --lat --lon``, Ansible) is never
        overwritten; each checkpoint is looked at once per process.
        """
        done: set[str] = set()
        for m in messages:
            if isinstance(m, Detection) and m.latitude is not None and m.longitude is not None \
                    and m.checkpoint_id not in self._positioned and m.checkpoint_id not in done:
                conn.execute(update(checkpoints).where(
                    checkpoints.c.checkpoint_id == m.checkpoint_id, checkpoints.c.latitude.is_(None),
                    checkpoints.c.longitude.is_(None)).values(latitude=m.latitude, longitude=m.longitude))
                done.add(m.checkpoint_id)
        return done

    def _write_table(self, conn: Connection, table, batch, indexes, results, written) -> None:
        """Insert the new rows of one table; fill ``results`` for every index."""
        existing = _existing_ids(conn, table, [batch[i].message for i in indexes])
        new_rows, new_indexes, first_seen = [], [], {}
        for i in indexes:
            message = batch[i].message
            key = (message.checkpoint_id, message.event_id)
            if message.event_id and key in existing:
                results[i] = ("dup", existing[key])
            elif message.event_id and key in first_seen:
                results[i] = ("same", first_seen[key])
            else:
                if message.event_id:
                    first_seen[key] = i
                new_rows.append(self._row(batch[i], written))
                new_indexes.append(i)
        ids = _insert_returning_ids(conn, table, new_rows)
        record_type = StoredDetection if table is lpr_detections else StoredHealth
        for i, row, record_id in zip(new_indexes, new_rows, ids, strict=True):
            row["id"] = record_id
            results[i] = StoreResult(record_id, False, record_type.from_row(row))
        for i in indexes:
            if isinstance(results[i], tuple):
                kind, ref = results[i]
                record_id = ref if kind == "dup" else results[ref].record_id
                results[i] = StoreResult(record_id, True)

    def _row(self, pending: _Pending, written: list[StoredImage]) -> dict[str, Any]:
        message = pending.message
        if isinstance(message, HealthReport):
            return health_row(message, pending.received_at)
        scene = self._write_image(message.checkpoint_id, pending.received_at, message.image, written)
        plate = self._write_image(message.checkpoint_id, pending.received_at, message.plate_image, written)
        return detection_row(message, pending.received_at, scene, plate)

    def _write_image(self, checkpoint_id: str, when: datetime, data: bytes | None,
                     written: list[StoredImage]) -> StoredImage | None:
        if not data:
            return None
        image = self.images.write(checkpoint_id, when, data)
        written.append(image)
        return image


def detection_row(d: Detection, received_at: datetime, image: StoredImage | None,
                  plate_image: StoredImage | None = None) -> dict[str, Any]:
    """The ``lpr_detections`` row for a validated detection and its stored scene and plate crop."""
    return {
        "checkpoint_id": d.checkpoint_id, "event_id": d.event_id, "license_plate": d.license_plate,
        "province": d.province, "province_confidence": d.province_confidence, "plate_raw": d.plate_raw,
        "confidence": d.confidence, "timestamp": d.timestamp, "hostname": d.hostname,
        "vehicle_type": d.vehicle_type, "vehicle_color": d.vehicle_color,
        "latitude": d.latitude, "longitude": d.longitude,
        **_image_columns("image", image), **_image_columns("plate_image", plate_image),
        "exposure_time": d.exposure_time, "analog_gain": d.analog_gain, "lux": d.lux,
        "extra": dict(d.extra) or None, "received_at": received_at,
    }


def _image_columns(prefix: str, image: StoredImage | None) -> dict[str, Any]:
    return {f"{prefix}_path": image.path if image else None, f"{prefix}_sha256": image.sha256 if image else None,
            f"{prefix}_size": image.size if image else None}


def health_row(h: HealthReport, received_at: datetime) -> dict[str, Any]:
    """The ``health_monitors`` row for a validated health report."""
    return {
        "checkpoint_id": h.checkpoint_id, "event_id": h.event_id, "hostname": h.hostname,
        "timestamp": h.timestamp, "component": h.component, "status": h.status,
        "message": h.message, "system_info": dict(h.system_info) or None, "received_at": received_at,
    }


def _existing_ids(conn: Connection, table, messages: list[Message]) -> dict[tuple[str, str], int]:
    """The ids of stored rows of ``table`` that have these messages' (checkpoint_id, event_id)."""
    keys = list({(m.checkpoint_id, m.event_id) for m in messages if m.event_id})
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(keys), 400):  # stay under SQLite's bound-parameter limit
        chunk = keys[start:start + 400]
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(existing_keys_sql(table.name, len(chunk)),
                                        tuple(value for key in chunk for value in key))
        else:
            rows = conn.execute(select(table.c.checkpoint_id, table.c.event_id, table.c.id)
                                .where(tuple_(table.c.checkpoint_id, table.c.event_id).in_(chunk)))
        found.update({(checkpoint_id, event_id): id_ for checkpoint_id, event_id, id_ in rows})
    return found


def existing_keys_sql(table_name: str, count: int) -> str:
    """SQLite: which of ``count`` (checkpoint_id, event_id) pairs are stored, as a join that probes the
    unique index once per pair.

    SQLite answers ``(checkpoint_id, event_id) IN (VALUES …)`` (what SQLAlchemy renders) by scanning
    the whole index: 30 µs a message with 10,000 rows stored, 290 µs with 100,000, growing with the
    table. The join costs ~3 µs a message at any size (docs/protocol.md, "Where the CPU goes").
    """
    return (f"WITH k(checkpoint_id, event_id) AS (VALUES {', '.join(['(?, ?)'] * count)}) "
            f'SELECT t.checkpoint_id, t.event_id, t.id FROM k JOIN "{table_name}" AS t '
            "ON t.checkpoint_id = k.checkpoint_id AND t.event_id = k.event_id")


def _named_images(conn: Connection, paths: list[str]) -> set[str]:
    """Which of these image paths a stored detection names (as its scene or its plate crop)."""
    named: set[str] = set()
    t = lpr_detections.c
    for start in range(0, len(paths), 400):  # stay under SQLite's bound-parameter limit
        chunk = paths[start:start + 400]
        for column in (t.image_path, t.plate_image_path):
            named.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return named


def _insert_returning_ids(conn: Connection, table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (all with the same keys); return their new ids in the order of ``rows``."""
    if not rows:
        return []
    if conn.dialect.name == "sqlite":
        return _insert_sqlite(conn, table, rows)
    result = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [row.id for row in result]


def _insert_sqlite(conn: Connection, table, rows: list[dict[str, Any]]) -> list[int]:
    """SQLite: multi-row ``INSERT … RETURNING id`` with the parameters built here; ids in row order.

    What SQLAlchemy's own multi-row RETURNING does, less its per-row Python (~10 µs a row of the
    writer's ~130: docs/protocol.md, "Where the CPU goes"). The values still pass through each
    column's SQLAlchemy bind processor (the one owner of how a type is stored: UTC datetimes,
    JSON). Our transaction holds SQLite's write lock, and an INTEGER PRIMARY KEY is assigned
    max(id)+1 per row in VALUES order, so the returned ids sorted are the rows' ids in order.
    """
    columns = tuple(rows[0])
    head, one_row, processors = _sqlite_insert(table, columns, conn.dialect)
    pairs = list(zip(columns, processors, strict=True))
    per_statement = max(1, conn.dialect.insertmanyvalues_max_parameters // len(columns))
    ids: list[int] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        params = tuple([row[c] if p is None else p(row[c]) for row in chunk for c, p in pairs])
        sql = f"{head} {', '.join([one_row] * len(chunk))} RETURNING {conn.dialect.identifier_preparer.quote('id')}"
        ids.extend(sorted(row[0] for row in conn.exec_driver_sql(sql, params)))
    return ids


_SQLITE_INSERTS: dict[tuple[str, tuple[str, ...]], tuple[str, str, list]] = {}


def _sqlite_insert(table, columns: tuple[str, ...], dialect) -> tuple[str, str, list]:
    """``INSERT INTO t (columns) VALUES``, one row's ``(?, …)`` and the columns' bind processors
    (None: the value goes as it is), made once per table and column set."""
    key = (table.name, columns)
    if key not in _SQLITE_INSERTS:
        quote = dialect.identifier_preparer.quote
        processors = [table.c[column].type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
        head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES"
        _SQLITE_INSERTS[key] = (head, f"({', '.join('?' * len(columns))})", processors)
    return _SQLITE_INSERTS[key]


def _settle_all(batch: list[_Pending], outcomes: list) -> None:
    """Resolve a batch's futures with one wake-up per event loop (not one per message)."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending.future, outcome))

    def settle(pairs: list) -> None:
        for future, outcome in pairs:
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(settle, pairs)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _resolve(loop: asyncio.AbstractEventLoop, future: asyncio.Future, result=None, error=None) -> None:
    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass
