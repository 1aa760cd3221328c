"""Ingest memory under one busy token (security review finding 13): how much one stolen token can pin.

One checkpoint token tries 8 connections at once; every connection it gets pipelines large
valid detections (≈1.4 MB JPEGs, ≈1.9 MB frames) for a few seconds. Reported: connections
accepted, server RSS before and at its peak (sampled every 50 ms). Limits in play:
``INGEST_MAX_CONNECTIONS_PER_CHECKPOINT`` (2), ``INGEST_MAX_QUEUE`` (0: reading pauses as soon as one
frame waits), ``INGEST_MAX_INFLIGHT`` (256) and ``INGEST_MAX_INFLIGHT_BYTES`` (4 MiB) per connection.

``python -m bench.ingest_memory`` (``BENCH_SCALE`` scales the seconds of load).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.ingest import server
from tests.support.images import scene_jpeg
from tests.support.messages import detection, dumps

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ATTEMPTS = 8


async def _pump(url: str, token: str, frame_of, seconds: float) -> int:
    """Pipeline frames on one connection for ``seconds``; return how many were answered (-1: refused)."""
    try:
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=2**22,
                           compression=None)
    except InvalidStatus:
        return -1
    answered = 0
    deadline = time.monotonic() + seconds

    async def reader():
        nonlocal answered
        async for _ in ws:
            answered += 1

    task = asyncio.create_task(reader())
    try:
        while time.monotonic() < deadline:
            await ws.send(frame_of())
    except ConnectionClosed:
        pass
    finally:
        await ws.close()
        task.cancel()
    return answered


async def _load(url: str, token: str, process, seconds: float) -> tuple[list[int], float]:
    jpeg = scene_jpeg(1600, 1200, quality=95, grain=0.7)
    frame_of = lambda: dumps(detection(jpeg, "cp0"))  # noqa: E731 - a fresh event_id per frame
    peak = 0.0
    pumps = asyncio.gather(*(_pump(url, token, frame_of, seconds) for _ in range(ATTEMPTS)))
    while not pumps.done():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.05)
    return await pumps, peak


def main() -> None:
    seconds = max(2.0, 8.0 * SCALE)
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp, server("ours", Path(tmp), 1) as (url, tokens,
                                                                                                  process):
        before = process.memory_info().rss
        answered, peak = asyncio.run(_load(url, tokens["cp0"], process, seconds))
    accepted = [n for n in answered if n >= 0]
    print("| connections tried (one token) | accepted | messages answered | server RSS before MB | peak MB |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {ATTEMPTS} | {len(accepted)} | {sum(accepted)} | {before / 2**20:.0f} | {peak / 2**20:.0f} |")


if __name__ == "__main__":
    main()
