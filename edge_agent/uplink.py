"""The uplink: moves outbox rows to the central server over one WebSocket (the I/O shell).

All decisions live in :class:`edge_agent.window.Window`; this module only moves
data between the outbox (SQLite calls run in worker threads so fsyncs overlap
with network I/O) and the socket. Reconnection is websockets' own loop
(``async for ws in connect(...)``: jittered exponential back-off);
rows other programs inserted are adopted by a task of their own, beside the
claims and never in front of them (a backlog from the old detection program
drains at the same pace as the agent's own rows, and the link need not be up);
``process_exception`` makes every connection failure retryable, including a
refused token, because an edge box must keep trying until an operator fixes
the server side. Keepalive pings and the window's answer timeout detect a
dead link; rows in flight on a lost link go back to pending.

``start``/``stop``/``restart``/``status`` are safe to call from any thread
(the control API does).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import tzinfo

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fleet_protocol import SUBPROTOCOL_V2

from .delivery import Outcome, Result
from .errors import OutboxError
from .outbox import Outbox
from .window import Window, WindowConfig

log = logging.getLogger(__name__)


class LinkState(str, enum.Enum):
    """Where the uplink is in its life."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RETRYING = "retrying"


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    """Server URL, credentials, window and reconnect timing."""

    url: str
    token: str | None = None
    window: WindowConfig = WindowConfig()
    poll_interval: float = 0.5
    adopt_batch: int = 200  # outside rows adopted per transaction
    offer_v2: bool = True  # offer protocol v2 (binary frames); v1 when the server does not take it
    reconnect_min: float = 3.1
    reconnect_max: float = 90.0
    open_timeout: float = 10.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    stop_grace: float = 2.0


@dataclass(frozen=True, slots=True)
class UplinkStatus:
    """A snapshot for the control API and the health monitor."""

    state: LinkState
    url: str
    running: bool
    connected_since: float | None = None
    last_delivery_at: float | None = None
    delivered: int = 0
    rejected: int = 0
    retried: int = 0
    in_flight: int = 0
    last_error: str = ""
    protocol: str = ""  # "v2" or "v1": what the current (or last) connection speaks


class DeadLink(Exception):
    """No answer within the window's timeout: the connection is treated as dead."""


class Uplink:
    """Delivers outbox rows; runs as a task on the agent's event loop."""

    def __init__(self, outbox: Outbox, config: UplinkConfig, local_tz: tzinfo):
        self.outbox = outbox
        self.config = config
        self.local_tz = local_tz
        self._status = UplinkStatus(LinkState.STOPPED, config.url, running=False)
        self._status_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._adopter: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._window: Window | None = None
        self._stopping = False

    # ------------------------------------------------------------------ control (any thread)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the event loop that will run the uplink (call once, before start)."""
        self._loop = loop

    def start(self) -> None:
        """Start delivering (idempotent)."""
        self._call(self._start)

    def stop(self) -> None:
        """Stop delivering: wait briefly for answers, then return rows in flight to pending."""
        self._call(self._stop)

    def restart(self) -> None:
        """Stop, then start again (a fresh connection)."""
        self._call(self._restart)

    def wake(self) -> None:
        """Tell the uplink new rows are waiting (cheap; safe from any thread)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def status(self) -> UplinkStatus:
        """The current state and counters."""
        with self._status_lock:
            window = self._window
            return replace(self._status, in_flight=len(window) if window else 0)

    def _call(self, coro_fn) -> None:
        if self._loop is None:
            raise RuntimeError("uplink is not bound to an event loop")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("call the async variant from the uplink's own loop")
        asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(timeout=30)

    # ------------------------------------------------------------------ control (event loop)

    async def _start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._update(state=LinkState.CONNECTING, running=True)
        self._task = asyncio.create_task(self._connect_loop(), name="uplink")
        self._adopter = asyncio.create_task(self._adopt_loop(), name="uplink-adopter")

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        adopter, self._adopter = self._adopter, None
        if adopter is not None:
            adopter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await adopter
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._window is not None:  # connected: give answers in flight a moment to arrive
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), self.config.stop_grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self._set_state(LinkState.STOPPED, "")
        self._update(running=False)

    async def _restart(self) -> None:
        await self._stop()
        await self._start()

    start_async, stop_async, restart_async = _start, _stop, _restart

    # ------------------------------------------------------------------ status bookkeeping

    def _update(self, **changes) -> None:
        with self._status_lock:
            self._status = replace(self._status, **changes)

    def _set_state(self, state: LinkState, error: str) -> None:
        """Change state; log the transition once, never the repeats."""
        with self._status_lock:
            previous = self._status.state
            since = time.time() if state is LinkState.CONNECTED else None
            self._status = replace(self._status, state=state, last_error=error or self._status.last_error,
                                   connected_since=since)
        if state is previous:
            return
        if state is LinkState.CONNECTED:
            log.info("uplink connected to %s", self.config.url)
        elif state is LinkState.RETRYING:
            log.warning("uplink to %s lost: %s (reconnecting with back-off)", self.config.url, error)
        elif state is LinkState.STOPPED:
            log.info("uplink stopped")

    def _process_exception(self, exc: Exception) -> Exception | None:
        """Every failure to connect is retryable; remember why for the status page."""
        if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403):
            reason = f"server refused the token (HTTP {exc.response.status_code}); check CHECKPOINT_TOKEN"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        self._set_state(LinkState.RETRYING, reason)
        return None

    # ------------------------------------------------------------------ the loop

    async def _connect_loop(self) -> None:
        headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else None
        delays = functools.partial(backoff, min_delay=self.config.reconnect_min,
                                   max_delay=self.config.reconnect_max,
                                   initial_delay=self.config.reconnect_min)
        async for ws in connect(self.config.url, additional_headers=headers, compression=None,
                                subprotocols=[SUBPROTOCOL_V2] if self.config.offer_v2 else None,
                                open_timeout=self.config.open_timeout, max_size=1 << 20,
                                ping_interval=self.config.ping_interval,
                                ping_timeout=self.config.ping_timeout,
                                process_exception=self._process_exception, reconnect_delays=delays):
            self._set_state(LinkState.CONNECTED, "")
            opened = time.monotonic()
            try:
                await self._session(ws)
            except (ConnectionClosed, DeadLink, OSError, OutboxError) as exc:
                # OutboxError: the database was locked or unwritable; keep trying, never die
                self._set_state(LinkState.RETRYING, f"{type(exc).__name__}: {exc}")
                if time.monotonic() - opened < 2 * self.config.reconnect_min:
                    # websockets resets its back-off after any successful handshake; a server
                    # that accepts and drops at once would otherwise be hammered.
                    await asyncio.sleep(self.config.reconnect_min * (0.5 + random.random()))
                continue
            if self._stopping:
                await ws.close()
                return

    async def _session(self, ws: ClientConnection) -> None:
        """Run one connection until it fails or the uplink stops; leave no row in flight."""
        # A claim cancelled with an earlier session may have committed after that session ended.
        await asyncio.to_thread(self.outbox.release_all_in_flight)
        window = Window(self.config.window, self.local_tz, v2=ws.subprotocol == SUBPROTOCOL_V2)
        self._update(protocol="v2" if window.v2 else "v1")
        self._window = window
        room = asyncio.Event()
        outcomes: list[Outcome] = []
        recorded = asyncio.Event()
        receiver = asyncio.create_task(self._receive(ws, window, outcomes, room, recorded))
        recorder = asyncio.create_task(self._record(outcomes, recorded))
        try:
            await self._send(ws, window, room, (receiver, recorder))
        finally:
            receiver.cancel()
            recorder.cancel()
            await asyncio.gather(receiver, recorder, return_exceptions=True)
            with contextlib.suppress(OutboxError):  # unapplied answers: those rows get resent
                await self._flush(outcomes)
            window.drain()
            self._window = None
            # One uplink per outbox: after the answers are applied, any row still in flight is
            # unanswered — including rows claimed while the link died (the claim ran in a thread
            # and never reached the window). All go back to pending.
            with contextlib.suppress(OutboxError):  # else reset when the next session starts
                await asyncio.to_thread(self.outbox.release_all_in_flight)

    async def _send(self, ws: ClientConnection, window: Window, room: asyncio.Event,
                    helpers: tuple[asyncio.Task, ...]) -> None:
        batch_at = max(1, self.config.window.size // 4)
        while True:
            for task in helpers:
                if task.done():
                    task.result()  # re-raises ConnectionClosed (receiver) or OutboxError (recorder)
                    raise ConnectionClosed(None, None)
            now = time.time()
            if window.dead(now):
                raise DeadLink(f"no answer for {self.config.window.ack_timeout:.0f} s")
            if self._stopping:
                if not len(window):
                    return
                await self._wait(room, self.config.poll_interval)
                continue
            if window.free() < batch_at and len(window):
                await self._wait(room, 1.0)
                continue
            items = await asyncio.to_thread(self.outbox.claim, window.free())
            if not items:
                await self._wait(self._wake, self.config.poll_interval)
                continue
            # Every claimed row enters the window before the first send: if the link dies
            # mid-burst, the window knows them all and the session's end releases them.
            frames = [window.send(item, now) for item in items]
            for frame in frames:
                await ws.send(frame)

    async def _adopt_loop(self) -> None:
        """Adopt rows other programs inserted, batch after batch while there are any, else poll.

        Runs beside the sender: claims never wait for an adoption (the SQLite lock is held
        only for each batch's short UPDATE; reading and copying pictures happen outside it).
        Each adopted batch wakes the sender. A failing database is logged once and retried.
        """
        failing = False
        while True:
            try:
                adopted = await asyncio.to_thread(self.outbox.prepare_outside_rows, self.config.adopt_batch)
            except OutboxError as exc:
                if not failing:
                    log.warning("cannot adopt rows other programs inserted: %s (retrying)", exc)
                failing, adopted = True, 0
            else:
                if failing:
                    log.info("adopting rows other programs inserted recovered")
                failing = False
            if adopted:
                self._wake.set()
            if adopted < self.config.adopt_batch:
                await asyncio.sleep(self.config.poll_interval)

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    async def _receive(self, ws: ClientConnection, window: Window, outcomes: list[Outcome],
                       room: asyncio.Event, recorded: asyncio.Event) -> None:
        async for raw in ws:
            received = window.receive_all(raw, time.time())
            if None in received:
                log.warning("answer matches no message in flight: %.200r", raw)
            outcomes.extend(outcome for outcome in received if outcome is not None)
            recorded.set()
            room.set()

    async def _record(self, outcomes: list[Outcome], pending: asyncio.Event) -> None:
        while True:
            await pending.wait()
            pending.clear()
            await self._flush(outcomes)

    async def _flush(self, outcomes: list[Outcome]) -> None:
        """Apply and count the outcomes gathered so far (one transaction)."""
        if not outcomes:
            return
        batch = outcomes[:]
        del outcomes[:]
        await asyncio.to_thread(self.outbox.apply, batch)
        self._count(batch)

    def _count(self, batch: list[Outcome]) -> None:
        delivered = sum(1 for o in batch if o.result is Result.DELIVERED)
        rejected = sum(1 for o in batch if o.result is Result.REJECTED)
        for o in batch:
            if o.result is Result.REJECTED:
                log.warning("server rejected %s row %d: %s", o.kind.value, o.row_id, o.reason)
        with self._status_lock:
            s = self._status
            self._status = replace(
                s, delivered=s.delivered + delivered, rejected=s.rejected + rejected,
                retried=s.retried + len(batch) - delivered - rejected,
                last_delivery_at=time.time() if delivered else s.last_delivery_at)
