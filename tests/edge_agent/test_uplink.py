"""The uplink shell against scripted WebSocket servers on 127.0.0.1 (retry, auth, dead link, window)."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC
from http import HTTPStatus

from websockets.asyncio.server import serve

from edge_agent.delivery import Delivery, Kind
from edge_agent.errors import OutboxError
from edge_agent.uplink import LinkState, Uplink, UplinkConfig
from edge_agent.window import WindowConfig
from fleet_protocol import success_answer
from tests.edge_agent.conftest import make_event, make_jpeg, outside_sql
from tests.edge_agent.harness import until


class Script:
    """A server whose answers a test decides: per event, a list of answers to give in turn."""

    def __init__(self, refuse_first: int = 0, silent: bool = False, batch: int = 1, delay: float = 0.0):
        self.refuse_first = refuse_first
        self.delay = delay
        self.silent = silent
        self.batch = batch
        self.seen: dict[str, int] = {}
        self.frames: list[dict] = []
        self.max_outstanding = 0
        self.connections = 0
        self.record = 0

    async def handler(self, ws) -> None:
        self.connections += 1
        waiting: list[str] = []
        async for raw in ws:
            self.frames.append(json.loads(raw)["data"])
            event_id = self.frames[-1]["event_id"]
            self.seen[event_id] = self.seen.get(event_id, 0) + 1
            if self.silent:
                continue
            waiting.append(event_id)
            self.max_outstanding = max(self.max_outstanding, len(waiting))
            if len(waiting) >= self.batch:
                await asyncio.sleep(self.delay)
                for eid in waiting:
                    await ws.send(self.answer(eid))
                waiting.clear()

    def answer(self, event_id: str) -> str:
        if self.seen[event_id] <= self.refuse_first:
            return json.dumps({"status": "error", "code": "unavailable", "message": "database is down",
                               "event_id": event_id, "retryable": True})
        self.record += 1
        return json.dumps(success_answer(self.record, "lpr_detection", event_id))


async def start_uplink(outbox, url: str, **window) -> Uplink:
    config = UplinkConfig(url, token="t", window=WindowConfig(**window), poll_interval=0.05,
                          reconnect_min=0.05, reconnect_max=0.2, stop_grace=0.5)
    uplink = Uplink(outbox, config, UTC)
    uplink.bind(asyncio.get_running_loop())
    await uplink.start_async()
    return uplink


def delivered(outbox) -> int:
    return outbox.backlog(Kind.DETECTION).delivered


async def test_a_server_without_v2_gets_v1_text_frames(outbox):
    """A server that does not take the subprotocol aicamera.v2 (the old one) gets v1 JSON text frames."""
    script = Script()
    async with serve(script.handler, "127.0.0.1", 0) as server:
        outbox.submit(make_event("OLD1"))
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        await until(lambda: delivered(outbox) == 1, 10, "delivered in v1")
        assert uplink.status().protocol == "v1"
        await uplink.stop_async()
    assert script.frames[0]["license_plate"] == "OLD1" and script.frames[0]["image"].startswith("data:image/jpeg")


async def test_retryable_refusal_is_retried_after_backoff(outbox):
    """A row refused with a retryable code goes back to pending and is delivered on a later try."""
    script = Script(refuse_first=1)
    async with serve(script.handler, "127.0.0.1", 0) as server:
        outbox.submit(make_event("R1"))
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}",
                                    retry_base=0.1)
        await until(lambda: delivered(outbox) == 1, 10, "delivery after retry")
        await uplink.stop_async()
    (row,) = outbox.recent(1)
    assert row.attempts == 2 and list(script.seen.values()) == [2]
    assert uplink.status().retried == 1 and uplink.status().delivered == 1


async def test_window_bounds_messages_in_flight_oldest_first(outbox):
    """No more than the window's size is unanswered at once, and rows go oldest first."""
    script = Script(batch=4)
    ids = [outbox.submit(make_event(f"W{i}")) for i in range(12)]
    async with serve(script.handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", size=4)
        await until(lambda: delivered(outbox) == 12, 10, "all delivered")
        await uplink.stop_async()
    assert script.max_outstanding == 4 and list(script.seen) == ids


async def test_refused_token_is_retried_and_explained(outbox):
    """A 401 at the handshake keeps the uplink retrying with a message naming CHECKPOINT_TOKEN."""
    def refuse(connection, request):
        return connection.respond(HTTPStatus.UNAUTHORIZED, "bad token\n")

    async with serve(lambda ws: None, "127.0.0.1", 0, process_request=refuse) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        await until(lambda: "CHECKPOINT_TOKEN" in uplink.status().last_error, 5, "auth error")
        assert uplink.status().state is LinkState.RETRYING
        await uplink.stop_async()
    assert uplink.status().state is LinkState.STOPPED


async def test_dead_link_reconnects_and_resends(outbox):
    """A server that never answers trips the ack timeout; rows are resent on a new connection."""
    script = Script(silent=True)
    outbox.submit(make_event("D1"))
    async with serve(script.handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}",
                                    ack_timeout=0.3)
        await until(lambda: script.connections >= 2, 10, "a reconnect after the dead link")
        script.silent = False
        await until(lambda: delivered(outbox) == 1, 10, "delivery on the new connection")
        await uplink.stop_async()
    assert list(script.seen.values())[0] >= 2


async def test_stop_returns_unanswered_rows_to_pending(outbox):
    """Stopping while rows wait for answers leaves them pending, not stuck in flight."""
    script = Script(silent=True)
    for i in range(3):
        outbox.submit(make_event(f"S{i}"))
    async with serve(script.handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        await until(lambda: len(script.seen) == 3, 10, "rows sent")
        await uplink.stop_async()
    backlog = outbox.backlog(Kind.DETECTION)
    assert (backlog.pending, backlog.in_flight) == (3, 0)


async def test_outside_rows_are_adopted_while_own_rows_keep_flowing(outbox):
    """A steady stream of the agent's own rows does not starve rows another program inserted."""
    script = Script(delay=0.02)  # slower than the feeder below: the agent's own queue never empties
    for i in range(20):
        outbox.submit(make_event(f"OWN{i}"))
    async with serve(script.handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", size=1)
        outside_sql(outbox, "INSERT INTO detection_results (license_plate, confidence, timestamp) "
                         "VALUES ('OUTSIDE', 80, '2025-01-01T00:00:00')")
        feeding = True

        async def feed():
            while feeding:
                await asyncio.to_thread(outbox.submit, make_event("MORE"))
                await asyncio.sleep(0.01)

        feeder = asyncio.create_task(feed())
        await until(lambda: outside_sql(outbox, "SELECT delivery FROM detection_results WHERE "
                                             "license_plate = 'OUTSIDE'")[0]["delivery"] == Delivery.DELIVERED,
                    10, "the outside row delivered")
        assert outbox.backlog(Kind.DETECTION).unsent > 0  # own rows were still queued meanwhile
        feeding = False
        await feeder
        await uplink.stop_async()


async def test_a_stuck_adoption_never_holds_claims_back(outbox):
    """While adopting outside rows hangs (a slow disk), the agent's own rows are still claimed and delivered."""
    import threading

    adopt, release, entered = outbox.prepare_outside_rows, threading.Event(), threading.Event()

    def slow_adoption(limit=200):
        entered.set()
        release.wait(10)
        return adopt(limit)

    outbox.prepare_outside_rows = slow_adoption
    outside_sql(outbox, "INSERT INTO detection_results (license_plate, confidence, timestamp) "
                        "VALUES ('OUTSIDE', 80, '2025-01-01T00:00:00')")
    async with serve(Script().handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        try:
            await until(entered.is_set, 5, "the adoption under way")
            for i in range(30):
                outbox.submit(make_event(f"OWN{i}"))
                uplink.wake()
            await until(lambda: delivered(outbox) == 30, 10, "own rows delivered during the adoption")
            assert not release.is_set()
            release.set()
            await until(lambda: delivered(outbox) == 31, 10, "the outside row delivered once adopted")
        finally:
            release.set()
            await uplink.stop_async()


async def test_connection_lost_while_claiming_leaves_no_row_stuck_in_flight(outbox):
    """The link dies while a batch is being claimed: those rows go back to pending and get delivered."""
    import time as _time

    for i in range(30):
        outbox.submit(make_event(f"B{i}"))
    script = Script()
    connections: list = []
    loop = asyncio.get_running_loop()
    claim = outbox.claim

    def claim_then_cut(limit, now=None):
        items = claim(limit, now)
        if items and len(connections) == 1:  # first connection: cut it under the claim's feet
            loop.call_soon_threadsafe(connections[0].transport.abort)
            _time.sleep(0.3)
        return items

    async def handler(ws):
        connections.append(ws)
        await script.handler(ws)

    outbox.claim = claim_then_cut
    async with serve(handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        await until(lambda: delivered(outbox) == 30, 15, "every row delivered after the reconnect")
        await uplink.stop_async()
    assert outbox.backlog(Kind.DETECTION).in_flight == 0 and len(connections) >= 2


async def test_outbox_error_ends_the_session_not_the_uplink(outbox):
    """A locked database during a claim costs one reconnect; the uplink keeps delivering."""
    for i in range(5):
        outbox.submit(make_event(f"L{i}"))
    claim, failures = outbox.claim, []

    def locked_once(limit, now=None):
        if not failures:
            failures.append(1)
            raise OutboxError("outbox claim failed: database is locked")
        return claim(limit, now)

    outbox.claim = locked_once
    async with serve(Script().handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        await until(lambda: delivered(outbox) == 5, 10, "delivery after the outbox error")
        assert "database is locked" in uplink.status().last_error
        await uplink.stop_async()


async def test_outside_row_goes_on_the_wire_with_province_and_plate_crop(outbox, tmp_path):
    """The frame for a row another program inserted carries its province and plate crop as a JPEG data URL."""
    crop = outbox.config.image_dir / "crop.jpg"  # a folder outside rows may name images in
    crop.write_bytes(make_jpeg(200, 80))
    outside_sql(outbox, "INSERT INTO detection_results (license_plate, confidence, timestamp, province, "
                        "plate_image_path) VALUES ('1กข1234', 90, '2025-06-01T12:00:00', 'นนทบุรี', ?)", (str(crop),))
    script = Script()
    async with serve(script.handler, "127.0.0.1", 0) as server:
        uplink = await start_uplink(outbox, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        await until(lambda: delivered(outbox) == 1, 10, "the outside row delivered")
        await uplink.stop_async()
    (frame,) = [f for f in script.frames if "license_plate" in f]
    assert frame["province"] == "นนทบุรี" and frame["image"] == ""
    assert base64.b64decode(frame["plate_image"].removeprefix("data:image/jpeg;base64,")) == crop.read_bytes()
