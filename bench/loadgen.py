"""A load generator that speaks protocol v1 or v2: N checkpoints, lockstep, pipelined or at a fixed rate.

Messages are encoded once per checkpoint and only the event id is swapped per
send, so the generator spends its CPU on sockets, not on JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from fleet_protocol import SUBPROTOCOL_V2, image_data_url
from tests.support.messages import detection, dumps, v2_frame

PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


@dataclass
class LoadResult:
    """What one run measured (latencies in seconds)."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    bytes_sent: int = 0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def template(checkpoint_id: str, jpeg: bytes, plate: bytes | None = None, v2: bool = False) -> str | bytes:
    """One detection frame with a placeholder event id (v1 text or v2 binary)."""
    fields = {"plate_image": image_data_url(plate)} if plate else {}
    message = detection(jpeg, checkpoint_id=checkpoint_id, event_id=PLACEHOLDER, **fields)
    return v2_frame(message) if v2 else dumps(message)


async def _checkpoint(url: str, checkpoint_id: str, token: str | None, jpeg: bytes, count: int,
                      window: int, interval: float | None, result: LoadResult, plate: bytes | None = None,
                      v2: bool = False) -> None:
    """Send ``count`` messages with at most ``window`` unacknowledged (1 = lockstep)."""
    frame = template(checkpoint_id, jpeg, plate, v2)
    placeholder = PLACEHOLDER.encode() if v2 else PLACEHOLDER
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    sent_at: dict[str, float] = {}
    slots = asyncio.Semaphore(window)
    async with connect(url, additional_headers=headers, compression=None, max_size=2**23,
                       subprotocols=[SUBPROTOCOL_V2] if v2 else None) as ws:

        async def reader() -> None:
            answered = 0
            while answered < count:
                answers = json.loads(await ws.recv())
                for answer in answers if isinstance(answers, list) else [answers]:
                    answered += 1
                    started = sent_at.pop(answer.get("event_id"), None)
                    if answer.get("status") == "success" and started is not None:
                        result.acked += 1
                        result.latencies.append(time.perf_counter() - started)
                    else:
                        result.errors += 1
                    slots.release()

        task = asyncio.create_task(reader())
        next_at = time.perf_counter()
        for _ in range(count):
            if interval:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await slots.acquire()
            event_id = str(uuid.uuid4())
            sent_at[event_id] = time.perf_counter()
            await ws.send(frame.replace(placeholder, event_id.encode() if v2 else event_id))
            result.sent += 1
            result.bytes_sent += len(frame)
        await asyncio.wait_for(task, 120)


async def run_load(url: str, tokens: dict[str, str | None], jpeg: bytes, per_checkpoint: int,
                   window: int = 1, rate_per_checkpoint: float | None = None, plate: bytes | None = None,
                   v2: bool = False) -> LoadResult:
    """Drive every checkpoint in ``tokens`` concurrently; return the merged result."""
    result = LoadResult()
    interval = 1.0 / rate_per_checkpoint if rate_per_checkpoint else None
    started = time.perf_counter()
    await asyncio.gather(*(_checkpoint(url, cp, token, jpeg, per_checkpoint, window, interval, result, plate, v2)
                           for cp, token in tokens.items()))
    result.wall = time.perf_counter() - started
    return result


async def hold_idle(url: str, tokens: dict[str, str | None], seconds: float, during=None):
    """Open one idle connection per checkpoint, wait ``seconds``, call ``during()``; return its value."""
    stack = []
    try:
        for token in tokens.values():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            stack.append(await connect(url, additional_headers=headers, compression=None))
        await asyncio.sleep(seconds)
        return during() if during else len(stack)
    finally:
        await asyncio.gather(*(ws.close() for ws in stack), return_exceptions=True)
