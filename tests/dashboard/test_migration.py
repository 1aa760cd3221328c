"""Revision 0002 (users, watchlist, search and health indexes) on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from fleet_store import db
from fleet_store.schema import metadata

FTS_TABLES = {"lpr_detections_plate_fts", "lpr_detections_plate_fts_data", "lpr_detections_plate_fts_idx",
              "lpr_detections_plate_fts_docsize", "lpr_detections_plate_fts_config"}


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
