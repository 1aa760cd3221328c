"""The outbox's SQLite schema: tables the old app's users know, the lifecycle columns, and one column map.

``detection_results`` and ``health_checks`` keep their names and
``sent_to_server`` (0 = not yet delivered). An outside program may insert a
detection giving only ``license_plate``, ``confidence``, ``timestamp`` and
``image_path`` (and ``province``, ``plate_image_path`` and the other carried
columns if it has them); every other column has a default and the
``*_event_id`` triggers give the row a UUIDv7 ``event_id`` inside the same
transaction, so the id is on disk before the first send.

Each table is one list of :class:`Column`. A column that carries part of the
message names its ``fleet_protocol`` field (``wire``), the attribute of the
stored object it comes from (``source``: a :class:`~edge_agent.events.PlateEvent`
attribute for detections) and how the value changes between row and wire
(:class:`Codec`). The INSERT, the claim's RETURNING list and the message are
all generated from that list, so a new carried column is one line here.

An existing database from the old scripts (or an older agent) is upgraded in
place: missing columns are added (``ALTER TABLE ... ADD COLUMN``), rows it
already marked ``sent_to_server = 1`` become ``delivered``.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .delivery import Delivery, Kind
from .ids import uuid7

# UUIDv7 in SQL (SQLite >= 3.35, no unixepoch('subsec') needed): 48-bit Unix ms,
# version 7, 12 random bits, variant 10, 62 random bits; lowercase canonical form.
UUID7_SQL = """lower(
    printf('%012x', CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))
    || '7' || substr(hex(randomblob(2)), 2, 3)
    || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2, 3)
    || hex(randomblob(6)))"""
UUID7_FORMATTED = ("substr(u, 1, 8) || '-' || substr(u, 9, 4) || '-' || substr(u, 13, 4) || '-' "
                   "|| substr(u, 17, 4) || '-' || substr(u, 21, 12)")
NOW_S = "((julianday('now') - 2440587.5) * 86400.0)"


class Codec(enum.Enum):
    """How a carried column's value changes between the row and the message."""

    PLAIN = "plain"  # the same value in both
    TEXT = "text"  # NULL in the row is "" in the message
    TIME = "time"  # ISO 8601 text in the row (naive = FLEET_TIMEZONE), an aware datetime in the message
    JSON = "json"  # a JSON object as text in the row, a mapping in the message
    JPEG = "jpeg"  # a file path in the row, the file's bytes in the message


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its SQL declaration and, when it carries part of the message, how.

    ``wire`` is the ``fleet_protocol`` message field it is sent as (None: it
    stays on the edge); ``source`` the attribute of the stored object it is
    filled from; ``picture`` names a JPEG column's picture (``scene``,
    ``plate``: its file name and its URL on the control API).
    """

    name: str
    decl: str
    wire: str | None = None
    codec: Codec = Codec.PLAIN
    source: str | None = None
    picture: str = ""


def carried(name: str, decl: str, codec: Codec = Codec.PLAIN, *, wire: str = "", source: str = "",
            picture: str = "") -> Column:
    """A column sent in the message; its wire field and source attribute default to its own name."""
    return Column(name, decl, wire or name, codec, source or name, picture)


def delivery_in(states: Iterable[Delivery]) -> str:
    """A SQL condition on the lifecycle column, e.g. ``delivery IN ('pending', 'in_flight')``."""
    return f"delivery IN ({', '.join(repr(s.value) for s in states)})"


def set_delivery(state: Delivery) -> str:
    """A SQL ``SET`` fragment moving a row to ``state`` with ``sent_to_server`` kept in step."""
    return f"delivery = '{state.value}', sent_to_server = {state.sent_to_server}"


_COMMON = (
    Column("event_id", "TEXT"),
    Column("sent_to_server", "INTEGER NOT NULL DEFAULT 0"),
    Column("delivery", f"TEXT NOT NULL DEFAULT '{Delivery.PENDING.value}' CHECK ({delivery_in(Delivery)})"),
    Column("attempts", "INTEGER NOT NULL DEFAULT 0"),
    Column("next_attempt_at", "REAL NOT NULL DEFAULT 0"),
    Column("last_error", "TEXT"),
    Column("server_record_id", "INTEGER"),
    Column("created_at", f"REAL NOT NULL DEFAULT {NOW_S}"),
    Column("sent_at", "REAL"),
)

DETECTION_COLUMNS = (
    # The plate read: PlateEvent attribute -> column -> fleet_protocol.Detection field.
    carried("license_plate", "TEXT NOT NULL"),
    carried("confidence", "REAL NOT NULL"),
    carried("timestamp", "TEXT NOT NULL", Codec.TIME),
    carried("image_path", "TEXT", Codec.JPEG, wire="image", source="scene_jpeg", picture="scene"),
    carried("plate_image_path", "TEXT", Codec.JPEG, wire="plate_image", source="plate_jpeg", picture="plate"),
    carried("plate_raw", "TEXT NOT NULL DEFAULT ''", Codec.TEXT),
    carried("province", "TEXT NOT NULL DEFAULT ''", Codec.TEXT),
    carried("province_confidence", "REAL"),
    carried("vehicle_type", "TEXT NOT NULL DEFAULT ''", Codec.TEXT),
    carried("vehicle_color", "TEXT NOT NULL DEFAULT ''", Codec.TEXT),
    carried("exposure_time", "REAL"),
    carried("analog_gain", "REAL"),
    carried("lux", "REAL"),
    carried("extra", "TEXT NOT NULL DEFAULT '{}'", Codec.JSON, source="wire_extra"),  # e.g. {"gate": {...}}
    # The outbox's own bookkeeping.
    Column("prepared", "INTEGER NOT NULL DEFAULT 0"),
    Column("image_bytes", "INTEGER NOT NULL DEFAULT 0"),
    Column("images_pruned", "INTEGER NOT NULL DEFAULT 0"),
    *_COMMON,
)

HEALTH_COLUMNS = (
    carried("timestamp", "TEXT NOT NULL", Codec.TIME),
    carried("component", "TEXT NOT NULL"),
    carried("status", "TEXT NOT NULL"),
    carried("message", "TEXT NOT NULL DEFAULT ''", Codec.TEXT),
    carried("system_info", "TEXT NOT NULL DEFAULT '{}'", Codec.JSON),
    *_COMMON,
)

TABLES: dict[Kind, tuple[Column, ...]] = {Kind.DETECTION: DETECTION_COLUMNS, Kind.HEALTH: HEALTH_COLUMNS}


PICTURE_COLUMNS = tuple(c for c in DETECTION_COLUMNS if c.codec is Codec.JPEG)
"""The detection columns holding a JPEG file's path (scene, plate crop)."""


# ---------------------------------------------------------------------- SQL generated from the map


def wire_columns(columns: Iterable[Column]) -> tuple[Column, ...]:
    """The columns that travel in the message, in map order."""
    return tuple(c for c in columns if c.wire)


def insert_sql(table: str, names: Sequence[str]) -> str:
    """``INSERT INTO table (names) VALUES (:names)``: rows are passed as mappings, never by position."""
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"


def returning_list(columns: Iterable[Column]) -> str:
    """What a claim reads back: the row's identity, its attempts and every carried column."""
    return ", ".join(["id", "event_id", "attempts", *(c.name for c in wire_columns(columns))])


# ---------------------------------------------------------------------- creating and upgrading


def _create_table(table: str, columns: Sequence[Column]) -> str:
    body = ",\n  ".join(f"{c.name} {c.decl}" for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  {body}\n)"


def _trigger(table: str) -> str:
    return (f"CREATE TRIGGER IF NOT EXISTS {table}_event_id AFTER INSERT ON {table} "
            f"WHEN NEW.event_id IS NULL OR NEW.created_at IS NULL BEGIN "
            f"UPDATE {table} SET event_id = coalesce(event_id, "
            f"(SELECT {UUID7_FORMATTED} FROM (SELECT {UUID7_SQL} AS u))), "
            f"created_at = coalesce(created_at, {NOW_S}) WHERE id = NEW.id; END")


def migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade both tables, their indexes and triggers (idempotent, one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, columns in TABLES.items():
            table = kind.value
            conn.execute(_create_table(table, columns))
            add_missing_columns(conn, table, columns)
            conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_event_id_uq ON {table}(event_id)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_delivery ON {table}(delivery, id)")
            conn.execute(_trigger(table))
            _backfill(conn, table)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def add_missing_columns(conn: sqlite3.Connection, table: str, columns: Sequence[Column]) -> None:
    """Add every column of ``columns`` that ``table`` lacks (a constant default where one is needed)."""
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for column in columns:
        if column.name in present:
            continue
        decl = column.decl
        if column.name == "created_at":  # ADD COLUMN needs a constant default; the trigger fills it
            decl = "REAL"
        elif "NOT NULL" in decl and "DEFAULT" not in decl:
            decl = decl.replace("NOT NULL", "NOT NULL DEFAULT ''")
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} {decl}")


def _backfill(conn: sqlite3.Connection, table: str) -> None:
    """Rows from before the upgrade: ids for those without one, lifecycle from sent_to_server."""
    missing = [row[0] for row in conn.execute(f"SELECT id FROM {table} WHERE event_id IS NULL ORDER BY id")]
    conn.executemany(f"UPDATE {table} SET event_id = ? WHERE id = ?", [(uuid7(), i) for i in missing])
    conn.execute(f"UPDATE {table} SET created_at = {NOW_S} WHERE created_at IS NULL")
    conn.execute(f"UPDATE {table} SET delivery = '{Delivery.DELIVERED.value}' "
                 f"WHERE sent_to_server = {Delivery.DELIVERED.sent_to_server} "
                 f"AND delivery = '{Delivery.PENDING.value}'")
