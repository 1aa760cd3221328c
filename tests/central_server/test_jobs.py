"""Retention and offline jobs: as plain functions (SQLite and PostgreSQL) and through the scheduler."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from central_server import jobs
from central_server.config import IngestSettings
from fleet_store import db
from fleet_store.live import NoLiveEvents, RedisLiveEvents
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections
from tests.dashboard.support import add_checkpoint, add_detection, add_health


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def _image(root, relative: str) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8jpeg\xff\xd9")
    return relative


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_retention_deletes_old_rows_and_their_files_only(engine, tmp_path):
    """Rows and image files older than the retention period go; newer ones and their files stay."""
    images = tmp_path / "images"
    old = datetime.now(UTC) - timedelta(days=31)
    for i in range(25):
        add_detection(engine, f"OLD{i}", when=old, image_path=_image(images, f"2026/10/01/cp1/old{i}.jpg"))
    keep = add_detection(engine, "NEW1", image_path=_image(images, "2026/11/24/cp1/new.jpg"))
    add_detection(engine, "OLDNOFILE", when=old, image_path="2026/10/01/cp1/missing.jpg")
    add_health(engine, when=old)
    add_health(engine)
    result = jobs.run_retention(engine, images, retention_days=30)
    assert result == jobs.RetentionResult(detections=26, health=1, files=25)
    with engine.connect() as conn:
        assert conn.execute(select(lpr_detections.c.id)).scalars().all() == [keep]
    assert _count(engine, health_monitors) == 1
    assert (images / "2026/11/24/cp1/new.jpg").exists()
    assert not list((images / "2026/10/01/cp1").iterdir())


def test_retention_works_in_batches(sqlite_url, tmp_path):
    """A batch size smaller than the backlog still removes everything, one short transaction at a time."""
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    old = datetime.now(UTC) - timedelta(days=40)
    for i in range(7):
        add_detection(engine, f"B{i}", when=old)
    assert jobs.delete_old_detections(engine, tmp_path, datetime.now(UTC) - timedelta(days=30), batch=3) == (7, 0)
    assert _count(engine, lpr_detections) == 0


def test_retention_never_deletes_outside_the_image_dir(sqlite_url, tmp_path):
    """A stored path that climbs out of IMAGE_DIR is left alone (the row still goes)."""
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    add_detection(engine, "EVIL", when=datetime.now(UTC) - timedelta(days=90), image_path="../precious.txt")
    (tmp_path / "images").mkdir()
    result = jobs.run_retention(engine, tmp_path / "images", retention_days=30)
    assert result.detections == 1 and result.files == 0
    assert outside.read_text() == "keep me"


def test_mark_offline_uses_each_checkpoints_heartbeat(engine):
    """Silent online checkpoints go offline with a connection event; recent and never-seen ones do not."""
    now = datetime.now(UTC)
    add_checkpoint(engine, "silent")
    add_checkpoint(engine, "recent")
    add_checkpoint(engine, "patient", heartbeat_seconds=3600)
    add_checkpoint(engine, "new", status="never")
    with engine.begin() as conn:
        conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id.in_(["silent", "patient", "new"]))
                     .values(last_seen_at=now - timedelta(minutes=10)))
    changes = jobs.mark_offline(engine, default_heartbeat=120, now=now)
    assert [c.checkpoint_id for c in changes] == ["silent"]
    with engine.connect() as conn:
        states = dict(conn.execute(select(checkpoints.c.checkpoint_id, checkpoints.c.status)).all())
        events = conn.execute(select(connection_events.c.checkpoint_id, connection_events.c.event)).all()
    assert states == {"silent": "offline", "recent": "online", "patient": "online", "new": "never"}
    assert [tuple(e) for e in events] == [("silent", "offline")]
    assert jobs.mark_offline(engine, default_heartbeat=120, now=now) == []  # a transition is reported once
    payload = changes[0].status_change().live_event().payload
    # connected as the row says: a link can be open and silent
    assert payload["event"] == "offline" and payload["status"] == "offline" and payload["connected"] is True


async def test_scheduler_runs_both_jobs_off_the_event_loop(sqlite_url, tmp_path):
    """start_scheduler runs retention and offline detection at once and on its interval, then shuts down."""
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    add_detection(engine, "OLD", when=datetime.now(UTC) - timedelta(days=60))
    add_checkpoint(engine, "gone")
    with engine.begin() as conn:
        conn.execute(update(checkpoints).values(last_seen_at=datetime.now(UTC) - timedelta(hours=1)))
    settings = IngestSettings(central_db_url=sqlite_url, image_dir=tmp_path / "images")
    scheduler = jobs.start_scheduler(settings, engine, NoLiveEvents(), offline_interval=0.2)
    try:
        for _ in range(50):
            await asyncio.sleep(0.1)
            if _count(engine, lpr_detections) == 0 and _status(engine, "gone") == "offline":
                break
        assert _count(engine, lpr_detections) == 0
        assert _status(engine, "gone") == "offline"
        assert {job.id for job in scheduler.get_jobs()} == {"offline", "retention", "alert_conditions"}
    finally:
        scheduler.shutdown(wait=False)
    assert not scheduler.running


def _status(engine, checkpoint_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(checkpoints.c.status)
                            .where(checkpoints.c.checkpoint_id == checkpoint_id)).scalar_one()


@pytest.mark.redis
async def test_scheduler_announces_offline_on_redis(sqlite_url, tmp_path, redis_url):
    """With Redis, an offline change is published on Flask-SocketIO's channel for every dashboard."""
    import redis

    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    add_checkpoint(engine, "quiet")
    with engine.begin() as conn:
        conn.execute(update(checkpoints).values(last_seen_at=datetime.now(UTC) - timedelta(hours=1), connected=False))
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe("flask-socketio")
    live_events = RedisLiveEvents(redis_url)
    settings = IngestSettings(central_db_url=sqlite_url, image_dir=tmp_path / "images")
    scheduler = jobs.start_scheduler(settings, engine, live_events, offline_interval=60)
    try:
        message = await asyncio.to_thread(_next_emit, pubsub)
    finally:
        scheduler.shutdown(wait=False)
        pubsub.close()
        client.close()
    assert message["event"] == "checkpoint_status"
    assert message["data"] == [dict(checkpoint_id="quiet", connected=False, event="offline", status="offline",
                                    at=message["data"][0]["at"])]


def _next_emit(pubsub, timeout: float = 10.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        item = pubsub.get_message(timeout=0.5)
        if item and item["type"] == "message":
            return json.loads(item["data"])
    raise TimeoutError("nothing published on flask-socketio")


def test_images_can_be_kept_shorter_than_rows(engine, tmp_path):
    """Past IMAGE_RETENTION_DAYS the scene and crop files go and the row loses its paths; the read stays."""
    images = tmp_path / "images"
    old = datetime.now(UTC) - timedelta(days=10)
    kept_row = add_detection(engine, "OLDIMG", when=old, image_path=_image(images, "2026/11/01/cp1/a.jpg"),
                             plate_image_path=_image(images, "2026/11/01/cp1/a-plate.jpg"))
    fresh = add_detection(engine, "FRESH", image_path=_image(images, "2026/11/30/cp1/b.jpg"))
    policy = jobs.RetentionPolicy(detections_days=30, images_days=7)
    result = jobs.run_retention(engine, images, policy)
    assert (result.detections, result.images, result.files) == (0, 1, 2)
    with engine.connect() as conn:
        rows = {r.id: (r.image_path, r.plate_image_path) for r in conn.execute(select(lpr_detections))}
    assert rows == {kept_row: (None, None), fresh: ("2026/11/30/cp1/b.jpg", None)}
    assert not (images / "2026/11/01/cp1").exists() or not list((images / "2026/11/01/cp1").iterdir())


def test_retention_removes_plate_crops_and_prunes_connection_events(engine, tmp_path):
    """A deleted detection's crop goes with its scene; old connection events and health rows follow their own days."""
    from tests.dashboard.support import add_connection_event

    images = tmp_path / "images"
    old = datetime.now(UTC) - timedelta(days=40)
    add_detection(engine, "OLD", when=old, image_path=_image(images, "x/a.jpg"),
                  plate_image_path=_image(images, "x/a-plate.jpg"))
    add_checkpoint(engine, "cp1")
    add_connection_event(engine, "cp1", "connected", when=datetime.now(UTC) - timedelta(days=3))
    add_connection_event(engine, "cp1", "connected")
    add_health(engine, when=datetime.now(UTC) - timedelta(days=3))
    policy = jobs.RetentionPolicy(30, health_days=2, connection_events_days=2)
    result = jobs.run_retention(engine, images, policy)
    assert (result.detections, result.files, result.health, result.connection_events) == (1, 2, 1, 1)
    assert not list((images / "x").iterdir())
    assert _count(engine, connection_events) == 1


def test_policy_follows_the_settings(tmp_path):
    """IMAGE_RETENTION_DAYS and friends default to RETENTION_DAYS."""
    settings = IngestSettings(retention_days=60, image_retention_days=14, central_db_url="sqlite://")
    policy = jobs.RetentionPolicy.from_settings(settings)
    now = datetime.now(UTC)
    cut = policy.cutoffs(now)
    assert (now - cut["images"]).days == 14 and (now - cut["health"]).days == 60
