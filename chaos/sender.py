"""A stubborn protocol client for central-side scenarios: resends until every message is acked.

It behaves like the edge uplink in the ways that matter to the server: a window
of messages in flight, retryable refusals sent again after a pause, and after a
lost connection everything unacknowledged is sent again (the server's
``event_id`` dedupe must absorb the repeats).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


@dataclass
class SenderStats:
    acked: set[str] = field(default_factory=set)
    duplicates_acked: int = 0
    reconnects: int = 0
    refusals: collections.Counter = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)


async def send_all(url: str, token: str, messages: dict[str, str], window: int = 32,
                   deadline: float = 120.0, stats: SenderStats | None = None,
                   interval: float = 0.0) -> SenderStats:
    """Deliver every ``event_id -> frame`` in ``messages``; give up at ``deadline`` seconds.

    ``interval`` paces first sends (seconds between them) to model a steady stream.
    """
    stats = stats or SenderStats()
    pending = collections.deque(messages)
    inflight: dict[str, float] = {}
    end = time.monotonic() + deadline
    while (pending or inflight) and time.monotonic() < end:
        pending.extendleft(reversed(list(inflight)))
        inflight.clear()
        try:
            async with connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                               compression=None, open_timeout=5) as ws:
                await _session(ws, messages, pending, inflight, window, stats, end, interval)
        except (ConnectionClosed, OSError, InvalidStatus, TimeoutError):
            stats.reconnects += 1
            await asyncio.sleep(0.2)
    return stats


async def _session(ws, messages, pending, inflight, window, stats, end, interval) -> None:
    room = asyncio.Event()
    room.set()

    async def reader() -> None:
        async for raw in ws:
            answer = json.loads(raw)
            event_id = answer.get("event_id")
            started = inflight.pop(event_id, None)
            if answer["status"] == "success":
                stats.acked.add(event_id)
                stats.duplicates_acked += bool(answer.get("duplicate"))
                if started:
                    stats.latencies.append(time.monotonic() - started)
            else:
                stats.refusals[answer["code"]] += 1
                if answer.get("retryable"):
                    await asyncio.sleep(0.05)
                    pending.append(event_id)
            room.set()

    task = asyncio.create_task(reader())
    try:
        while (pending or inflight) and time.monotonic() < end:
            if task.done():
                task.result()  # re-raise ConnectionClosed
                return
            if not pending or len(inflight) >= window:
                room.clear()
                waiter = asyncio.create_task(room.wait())
                await asyncio.wait([task, waiter], timeout=1, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                continue
            event_id = pending.popleft()
            if event_id in stats.acked:
                continue
            inflight[event_id] = time.monotonic()
            await ws.send(messages[event_id])
            if interval:
                await asyncio.sleep(interval)
    finally:
        task.cancel()
