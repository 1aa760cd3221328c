"""Live events without Redis: the database tail emits what the ingest stored, in the ingest's shapes."""

from __future__ import annotations

from sqlalchemy import update

from dashboard.extensions import socketio
from dashboard.realtime import DatabaseTail
from fleet_store.schema import checkpoints
from tests.dashboard.support import add_checkpoint, add_connection_event, add_detection, add_health

DETECTION_KEYS = {"id", "checkpoint_id", "event_id", "license_plate", "province", "confidence", "timestamp",
                  "received_at", "hostname", "vehicle_type", "latitude", "longitude", "has_image", "has_plate_image"}
HEALTH_KEYS = {"id", "checkpoint_id", "event_id", "component", "status", "message", "metrics", "timestamp",
               "received_at", "hostname"}


def test_tail_emits_only_new_rows_once(sqlite_engine):
    """Rows present at start are skipped; each new row is emitted exactly once, in id order."""
    add_detection(sqlite_engine, "BEFORE")
    sent = []
    tail = DatabaseTail(sqlite_engine, lambda event: sent.append((event.name, event.payload)))
    first = add_detection(sqlite_engine, "AFTER1")
    add_detection(sqlite_engine, "AFTER2")
    add_health(sqlite_engine, cpu_usage="5%")
    assert tail.poll_once() == 3
    assert tail.poll_once() == 0
    assert [(e, p.get("license_plate")) for e, p in sent] == [
        ("detection", "AFTER1"), ("detection", "AFTER2"), ("health", None)]
    assert set(sent[0][1]) == DETECTION_KEYS and sent[0][1]["id"] == first
    assert set(sent[2][1]) == HEALTH_KEYS and sent[2][1]["metrics"] == {"cpu_percent": 5.0}


def test_tail_announces_status_changes_with_the_checkpoints_state(sqlite_engine):
    """A connection event becomes checkpoint_status with the checkpoint's current connected/status."""
    add_checkpoint(sqlite_engine, "cp1")
    sent = []
    tail = DatabaseTail(sqlite_engine, lambda event: sent.append((event.name, event.payload)))
    with sqlite_engine.begin() as conn:
        conn.execute(update(checkpoints).values(status="offline", connected=False))
    add_connection_event(sqlite_engine, "cp1", "offline")
    tail.poll_once()
    assert sent[0][0] == "checkpoint_status"
    assert {k: v for k, v in sent[0][1].items() if k != "at"} == {
        "checkpoint_id": "cp1", "connected": False, "event": "offline", "status": "offline"}


def test_tail_reaches_logged_in_socketio_clients(app, admin, sqlite_engine):
    """What the tail emits arrives at a logged-in Socket.IO client."""
    client = socketio.test_client(app, flask_test_client=admin)
    tail = DatabaseTail(sqlite_engine, lambda event: socketio.emit(event.name, event.payload, namespace="/"))
    add_detection(sqlite_engine, "SEEN1")
    tail.poll_once()
    received = client.get_received()
    assert [(r["name"], r["args"][0]["license_plate"]) for r in received] == [("detection", "SEEN1")]
    client.disconnect()


async def test_tail_on_postgresql_wakes_at_the_ingest_commit_not_its_timer(pg_url, tmp_path):
    """On PostgreSQL the ingest's commit NOTIFYs the tail: with a 30 s poll interval a detection arrives at once."""
    import asyncio
    import json
    import threading
    import time

    from websockets.asyncio.client import connect

    from fleet_store import db
    from tests.support.images import scene_jpeg
    from tests.support.ingest import ingest_settings, running_ingest
    from tests.support.messages import detection, dumps

    async with running_ingest(ingest_settings(pg_url, tmp_path)) as server:
        token = server.add_checkpoint("1")
        engine = db.make_engine(pg_url)
        arrived = threading.Event()
        tail = DatabaseTail(engine, lambda event: event.name == "detection" and arrived.set(), interval=30)
        thread = threading.Thread(target=tail.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not (tail.listener and tail.listener.conn) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # LISTEN is in place once the connection exists
        async with connect(server.url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.send(dumps(detection(scene_jpeg(), "1")))
            assert json.loads(await ws.recv())["status"] == "success"
        try:
            assert await asyncio.to_thread(arrived.wait, 10)  # the timer alone would take 30 s
        finally:
            tail.stop()
            await asyncio.to_thread(thread.join, 10)
            engine.dispose()
    assert not thread.is_alive()  # stop() woke the listener
