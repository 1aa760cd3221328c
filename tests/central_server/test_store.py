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
    """When the database refuses, each future gets StorageUnavailable; images no row names are removed
    once the database can say so (the next successful batch)."""
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
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE moved RENAME TO lpr_detections"))
    result = await writer.submit(make_detection(2, jpeg))
    assert result.record_id > 0 and writer.healthy
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT image_path FROM lpr_detections WHERE id = :id"),
                              {"id": result.record_id}).scalar_one()
    assert [p.relative_to(images).as_posix() for p in images.rglob("*.jpg")] == [stored]
    writer.stop()
    engine.dispose()


def test_sqlite_fast_insert_stores_what_sqlalchemy_stores(sqlite_url, tmp_path):
    """The SQLite insert path (driver executemany, columns' own bind processors) stores byte for byte
    what SQLAlchemy's insert does, and returns the new ids in row order."""
    from sqlalchemy import insert

    from central_server.images import StoredImage
    from central_server.store import _insert_sqlite, detection_row
    from fleet_store.schema import lpr_detections

    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    received = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    variants = [make_detection(1, None, event_id="0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
                Detection(checkpoint_id="2", license_plate="1กข 1234", confidence=88.5, latitude=13.75, longitude=100.5,
                          timestamp=datetime(2026, 1, 1, 12, tzinfo=UTC), province="เชียงใหม่", province_confidence=97.0,
                          extra={"lane": "2", "nested": {"a": [1, None]}})]
    image = StoredImage("2026/01/02/1/x.jpg", "ab" * 32, 45000)
    rows = [detection_row(d, received, image if i else None) for i, d in enumerate(variants)]
    with engine.begin() as conn:
        reference = [conn.execute(insert(lpr_detections).values(row)).inserted_primary_key[0] for row in rows]
        again = [row | {"event_id": row["event_id"] and row["event_id"][:-1] + "c"} for row in rows]  # unique key
        ids = _insert_sqlite(conn, lpr_detections, again)
        assert ids == [reference[-1] + 1, reference[-1] + 2]
        stored = {r["id"]: {k: v for k, v in r.items() if k not in ("id", "event_id")}
                  for r in conn.exec_driver_sql("SELECT * FROM lpr_detections").mappings()}
    for ref, new in zip(reference, ids, strict=True):
        assert stored[ref] == stored[new]
    assert stored[ids[1]]["extra"] == '{"lane": "2", "nested": {"a": [1, null]}}'
    assert stored[ids[0]]["extra"] == "null" and stored[ids[0]]["received_at"] == "2026-01-02 03:04:05.678901"
    engine.dispose()


def test_sqlite_fast_insert_splits_past_the_parameter_limit(sqlite_url):
    """A batch with more parameters than one SQLite statement takes is split; ids still come in row order."""
    from central_server.store import _insert_sqlite, detection_row
    from fleet_store.schema import lpr_detections

    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    received = datetime(2026, 1, 2, tzinfo=UTC)
    rows = [detection_row(make_detection(i, None), received, None) for i in range(1300)]  # 1300 x 26 > 32,700
    with engine.begin() as conn:
        ids = _insert_sqlite(conn, lpr_detections, rows)
        plates = dict(conn.exec_driver_sql("SELECT id, license_plate FROM lpr_detections").all())
    assert ids == sorted(ids) and len(set(ids)) == 1300
    assert [plates[i] for i in ids] == [f"P{i}" for i in range(1300)]
    engine.dispose()


@pytest.mark.parametrize("table", ["lpr_detections", "health_monitors"])
def test_sqlite_duplicate_lookup_probes_the_unique_index(sqlite_url, table):
    """The exactly-once lookup searches the (checkpoint_id, event_id) index instead of scanning it:
    SQLite scans for a row-value IN list, and that grew with every stored row."""
    from central_server.store import existing_keys_sql

    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    with engine.connect() as conn:
        plan = " | ".join(row[3] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + existing_keys_sql(table, 3), ("1", "a", "1", "b", "2", "a")))
    assert "SEARCH t USING COVERING INDEX" in plan and "(checkpoint_id=? AND event_id=?)" in plan, plan
    assert "SCAN t" not in plan, plan
    engine.dispose()


async def test_repeats_in_and_across_batches_get_the_first_rows_id(writer, jpeg):
    """A repeated event id is answered with the first row's id, whether the first is stored or in the same batch."""
    event_ids = [f"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a{i:02x}" for i in range(3)]
    first = await asyncio.gather(*(writer.submit(make_detection(i, jpeg, e)) for i, e in enumerate(event_ids)))
    again = await asyncio.gather(*(writer.submit(make_detection(9, jpeg, e)) for e in event_ids * 2))
    assert [r.record_id for r in again] == [r.record_id for r in first] * 2
    assert all(r.duplicate for r in again) and not any(r.duplicate for r in first)
