"""The ingest over a real WebSocket on 127.0.0.1, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from central_server import auth
from fleet_protocol import image_data_url
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_settings, running_ingest
from tests.support.messages import detection, dumps, health


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def send_and_receive(ws, message) -> dict:
    await ws.send(message if isinstance(message, (str, bytes)) else dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def count(server, table) -> int:
    engine = server.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar()
    finally:
        engine.dispose()


def rows(server, table) -> list:
    engine = server.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(select(table).order_by(table.c.id)).mappings().all()
    finally:
        engine.dispose()


async def test_seed_detection_is_stored_and_answered_like_the_old_server(ingest, jpeg):
    """A seed-format detection is stored with its image as a file and answered with the old keys."""
    message = detection(jpeg, event_id=None)
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        answer = await send_and_receive(ws, message)
    assert answer == {"status": "success", "message": "Data saved successfully",
                      "record_id": answer["record_id"], "table": "lpr_detection", "action": "insert"}
    [row] = rows(ingest, lpr_detections)
    assert row["id"] == answer["record_id"]
    assert (row["license_plate"], row["confidence"], row["lux"], row["hostname"]) == ("ABC1234", 95.5, 250, "aicamera")
    assert row["timestamp"] == datetime(2024, 8, 6, 3, 30, tzinfo=UTC)  # 10:30 Bangkok
    stored = (ingest.settings.image_dir / row["image_path"]).read_bytes()
    assert stored == jpeg
    assert row["image_sha256"] == hashlib.sha256(jpeg).hexdigest() and row["image_size"] == len(jpeg)


async def test_seed_health_is_stored_with_system_info(ingest):
    """A seed-format health report is stored in health_monitors with received_at."""
    message = health()
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        answer = await send_and_receive(ws, message)
    assert answer["status"] == "success" and answer["table"] == "health_monitor"
    assert answer["event_id"] == message["data"]["event_id"]
    [row] = rows(ingest, health_monitors)
    assert (row["component"], row["status"], row["message"]) == ("camera", "PASS", "Camera working normally")
    assert row["system_info"]["cpu_usage"] == "12%" and row["received_at"] is not None


async def test_the_whole_plate_record_is_stored(ingest, jpeg):
    """Province, its score, the raw read and the plate crop (a file with its hash) land in their columns."""
    crop = scene_jpeg(160, 72, seed=9)
    message = detection(jpeg, license_plate="1กข1234", province="เชียงใหม่", province_confidence=91.5,
                        plate_raw="1กข 1234", plate_image=image_data_url(crop), lane="2")
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        assert (await send_and_receive(ws, message))["status"] == "success"
    [row] = rows(ingest, lpr_detections)
    assert (row["province"], row["province_confidence"], row["plate_raw"]) == ("เชียงใหม่", 91.5, "1กข 1234")
    assert (ingest.settings.image_dir / row["plate_image_path"]).read_bytes() == crop
    assert row["plate_image_sha256"] == hashlib.sha256(crop).hexdigest() and row["plate_image_size"] == len(crop)
    assert row["plate_image_path"] != row["image_path"] and row["extra"] == {"lane": "2"}


async def test_first_reported_position_places_a_checkpoint_without_one(ingest):
    """A checkpoint with no position takes the first one its detections carry; later ones do not move it."""
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        await send_and_receive(ws, detection(None, latitude="13.75", longitude="100.5"))
        await send_and_receive(ws, detection(None, latitude="18.79", longitude="98.98"))
    engine = ingest.engine()
    with engine.connect() as conn:
        position = conn.execute(select(checkpoints.c.latitude, checkpoints.c.longitude)).one()
    engine.dispose()
    assert tuple(position) == (13.75, 100.5)


async def test_duplicate_event_is_stored_once_and_answered_with_first_id(ingest, jpeg):
    """Re-sending an event (also twice within one batch) stores one row and says duplicate."""
    message = detection(jpeg)
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        first = await send_and_receive(ws, message)
        again = await send_and_receive(ws, message)
        await ws.send(dumps(message))
        await ws.send(dumps(message))
        burst = [json.loads(await ws.recv()) for _ in range(2)]
    assert "duplicate" not in first
    for answer in [again, *burst]:
        assert answer["duplicate"] is True and answer["record_id"] == first["record_id"]
    assert count(ingest, lpr_detections) == 1
    assert len(list(ingest.settings.image_dir.rglob("*.jpg"))) == 1


async def test_pipelined_sender_gets_every_ack_matched_by_event_id(ingest, jpeg):
    """300 messages in flight at once: every event_id is acked once and stored once."""
    messages = [detection(jpeg, license_plate=f"P{i}") for i in range(300)]
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        for m in messages:
            await ws.send(dumps(m))
        answers = [json.loads(await asyncio.wait_for(ws.recv(), 20)) for _ in messages]
    assert {a["event_id"] for a in answers} == {m["data"]["event_id"] for m in messages}
    assert all(a["status"] == "success" for a in answers)
    assert [a["event_id"] for a in answers] == [m["data"]["event_id"] for m in messages]  # order kept
    stored = {r["id"]: r["event_id"] for r in rows(ingest, lpr_detections)}
    assert len(stored) == 300
    assert all(stored[a["record_id"]] == a["event_id"] for a in answers)  # each record_id is its own row


BAD_FRAMES = {
    "invalid_json": "{not json",
    "unknown_table": dumps({"table": "users", "action": "insert", "data": {}}),
    "unknown_action": dumps({"table": "lpr_detection", "action": "drop", "data": {}}),
    "missing_field": dumps(detection(None, license_plate=None)),
    "invalid_field": dumps(detection(None, confidence="very")),
    "field_too_long": dumps(detection(None, license_plate="A" * 500)),
    "invalid_base64": dumps(detection(None, image="data:image/jpeg;base64,****")),
    "invalid_timestamp": dumps(detection(None, timestamp="1999-12-31T23:00:00+00:00")),
    "invalid_message": b"\x00\x01binary",
}


async def test_every_bad_frame_gets_its_code_stores_nothing_and_keeps_the_connection(ingest, jpeg):
    """Each bad frame is answered with its code; nothing is stored; a good message still works."""
    truncated = dumps(detection(jpeg[: len(jpeg) // 2]))
    frames = {**BAD_FRAMES, "invalid_image": truncated,
              "message_too_large": "x" * (ingest.settings.ingest_max_message_bytes + 10)}
    async with connect(ingest.url, additional_headers=bearer(ingest.token),
                       max_size=None) as ws:
        for expected, frame in frames.items():
            answer = await send_and_receive(ws, frame)
            assert (answer["status"], answer["code"]) == ("error", expected), expected
            assert answer["message"]
        assert (await send_and_receive(ws, detection(jpeg)))["status"] == "success"
    assert count(ingest, lpr_detections) == 1
    assert count(ingest, health_monitors) == 0
    assert len(list(ingest.settings.image_dir.rglob("*.jpg"))) == 1


async def test_message_claiming_another_checkpoint_is_refused(ingest):
    """A token is bound to its checkpoint: a message for another one is refused and not stored."""
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        answer = await send_and_receive(ws, detection(None, checkpoint_id="2"))
    assert answer["code"] == "checkpoint_mismatch"
    assert count(ingest, lpr_detections) == 0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}],
                         ids=["missing", "wrong", "not-bearer"])
async def test_handshake_without_a_valid_token_is_refused_with_401(ingest, headers):
    """No token, a wrong token or another scheme: HTTP 401 before the upgrade."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(ingest.url, additional_headers=headers):
            pass
    assert info.value.response.status_code == 401


async def test_revoked_token_is_refused(ingest):
    """After revoke the token no longer opens a connection."""
    from central_server import auth

    engine = ingest.engine()
    auth.revoke_checkpoint(engine, "1")
    engine.dispose()
    with pytest.raises(InvalidStatus):
        async with connect(ingest.url, additional_headers=bearer(ingest.token)):
            pass


async def test_anonymous_old_sender_only_when_enabled(sqlite_url, tmp_path, jpeg):
    """With INGEST_ALLOW_ANONYMOUS=1 a tokenless sender is served as an id registered --anonymous."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_allow_anonymous=True)
    async with running_ingest(settings) as server:
        engine = server.engine()
        auth.allow_anonymous(engine, "legacy-9")
        engine.dispose()
        async with connect(server.url) as ws:
            assert (await send_and_receive(ws, detection(jpeg, checkpoint_id="legacy-9")))["status"] == "success"
            assert (await send_and_receive(ws, detection(jpeg, checkpoint_id="other")))["code"] == \
                "checkpoint_mismatch"
        assert [r["checkpoint_id"] for r in rows_of(server, checkpoints)] == ["legacy-9"]


def rows_of(server, table):
    engine = server.engine()
    with engine.connect() as conn:
        result = conn.execute(select(table)).mappings().all()
    engine.dispose()
    return result


async def test_garbage_flood_gets_the_connection_closed(sqlite_url, tmp_path):
    """A client sending only garbage is cut off (1008) after its error budget."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_error_budget=20)
    async with running_ingest(settings) as server:
        token = server.add_checkpoint("1")
        async with connect(server.url, additional_headers=bearer(token)) as ws:
            with pytest.raises(ConnectionClosed) as info:
                for _ in range(1000):
                    await ws.send("garbage")
                    await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd.code == 1008


async def test_healthz_answers_json_on_the_ingest_port(ingest):
    """GET /healthz on the WebSocket port answers 200 with a JSON status."""
    body = await asyncio.to_thread(
        lambda: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{ingest.port}/healthz", timeout=5).read()))
    assert body["status"] == "ok" and body["connections"] == 0


async def test_connection_state_is_recorded(ingest):
    """Connecting and disconnecting mark the checkpoint and write connection history."""
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        await send_and_receive(ws, health())
    for _ in range(50):
        events = [r["event"] for r in rows_of(ingest, connection_events)]
        if "disconnected" in events:
            break
        await asyncio.sleep(0.05)
    assert events[:2] == ["connected", "disconnected"]
    [cp] = rows_of(ingest, checkpoints)
    assert cp["status"] == "online" and cp["connected"] is False and cp["last_seen_at"] is not None


async def test_many_checkpoints_at_once(ingest, jpeg):
    """Twenty checkpoints sending concurrently are all stored, each under its own id."""
    tokens = {f"cp{i}": ingest.add_checkpoint(f"cp{i}") for i in range(20)}

    async def one(cp, token):
        async with connect(ingest.url, additional_headers=bearer(token)) as ws:
            for _ in range(5):
                assert (await send_and_receive(ws, detection(jpeg, checkpoint_id=cp)))["status"] == "success"

    await asyncio.gather(*(one(cp, t) for cp, t in tokens.items()))
    assert count(ingest, lpr_detections) == 100


async def test_unique_event_id_across_checkpoints_is_not_a_duplicate(ingest, jpeg):
    """The same event_id from two checkpoints is two rows: dedupe is per checkpoint."""
    token2 = ingest.add_checkpoint("2")
    event_id = str(uuid.uuid4())
    for cp, token in (("1", ingest.token), ("2", token2)):
        async with connect(ingest.url, additional_headers=bearer(token)) as ws:
            answer = await send_and_receive(ws, detection(jpeg, checkpoint_id=cp, event_id=event_id))
            assert "duplicate" not in answer
    assert count(ingest, lpr_detections) == 2


async def test_open_connection_is_closed_when_its_token_is_revoked(sqlite_url, tmp_path):
    """Revoking a token closes that checkpoint's open connection with 1008."""
    from central_server import auth

    settings = ingest_settings(sqlite_url, tmp_path, ingest_token_recheck_seconds=0.1)
    async with running_ingest(settings) as server:
        token = server.add_checkpoint("1")
        async with connect(server.url, additional_headers=bearer(token)) as ws:
            await send_and_receive(ws, health())
            engine = server.engine()
            await asyncio.to_thread(auth.revoke_checkpoint, engine, "1")
            engine.dispose()
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd.code == 1008 and "revoked" in info.value.rcvd.reason
