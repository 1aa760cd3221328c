"""SIGTERM under load: every acknowledged row is stored, the process exits 0."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fleet_store.schema import lpr_detections
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_process, ingest_settings
from tests.support.messages import detection, dumps

pytestmark = pytest.mark.slow


async def _pump(url: str, token: str, jpeg: bytes, acked: set[str], closed: list[int]) -> None:
    """Send pipelined detections until the server closes; collect acked event ids."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:

        async def reader():
            async for raw in ws:
                answer = json.loads(raw)
                if answer["status"] == "success":
                    acked.add(answer["event_id"])

        task = asyncio.create_task(reader())
        try:
            for i in range(100_000):
                await ws.send(dumps(detection(jpeg, license_plate=f"T{i}")))
                if i % 50 == 0:
                    await asyncio.sleep(0)
        except ConnectionClosed as exc:
            closed.append(exc.rcvd.code if exc.rcvd else -1)
        await asyncio.wait_for(task, 30)
        closed.append(ws.close_code)


def test_sigterm_mid_load_loses_no_acknowledged_row(db_url, tmp_path):
    """Acked rows are all in the database after SIGTERM; close code 1001; exit status 0."""
    settings = ingest_settings(db_url, tmp_path)
    jpeg = scene_jpeg()
    acked: set[str] = set()
    closed: list[int] = []
    with ingest_process(settings, log_path=tmp_path / "ingest.log") as server:
        token = server.add_checkpoint("1")

        async def scenario():
            pump = asyncio.create_task(_pump(server.url, token, jpeg, acked, closed))
            while len(acked) < 200:
                await asyncio.sleep(0.01)
            server.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(pump, 60)

        asyncio.run(scenario())
        assert server.process.wait(30) == 0
    engine = server.engine()
    with engine.connect() as conn:
        stored = dict(conn.execute(select(lpr_detections.c.event_id, lpr_detections.c.image_path)).all())
    engine.dispose()
    assert acked <= set(stored), f"{len(acked - set(stored))} acked rows missing"
    assert all((settings.image_dir / stored[e]).stat().st_size == len(jpeg) for e in acked)
    assert 1001 in closed
