"""Read-only queries over the outbox: what the pages, health, cleanup and the doctor need, as frozen records.

:class:`OutboxReader` is the base of :class:`edge_agent.outbox.Outbox` (one
connection, one lock) and is also opened on its own, read-only, by the doctor
and by test harnesses watching a running agent. Nothing outside the outbox
modules writes SQL against the outbox.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .delivery import UNSENT, Delivery, Kind
from .errors import OutboxError
from .schema import PICTURE_COLUMNS, delivery_in

_UNSENT = delivery_in(UNSENT)
_PICTURE_COLUMN = {c.picture: c for c in PICTURE_COLUMNS}
_LISTING = ("SELECT id, event_id, license_plate, province, confidence, timestamp, delivery, attempts, last_error, "
            "image_path IS NOT NULL AND images_pruned = 0 AS has_scene, "
            "plate_image_path IS NOT NULL AND images_pruned = 0 AS has_plate FROM detection_results")


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


@dataclass(frozen=True, slots=True)
class DetectionRow:
    """One detection as the local pages and the doctor list it (``timestamp`` as stored)."""

    id: int
    event_id: str
    license_plate: str
    province: str
    confidence: float
    timestamp: str
    delivery: Delivery
    attempts: int
    last_error: str | None
    has_scene: bool
    has_plate: bool


@dataclass(frozen=True, slots=True)
class StorageUse:
    """Bytes the outbox uses (database pages in use + WAL + owned images), and how much is not yet delivered."""

    total_bytes: int
    unsent_bytes: int


class OutboxReader:
    """Read-only queries over an outbox database. Thread-safe; raises :class:`OutboxError`."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path):
        self._conn = conn
        self._lock = threading.RLock()
        self.db_path = db_path

    @classmethod
    def open_read_only(cls, db_path: Path) -> OutboxReader:
        """Open an existing outbox without writing to it (the agent may be running or not)."""
        try:
            conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {db_path}: {exc}") from exc
        return cls(conn, db_path)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> OutboxReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _select(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cursor = self._conn.cursor()
                cursor.row_factory = sqlite3.Row
                return cursor.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox read failed: {exc}") from exc

    def quick_check(self) -> str:
        """SQLite's ``PRAGMA quick_check``: ``"ok"`` or what is damaged."""
        return self._select("PRAGMA quick_check")[0][0]

    def unsent_count(self, kind: Kind) -> int:
        """Rows with ``sent_to_server = 0``; works on a database the agent has not upgraded yet."""
        return self._select(f"SELECT count(*) FROM {kind.value} WHERE sent_to_server = 0")[0][0]

    def backlog(self, kind: Kind, now: float | None = None) -> Backlog:
        """Counts per state and the age of the oldest unsent row (None when all are sent)."""
        now = time.time() if now is None else now
        counts = {r[0]: r[1] for r in self._select(f"SELECT delivery, count(*) FROM {kind.value} GROUP BY delivery")}
        oldest = self._select(f"SELECT min(created_at) FROM {kind.value} WHERE {_UNSENT}")[0][0]
        return Backlog(counts.get(Delivery.PENDING, 0), counts.get(Delivery.IN_FLIGHT, 0),
                       counts.get(Delivery.DELIVERED, 0), counts.get(Delivery.REJECTED, 0),
                       None if oldest is None else max(0.0, now - oldest))

    def unsent(self, limit: int) -> list[DetectionRow]:
        """Detections not yet answered, oldest first."""
        return self._listing(f"WHERE {_UNSENT} ORDER BY id", limit)

    def recent(self, limit: int) -> list[DetectionRow]:
        """The newest detections in any state."""
        return self._listing("ORDER BY id DESC", limit)

    def rejected(self, limit: int) -> list[DetectionRow]:
        """The newest detections the server refused (``last_error`` says why)."""
        return self._listing(f"WHERE delivery = '{Delivery.REJECTED.value}' ORDER BY id DESC", limit)

    def _listing(self, tail: str, limit: int) -> list[DetectionRow]:
        rows = self._select(f"{_LISTING} {tail} LIMIT ?", (limit,))
        return [DetectionRow(**{**dict(r), "delivery": Delivery(r["delivery"]), "has_scene": bool(r["has_scene"]),
                                "has_plate": bool(r["has_plate"])}) for r in rows]

    def image_path(self, event_id: str, picture: str) -> Path | None:
        """Where a detection's ``scene`` or ``plate`` JPEG is kept; None if none (or pruned).

        Raises :class:`ValueError` for another picture name.
        """
        column = _PICTURE_COLUMN.get(picture)
        if column is None:
            raise ValueError(f"no picture {picture!r}; expected one of {sorted(_PICTURE_COLUMN)}")
        rows = self._select(f"SELECT {column.name} FROM detection_results WHERE event_id = ? "
                            "AND images_pruned = 0 AND prepared = 1", (event_id,))  # adopted: the agent's own files
        return Path(rows[0][0]) if rows and rows[0][0] else None

    def storage_use(self) -> StorageUse:
        """Database pages in use + WAL + owned images; unsent = their images + a row estimate."""
        pages = self._select("SELECT (SELECT page_count FROM pragma_page_count()) - "
                             "(SELECT freelist_count FROM pragma_freelist_count()), "
                             "(SELECT page_size FROM pragma_page_size())")[0]
        wal = Path(f"{self.db_path}-wal")
        db_bytes = pages[0] * pages[1] + (wal.stat().st_size if wal.exists() else 0)
        images = self._select(f"SELECT coalesce(sum(image_bytes), 0), coalesce(sum(CASE WHEN {_UNSENT} "
                              "THEN image_bytes + 512 ELSE 0 END), 0) FROM detection_results "
                              "WHERE images_pruned = 0")[0]
        return StorageUse(db_bytes + images[0], images[1])
