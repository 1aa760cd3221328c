"""The group-commit writer on its own: batching, durability order, failure and recovery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from central_server.errors import StorageUnavailable
from central_server.images import ImageStore
from central_server.store import GroupCommitWriter
from fleet_protocol import Detection
from fleet_store import db


def make_detection(i: int, jpeg: bytes | None, event_id: str | None = None) -> Detection:
    return Detection(checkpoint_id="1", license_plate=f"P{i}", confidence=90.0,
                     timestamp=datetime(2026, 1, 1, tzinfo=UTC), image=jpeg, event_id=event_id)


@pytest.fixture
def writer(db_url, tmp_path):
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    w = GroupCommitWriter(engine, ImageStore(tmp_path / "img"))
    w.start()
    yield w
    w.stop()
    engine.dispose()


async def test_queued_messages_share_commits(writer, jpeg):
    """500 messages submitted at once are committed in far fewer transactions."""
    futures = [writer.submit(make_detection(i, jpeg)) for i in range(500)]
    results = await asyncio.gather(*futures)
    assert len({r.record_id for r in results}) == 500
    assert writer.stats["rows"] == 500 and writer.stats["batches"] < 100


async def test_failed_commit_fails_every_message_and_leaves_no_files(sqlite_url, tmp_path, jpeg):
    """When the database refuses, each future gets StorageUnavailable and written images are removed."""
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    images = tmp_path / "img"
    writer = GroupCommitWriter(engine, ImageStore(images))
    writer.start()
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE lpr_detections RENAME TO moved"))
    with pytest.raises(StorageUnavailable):
        await writer.submit(make_detection(1, jpeg))
    assert not writer.healthy and "lpr_detections" in writer.last_error
    assert list(images.rglob("*.jpg")) == []
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE moved RENAME TO lpr_detections"))
    result = await writer.submit(make_detection(2, jpeg))
    assert result.record_id > 0 and writer.healthy
    writer.stop()
    engine.dispose()
