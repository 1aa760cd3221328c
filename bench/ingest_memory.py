"""Ingest memory under one busy token (security review finding 13): how much one stolen token can pin.

One checkpoint token tries 8 connections at once; every connection it gets pipelines large
valid detections (≈1.4 MB JPEGs, ≈1.9 MB frames) for a few seconds. Reported: connections
accepted, server RSS before and at its peak (sampled every 50 ms). Limits in play:
``INGEST_MAX_CONNECTIONS_PER_CHECKPOINT`` (2), ``INGEST_MAX_QUEUE`` (0: reading pauses as soon as one
frame waits), ``INGEST_MAX_INFLIGHT`` (256) and ``INGEST_MAX_INFLIGHT_BYTES`` (4 MiB) per connection.

A second row floods from 100 checkpoints at once (one connection each, ≈ 664 KB frames as in the test, no
window of their own): the whole-process budget ``INGEST_MAX_INFLIGHT_BYTES_TOTAL`` (64 MiB) is
what bounds it; docs/operations.md states ~330 MB (tests/central_server/test_memory.py asserts < 350).

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


async def _load(url: str, senders: list[tuple[str, str]], process, seconds: float,
                jpeg: bytes) -> tuple[list[int], float]:
    """``senders``: (checkpoint id, token) per connection; returns answers per connection and peak RSS."""
    peak = 0.0
    pumps = asyncio.gather(*(_pump(url, token, lambda cp=cp: dumps(detection(jpeg, cp)), seconds)
                             for cp, token in senders))
    while not pumps.done():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.05)
    return await pumps, peak


def _row(label: str, tried: int, checkpoints: int, jpeg: bytes, seconds: float) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp, \
            server("ours", Path(tmp), checkpoints) as (url, tokens, process):
        before = process.memory_info().rss
        senders = [(cp, tokens[cp]) for cp in sorted(tokens)] * (tried // checkpoints)
        answered, peak = asyncio.run(_load(url, senders, process, seconds, jpeg))
    accepted = [n for n in answered if n >= 0]
    frame_kb = len(dumps(detection(jpeg, "cp0"))) / 1024
    return (f"| {label} | {tried} | {len(accepted)} | {frame_kb:,.0f} KB | {sum(accepted):,} | {before / 2**20:.0f} "
            f"| {peak / 2**20:.0f} | {os.getloadavg()[0]:.1f} |")


def main() -> None:
    seconds = max(2.0, 8.0 * SCALE)
    print("| load | connections tried | accepted | frame | messages answered | server RSS before MB | peak MB "
          "| load avg (1 min) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(_row("one token, big frames", ATTEMPTS, 1, scene_jpeg(1600, 1200, quality=95, grain=0.7), seconds),
          flush=True)
    print(_row("100 checkpoints flooding (bound stated: < 350 MB)", 100, 100,
               scene_jpeg(1280, 960, quality=90, grain=0.3), max(2.0, 4.0 * SCALE)), flush=True)


if __name__ == "__main__":
    main()
