"""Bounded memory: a hundred connections flooding the real ingest at full speed (a subprocess on 127.0.0.1).

The bound is by design (docs/operations.md, "Memory"): per connection at most ``INGEST_MAX_QUEUE`` + 1
frames buffered by the WebSocket library and ``INGEST_MAX_INFLIGHT_BYTES`` unanswered, and all
connections together at most ``INGEST_MAX_INFLIGHT_BYTES_TOTAL`` unanswered (+ one message each).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from central_server import auth
from fleet_store import db
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_process, ingest_settings
from tests.support.messages import detection, dumps

CONNECTIONS = 100
FLOOD_SECONDS = 4.0 * float(os.environ.get("TEST_TIME_SCALE", "1"))
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
# Stated in docs/operations.md: idle RSS (~70 MB) + the 64 MiB budget + 100 x (one frame queued, one being
# read, one message over the budget) of 664 KB = ~330 MB; 650 MB before the budget existed.
RSS_BOUND_MB = 350


async def _flood(url: str, token: str, text: str, until: float, counts: list[int]) -> None:
    """Send as fast as the server reads (no window of our own); count the answers."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, compression=None,
                       max_size=2**22) as ws:
        async def reader() -> None:
            async for _ in ws:
                counts[0] += 1

        task = asyncio.create_task(reader())
        try:
            while time.monotonic() < until:
                await ws.send(text.replace(PLACEHOLDER, str(uuid.uuid4())))
                counts[1] += 1
        except ConnectionClosed:
            pass
        await asyncio.sleep(0.5)
        task.cancel()


async def _run(url: str, tokens: dict[str, str], process: psutil.Process, jpeg: bytes) -> tuple[float, list[int]]:
    counts = [0, 0]
    until = time.monotonic() + FLOOD_SECONDS
    flood = asyncio.gather(*(_flood(url, token, dumps(detection(jpeg, cp, PLACEHOLDER)), until, counts)
                             for cp, token in tokens.items()))
    peak = 0
    while not flood.done():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.02)
    await flood
    return peak, counts


def test_hundred_flooding_connections_stay_under_the_stated_rss(tmp_path, sqlite_url):
    """100 checkpoints pipelining 664 KB frames with no window keep the ingest's RSS under the stated bound."""
    settings = ingest_settings(sqlite_url, tmp_path / "central", ingest_token_recheck_seconds=3600)
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    tokens = {f"cp{i}": auth.add_checkpoint(engine, f"cp{i}") for i in range(CONNECTIONS)}
    engine.dispose()
    jpeg = scene_jpeg(1280, 960, quality=90, grain=0.3)
    with ingest_process(settings) as server:
        process = psutil.Process(server.process.pid)
        idle = process.memory_info().rss
        peak, (answered, sent) = asyncio.run(_run(server.url, tokens, process, jpeg))
    print(f"frame {len(dumps(detection(jpeg))) / 1024:.0f} KB; idle {idle / 2**20:.0f} MB, peak "
          f"{peak / 2**20:.0f} MB; sent {sent}, answered {answered}")
    assert answered > CONNECTIONS  # the flood really went through the server
    assert peak / 2**20 < RSS_BOUND_MB
