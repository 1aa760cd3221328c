"""Protocol v2 at the real ingest on 127.0.0.1 (SQLite and PostgreSQL): binary frames, batched answers."""

from __future__ import annotations

import asyncio
import hashlib
import json

from sqlalchemy import select
from websockets.asyncio.client import connect

from fleet_protocol import SUBPROTOCOL_V2, image_data_url
from fleet_store.schema import health_monitors, lpr_detections
from tests.central_server.test_ingest import bearer, count, rows
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_settings, running_ingest
from tests.support.messages import detection, dumps, health, v2_frame


def v2_connect(server):
    return connect(server.url, additional_headers=bearer(server.token), subprotocols=[SUBPROTOCOL_V2],
                   compression=None)


async def answers_for(ws, expected: int) -> tuple[dict[str, dict], list[int]]:
    """Read answer frames until ``expected`` answers came; return them by event id and the batch sizes."""
    by_event, batches = {}, []
    while sum(batches) < expected:
        batch = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(batch, list)
        batches.append(len(batch))
        by_event.update({answer["event_id"]: answer for answer in batch})
    return by_event, batches


async def test_v2_is_negotiated_and_pipelined_frames_are_stored_once_with_their_bytes(ingest, jpeg):
    """200 pipelined binary detections: every one stored once with its JPEGs byte for byte, answers batched."""
    crop = scene_jpeg(160, 50, seed=4)
    messages = [detection(jpeg, plate_image=image_data_url(crop), province="ชลบุรี") for _ in range(200)]
    async with v2_connect(ingest) as ws:
        assert ws.subprotocol == SUBPROTOCOL_V2
        for message in messages:
            await ws.send(v2_frame(message))
        answers, batches = await answers_for(ws, 200)
        # a repeat is a duplicate answered with the first record id
        await ws.send(v2_frame(messages[0]))
        (repeat,) = json.loads(await asyncio.wait_for(ws.recv(), 10))
    ids = [m["data"]["event_id"] for m in messages]
    assert set(answers) == set(ids) and all(a["status"] == "success" for a in answers.values())
    assert len(batches) < 200  # a group commit's answers leave together
    assert repeat["duplicate"] is True and repeat["record_id"] == answers[ids[0]]["record_id"]
    stored = rows(ingest, lpr_detections)
    assert len(stored) == 200 and {r["event_id"] for r in stored} == set(ids)
    assert {r["id"] for r in stored} == {a["record_id"] for a in answers.values()}
    first = stored[0]
    assert (ingest.settings.image_dir / first["image_path"]).read_bytes() == jpeg
    assert first["plate_image_sha256"] == hashlib.sha256(crop).hexdigest() and first["province"] == "ชลบุรี"


async def test_bad_v2_frames_get_their_code_store_nothing_and_keep_the_connection(ingest, jpeg):
    """A broken layout, a cut JPEG part and a header picture are refused one by one; a good frame still works."""
    cut = detection(jpeg[: len(jpeg) // 2])
    header = dumps({**detection(None), "parts": [["image", 10]]}).encode()
    frames = {"invalid_message": len(header).to_bytes(4, "big") + header,
              "invalid_image": v2_frame(cut),
              "invalid_field": v2_frame(detection(None, confidence="high")),
              "checkpoint_mismatch": v2_frame(detection(jpeg, checkpoint_id="2"))}
    async with v2_connect(ingest) as ws:
        for expected, frame in frames.items():
            await ws.send(frame)
            (answer,) = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (answer["status"], answer["code"]) == ("error", expected), expected
        await ws.send(v2_frame(detection(jpeg)))
        (ok,) = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ok["status"] == "success" and count(ingest, lpr_detections) == 1
    assert len(list(ingest.settings.image_dir.rglob("*.jpg"))) == 1


async def test_v1_text_frames_still_work_on_a_v2_connection_and_without_v2(ingest, jpeg):
    """v1 stays accepted forever: text on a v2 connection (answered in an array) and on a plain one."""
    async with v2_connect(ingest) as ws:
        await ws.send(dumps(health()))
        (answer,) = json.loads(await asyncio.wait_for(ws.recv(), 10))
    async with connect(ingest.url, additional_headers=bearer(ingest.token)) as ws:
        assert ws.subprotocol is None
        await ws.send(dumps(detection(jpeg)))
        single = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert answer["status"] == "success" and single["status"] == "success" and "event_id" in single
    assert count(ingest, health_monitors) == 1 and count(ingest, lpr_detections) == 1
    engine = ingest.engine()
    with engine.connect() as conn:
        assert conn.execute(select(lpr_detections.c.image_size)).scalar() == len(jpeg)
    engine.dispose()


async def test_decode_check_runs_off_the_loop_and_still_refuses_a_corrupt_scan(sqlite_url, tmp_path, jpeg):
    """INGEST_IMAGE_CHECK=decode (Pillow, in a worker thread): a broken Huffman table is refused in v1 and v2."""
    corrupt = bytearray(jpeg)
    dht = corrupt.index(b"\xff\xc4")
    corrupt[dht + 5: dht + 25] = b"\xff" * 20
    async with running_ingest(ingest_settings(sqlite_url, tmp_path, ingest_image_check="decode")) as server:
        server.token = server.add_checkpoint("1")
        async with v2_connect(server) as ws:
            codes = []
            for frame in (v2_frame(detection(bytes(corrupt))), dumps(detection(bytes(corrupt))),
                          v2_frame(detection(jpeg)), dumps(detection(jpeg))):
                await ws.send(frame)
                (answer,) = json.loads(await asyncio.wait_for(ws.recv(), 10))
                codes.append(answer.get("code", answer["status"]))
    assert codes == ["invalid_image", "invalid_image", "success", "success"]
    assert count(server, lpr_detections) == 2
