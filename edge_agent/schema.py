"""The outbox's SQLite schema: tables the old app's users know, plus the lifecycle columns.

``detection_results`` and ``health_checks`` keep their names and
``sent_to_server`` (0 = not yet delivered). An outside program may insert a
detection giving only ``license_plate``, ``confidence``, ``timestamp`` and
``image_path``; every other column has a default and the
``*_event_id`` triggers give the row a UUIDv7 ``event_id`` inside the same
transaction, so the id is on disk before the first send.

An existing database from the old scripts is upgraded in place: missing
columns are added (``ALTER TABLE ... ADD COLUMN``), rows it already marked
``sent_to_server = 1`` become ``delivered``.
"""

from __future__ import annotations

import sqlite3

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

LIFECYCLE = ("pending", "in_flight", "delivered", "rejected")

_COMMON = [
    ("event_id", "TEXT"),
    ("sent_to_server", "INTEGER NOT NULL DEFAULT 0"),
    ("delivery", "TEXT NOT NULL DEFAULT 'pending' CHECK (delivery IN "
                 "('pending', 'in_flight', 'delivered', 'rejected'))"),
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("next_attempt_at", "REAL NOT NULL DEFAULT 0"),
    ("last_error", "TEXT"),
    ("server_record_id", "INTEGER"),
    ("created_at", f"REAL NOT NULL DEFAULT {NOW_S}"),
    ("sent_at", "REAL"),
]

DETECTION_COLUMNS = [
    ("license_plate", "TEXT NOT NULL"),
    ("confidence", "REAL NOT NULL"),
    ("timestamp", "TEXT NOT NULL"),
    ("image_path", "TEXT"),
    ("plate_image_path", "TEXT"),
    ("plate_raw", "TEXT NOT NULL DEFAULT ''"),
    ("province", "TEXT NOT NULL DEFAULT ''"),
    ("vehicle_type", "TEXT NOT NULL DEFAULT ''"),
    ("vehicle_color", "TEXT NOT NULL DEFAULT ''"),
    ("exposure_time", "REAL"),
    ("analog_gain", "REAL"),
    ("lux", "REAL"),
    ("prepared", "INTEGER NOT NULL DEFAULT 0"),
    ("image_bytes", "INTEGER NOT NULL DEFAULT 0"),
    ("images_pruned", "INTEGER NOT NULL DEFAULT 0"),
    *_COMMON,
]

HEALTH_COLUMNS = [
    ("timestamp", "TEXT NOT NULL"),
    ("component", "TEXT NOT NULL"),
    ("status", "TEXT NOT NULL"),
    ("message", "TEXT NOT NULL DEFAULT ''"),
    ("system_info", "TEXT NOT NULL DEFAULT '{}'"),
    *_COMMON,
]

TABLES = {"detection_results": DETECTION_COLUMNS, "health_checks": HEALTH_COLUMNS}


def _create_table(table: str, columns: list[tuple[str, str]]) -> str:
    body = ",\n  ".join(f"{name} {decl}" for name, decl in columns)
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
        for table, columns in TABLES.items():
            conn.execute(_create_table(table, columns))
            _add_missing_columns(conn, table, columns)
            conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_event_id_uq ON {table}(event_id)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_delivery ON {table}(delivery, id)")
            conn.execute(_trigger(table))
            _backfill(conn, table)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _add_missing_columns(conn: sqlite3.Connection, table: str, columns: list[tuple[str, str]]) -> None:
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, decl in columns:
        if name not in present:
            if name == "created_at":  # ADD COLUMN needs a constant default; the trigger fills it
                decl = "REAL"
            elif "DEFAULT" not in decl:
                decl = decl.replace("NOT NULL", "NOT NULL DEFAULT ''")
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def _backfill(conn: sqlite3.Connection, table: str) -> None:
    """Rows from before the upgrade: ids for those without one, lifecycle from sent_to_server."""
    missing = [row[0] for row in conn.execute(f"SELECT id FROM {table} WHERE event_id IS NULL ORDER BY id")]
    conn.executemany(f"UPDATE {table} SET event_id = ? WHERE id = ?", [(uuid7(), i) for i in missing])
    conn.execute(f"UPDATE {table} SET created_at = {NOW_S} WHERE created_at IS NULL")
    conn.execute(f"UPDATE {table} SET delivery = 'delivered' "
                 "WHERE sent_to_server = 1 AND delivery = 'pending'")
