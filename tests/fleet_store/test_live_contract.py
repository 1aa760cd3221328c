"""The live-feed contract: browsers cannot tell whether an event came through Redis or from a dashboard
following the database.

One real ingest (publishing on Redis) stores a detection with its province and
plate crop, a health report, a repeat of the detection, a connect, a
disconnect, an offline change and a return online; the detection is on the
watchlist, so an alert opens with it. Two listeners take the
whole run in: a subscriber on Flask-SocketIO's Redis channel (what every
dashboard relays on the Redis path) and a ``DatabaseTail`` on the same
database (the path without Redis). The huey storage tests are the model: the
same behaviour is asserted of both paths, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import redis
from websockets.asyncio.client import connect

from central_server import jobs
from dashboard.realtime import DatabaseTail
from fleet_protocol import image_data_url
from fleet_store.lists import EntryFields, ListKind, add_entry
from fleet_store.live import RedisLiveEvents
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_settings, running_ingest
from tests.support.messages import detection, dumps, health

pytestmark = pytest.mark.slow


class RedisListener:
    """What a dashboard on the Redis path relays: every event on the ``flask-socketio`` channel."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe("flask-socketio")
        self.pubsub.get_message(timeout=1)  # the subscribe confirmation
        self.events: list[tuple[str, dict]] = []

    def drain(self) -> None:
        while (item := self.pubsub.get_message(timeout=0.2)) is not None:
            if item["type"] == "message":
                message = json.loads(item["data"])
                self.events.append((message["event"], message["data"][0]))

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


class TailListener:
    """What a dashboard without Redis emits: a DatabaseTail following the same database."""

    def __init__(self, engine):
        self.events: list[tuple[str, dict]] = []
        self.tail = DatabaseTail(engine, lambda e: self.events.append((e.name, e.payload)), interval=0.05)
        self.thread = threading.Thread(target=self.tail.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.tail.stop()
        self.thread.join(5)
        while self.tail.poll_once():
            pass


async def _exchange(ws, message) -> dict:
    await ws.send(dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def _until(condition, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.1)


def _status_events(listener: RedisListener) -> list[tuple[str, str]]:
    listener.drain()
    events = sorted((p["at"], p["event"], p["status"]) for name, p in listener.events if name == "checkpoint_status")
    return [(event, status) for _, event, status in events]


async def _run_scenario(server, token: str, listener: RedisListener, redis_url: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    jpeg = scene_jpeg(seed=3)
    first = detection(jpeg, checkpoint_id="gate-1", license_plate="1กข1234", province="กรุงเทพมหานคร",
                      province_confidence=96.0, plate_raw="1กข 1234", plate_image=image_data_url(scene_jpeg(160, 72)))
    async with connect(server.url, additional_headers=headers) as ws:
        assert (await _exchange(ws, first))["status"] == "success"
        assert (await _exchange(ws, first)).get("duplicate") is True  # a repeat is never announced
        report = health("gate-1", component="system", system_info={"cpu_percent": 12.5, "memory_usage": "45%"})
        assert (await _exchange(ws, report))["status"] == "success"
    await _until(lambda: ("disconnected", "online") in _status_events(listener))
    engine = server.engine()
    try:  # a heartbeat of 0 s: the offline job finds the checkpoint silent at once
        announce = jobs._Announcer(RedisLiveEvents(redis_url), asyncio.get_running_loop())
        await asyncio.to_thread(jobs.offline_job, engine, 0, announce)
    finally:
        engine.dispose()
    async with connect(server.url, additional_headers=headers) as ws:  # back again
        assert (await _exchange(ws, health("gate-1", component="camera")))["status"] == "success"
    await _until(lambda: len(_status_events(listener)) == 5)


async def test_redis_and_database_paths_deliver_the_same_events(db_url, tmp_path, redis_url):
    """The same writes reach a browser as the same events with the same payloads on both paths."""
    settings = ingest_settings(db_url, tmp_path, redis_url=redis_url)
    async with running_ingest(settings) as server:
        token = server.add_checkpoint("gate-1")
        engine = server.engine()
        add_entry(engine, ListKind.WATCH, EntryFields("1กข1234", "กรุงเทพมหานคร", "stolen"), "t")  # one alert
        listener, tail = RedisListener(redis_url), TailListener(engine)
        try:
            await _run_scenario(server, token, listener, redis_url)
        finally:
            tail.close()
            listener.drain()
            listener.close()
            engine.dispose()
    by_redis = sorted(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in listener.events)
    by_tail = sorted(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in tail.events)
    assert by_redis == by_tail
    names = sorted(name for name, _ in listener.events)
    assert names == ["alert"] + ["checkpoint_status"] * 5 + ["detection", "health", "health"]
    [alert] = [p for name, p in listener.events if name == "alert"]
    assert (alert["rule"], alert["state"], alert["detail"]["note"]) == ("watchlist", "open", "stolen")
    [found] = [p for name, p in listener.events if name == "detection"]
    assert (found["province"], found["has_plate_image"], found["has_image"]) == ("กรุงเทพมหานคร", True, True)
    [system] = [p for name, p in listener.events if name == "health" and p["component"] == "system"]
    assert system["metrics"] == {"cpu_percent": 12.5, "memory_percent": 45.0}
    assert _status_events(listener) == [("connected", "online"), ("disconnected", "online"), ("offline", "offline"),
                                        ("connected", "online"), ("disconnected", "online")]
