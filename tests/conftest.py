"""Fixtures shared by every part of the suite: real PostgreSQL/Redis, temp SQLite URLs."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLAlchemy URL for a fresh SQLite file in the test's temp dir."""
    return f"sqlite:///{tmp_path / 'central.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards) on the local server."""
    if not _port_open("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (start it: "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)")
    from tests.support.databases import throwaway_postgres

    with throwaway_postgres(PG_ADMIN_URL) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def redis_url() -> str:
    """The local Redis (tests skip with a message when it is not running)."""
    if not _port_open("127.0.0.1", 6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379 (start it: redis-server --daemonize yes)")
    return REDIS_URL
