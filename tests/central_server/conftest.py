"""Fixtures for central-server tests: a real ingest on 127.0.0.1 with a registered checkpoint."""

from __future__ import annotations

import pytest

from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_settings, running_ingest


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    """A real 640x480 JPEG."""
    return scene_jpeg()


@pytest.fixture
async def ingest(db_url, tmp_path):
    """A running in-process ingest (SQLite and PostgreSQL) with checkpoint '1' registered."""
    async with running_ingest(ingest_settings(db_url, tmp_path)) as server:
        server.token = server.add_checkpoint("1")
        yield server
