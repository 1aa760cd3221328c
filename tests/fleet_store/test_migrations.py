"""The Alembic revisions on SQLite and PostgreSQL: they match schema.py, undo, redo, and move data."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Column, DateTime, Float, Integer, MetaData, String, Table, insert, inspect, select

from fleet_store import db
from fleet_store.schema import lpr_detections, metadata

FTS_TABLES = {"lpr_detections_plate_fts", "lpr_detections_plate_fts_data", "lpr_detections_plate_fts_idx",
              "lpr_detections_plate_fts_docsize", "lpr_detections_plate_fts_config"}


# lpr_detections as revision 0002 left it (the columns a row needs, and extra)
lpr_0002 = Table("lpr_detections", MetaData(), Column("id", Integer, primary_key=True),
                 Column("checkpoint_id", String(64)), Column("license_plate", String(32)), Column("confidence", Float),
                 Column("timestamp", DateTime), Column("received_at", DateTime), Column("extra", JSON))


def _diffs(engine) -> list:
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), metadata)
    ignored = []
    for diff in found:  # the dialect-specific search indexes live only in the migration, on purpose
        kind, obj = diff[0], diff[1] if len(diff) > 1 else None
        name = getattr(obj, "name", "")
        if kind in ("remove_table", "remove_index") and (name in FTS_TABLES or name == "ix_lpr_detections_plate_trgm"):
            ignored.append(diff)
    return [d for d in found if d not in ignored]


def test_schema_matches_the_migrations(engine):
    """After upgrading, the database has exactly the tables and indexes schema.py declares."""
    assert _diffs(engine) == []
    names = set(inspect(engine).get_table_names())
    assert {"users", "watchlist"} <= names


def test_downgrade_and_upgrade_again(engine):
    """0002 can be undone and redone without leaving anything behind."""
    config = db._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert not {"users", "watchlist", "lpr_detections_plate_fts"} & set(inspect(engine).get_table_names())
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_province_and_raw_read_move_out_of_extra(db_url):
    """0003 moves a province and raw read that senders put in extra into their columns; the rest stays."""
    engine = db.make_engine(db_url)
    config = db._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    stamp = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [{"extra": {"province": "ขอนแก่น", "plate_raw": "กข 12", "lane": "2"}}, {"extra": {"province": "ภูเก็ต"}},
            {"extra": {"lane": "3"}}, {"extra": None}]
    with engine.begin() as conn:
        for n, row in enumerate(rows):
            conn.execute(insert(lpr_0002).values(checkpoint_id="cp", license_plate=f"P{n}", confidence=90,
                                                 timestamp=stamp, received_at=stamp, **row))
    db.upgrade(engine)
    with engine.connect() as conn:
        found = conn.execute(select(lpr_detections.c.province, lpr_detections.c.plate_raw, lpr_detections.c.extra)
                             .order_by(lpr_detections.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in found] == [("ขอนแก่น", "กข 12", {"lane": "2"}), ("ภูเก็ต", "", None),
                                         ("", "", {"lane": "3"}), ("", "", None)]
