"""Several ingest processes on one PostgreSQL database: shared port, and dedupe across processes."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.client import connect

from tests.support.images import scene_jpeg
from tests.support.ingest import _free_port, ingest_process, ingest_settings
from tests.support.messages import detection, dumps

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def _send(url: str, token: str, message: dict) -> dict:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(dumps(message))
        return json.loads(await ws.recv())


def test_same_event_through_two_processes_is_stored_once(pg_url, tmp_path):
    """Racing the same event_ids through two ingest processes stores each once, same record_id."""
    settings = ingest_settings(pg_url, tmp_path)
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(ingest_process(settings))
        b = stack.enter_context(ingest_process(settings))
        token = a.add_checkpoint("1")
        jpeg = scene_jpeg()

        async def race():
            results = []
            for _ in range(20):
                message = detection(jpeg)
                results.append(await asyncio.gather(_send(a.url, token, message), _send(b.url, token, message)))
            return results

        for first, second in asyncio.run(race()):
            assert first["status"] == second["status"] == "success"
            assert first["record_id"] == second["record_id"]
            assert bool(first.get("duplicate")) != bool(second.get("duplicate"))
        engine = a.engine()
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT count(*), count(DISTINCT event_id) FROM lpr_detections").one()
        engine.dispose()
        assert tuple(rows) == (20, 20)
        assert len(list(settings.image_dir.rglob("*.jpg"))) == 20  # the loser's file was removed


def test_two_processes_share_one_port_with_reuse_port(pg_url, tmp_path):
    """With INGEST_REUSE_PORT=1 two processes listen on one port and both take connections."""
    settings = ingest_settings(pg_url, tmp_path, ingest_reuse_port=True, ingest_max_connections_per_checkpoint=64)
    port = _free_port()
    with ingest_process(settings, port=port) as a, ingest_process(settings, port=port):
        token = a.add_checkpoint("1")
        jpeg = scene_jpeg()

        async def many():
            return await asyncio.gather(*(_send(a.url, token, detection(jpeg)) for _ in range(40)))

        answers = asyncio.run(many())
    assert all(answer["status"] == "success" for answer in answers)
    assert len({answer["record_id"] for answer in answers}) == 40
