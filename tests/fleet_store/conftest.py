"""Fixtures for fleet_store tests: migrated engines on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from fleet_store import db


@pytest.fixture
def engine(db_url):
    """A migrated engine on SQLite and on PostgreSQL."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    """A migrated SQLite engine."""
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()
