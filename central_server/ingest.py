"""The WebSocket ingest: many checkpoints at once, each message acked after its commit.

Thin I/O shell: parsing and validation are ``fleet_protocol.parse_message``,
durability is :class:`~central_server.store.GroupCommitWriter`. Here we only
authenticate handshakes, move frames, keep per-connection order and limits,
and report connection state.

Per connection, answers leave in the order messages arrived (so old senders
without ``event_id`` can match them by order) while up to ``max_inflight``
messages wait for their commit at once (so pipelined senders get throughput).
When that window is full we stop reading: TCP backpressure does the rest.

A connection that negotiated the subprotocol ``aicamera.v2`` may also send v2
binary frames, and gets its answers batched: every answer ready at once (a
group commit settles many) leaves in one frame.
"""

from __future__ import annotations

import asyncio
import collections
import http
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine
from websockets.asyncio.server import Server, ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from fleet_protocol import (
    SUBPROTOCOL_V2,
    ErrorCode,
    Limits,
    Message,
    ProtocolError,
    Table,
    encode_answers,
    error_answer,
    parse_frame_v2,
    parse_message,
    success_answer,
)
from fleet_store import live
from fleet_store.monitoring import address_allowed, parse_networks

from . import allowlist, auth, presence
from .config import IngestSettings
from .errors import StorageUnavailable
from .prometheus import CONTENT_TYPE, IngestMetrics
from .store import GroupCommitWriter, StoreResult

log = logging.getLogger(__name__)
_END = object()
_MAX_BATCH = 256  # answers per v2 frame


def limits_from(settings: IngestSettings) -> Limits:
    """Protocol limits for these settings."""
    return Limits(max_message_bytes=settings.ingest_max_message_bytes,
                  decode_images=settings.ingest_image_check == "decode")


@dataclass(eq=False)
class Session:
    """One open checkpoint connection."""

    ws: ServerConnection
    checkpoint_id: str | None  # None: anonymous legacy sender, bound by its first message
    token_hash: str | None
    remote: str
    answers: asyncio.Queue = field(default_factory=asyncio.Queue)
    errors: collections.deque = field(default_factory=collections.deque)
    announced: bool = False
    read: int = 0
    verified_at: float = field(default_factory=time.monotonic)  # last time its token was found still valid
    pending_bytes: int = 0  # size of the frames read and not yet answered
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    v2: bool = False  # negotiated aicamera.v2: binary frames accepted, answers batched


class Ingest:
    """State shared by all connections of one ingest process."""

    def __init__(self, settings: IngestSettings, engine: Engine, writer: GroupCommitWriter,
                 live_events: live.LiveEvents, dispatcher_stats: dict[str, int] | None = None):
        self.settings = settings
        self.engine = engine
        self.writer = writer
        self.live = live_events
        self.limits = limits_from(settings)
        self.tz = settings.tz
        self.sessions: set[Session] = set()
        self.presence = presence.Presence(writer, live_events)
        self.draining = False
        self._tasks: set[asyncio.Task] = set()
        self.dispatcher_stats = dispatcher_stats if dispatcher_stats is not None else {}
        self.metrics = IngestMetrics(engine, self._state)
        self.metrics_allowed = parse_networks(settings.ingest_metrics_allow)
        self.pending_bytes = 0  # frames read and not yet answered, all connections
        self._room = asyncio.Event()  # set while pending_bytes is under the total budget's low-water mark
        self._room.set()

    # ------------------------------------------------------------------ handshake

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer ``/healthz``; authenticate everything else before the upgrade."""
        if request.path.split("?")[0] == "/healthz":
            return self.healthz()
        if request.path.split("?")[0] == "/metrics":
            return await self.prometheus(connection)
        if request.path.split("?")[0] == allowlist.PATH:
            return await allowlist.answer(connection, request, self.engine)
        if len(self.sessions) >= self.settings.ingest_max_connections:
            log.warning("ingest: refused a connection from %s: %d connections open", _remote(connection),
                        len(self.sessions))
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many connections; retry later\n")
        header = request.headers.get("Authorization")
        connection.token_hash = None
        if header is None:
            if self.settings.ingest_allow_anonymous:
                connection.checkpoint_id = None
                return None
            return _refuse(connection, "missing 'Authorization: Bearer <token>' header")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 256:
            return _refuse(connection, "Authorization must be 'Bearer <token>'")
        checkpoint_id = await asyncio.to_thread(auth.checkpoint_for_token, self.engine, token)
        if checkpoint_id is None:
            log.info("ingest: refused handshake from %s: unknown or revoked token", _remote(connection))
            return _refuse(connection, "unknown or revoked token")
        if self._connections_of(checkpoint_id) >= self.settings.ingest_max_connections_per_checkpoint:
            return _too_many(connection, checkpoint_id)
        connection.checkpoint_id = checkpoint_id
        connection.token_hash = auth.hash_token(token)
        return None

    def _connections_of(self, checkpoint_id: str) -> int:
        return sum(1 for s in self.sessions if s.checkpoint_id == checkpoint_id)

    def healthz(self) -> Response:
        """200 with a JSON summary while storage works, 503 while it fails."""
        ok = self.writer.healthy
        # A code, not the driver's text: /healthz needs no login, and that text names hosts and users.
        body = {"status": "ok" if ok else "degraded", "connections": len(self.sessions),
                "queue_depth": self.writer.depth(), "store_error": "" if ok else "storage_unavailable",
                "stored": self.writer.stats,
                "draining": self.draining}
        status = http.HTTPStatus.OK if ok and not self.draining else http.HTTPStatus.SERVICE_UNAVAILABLE
        headers = Headers([("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return Response(status.value, status.phrase, headers, json.dumps(body).encode())

    async def prometheus(self, connection: ServerConnection) -> Response:
        """The Prometheus page, for addresses in ``INGEST_METRICS_ALLOW`` only (403 otherwise)."""
        if not _allowed(connection, self.metrics_allowed):
            log.info("ingest: refused /metrics to %s (not in INGEST_METRICS_ALLOW)", _remote(connection))
            return connection.respond(http.HTTPStatus.FORBIDDEN, "forbidden\n")
        body = await asyncio.to_thread(self.metrics.render)
        headers = Headers([("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store")])
        return Response(200, "OK", headers, body)

    def _state(self) -> dict[str, float]:
        stats = self.writer.stats
        return {"connections": len(self.sessions), "queue_depth": self.writer.depth(),
                "storage_healthy": 1.0 if self.writer.healthy else 0.0, "rows": stats["rows"],
                "batches": stats["batches"], "store_failures": stats["failures"],
                "alert_deliveries": self.dispatcher_stats.get("delivered", 0)}

    # ------------------------------------------------------------------ connections

    async def handler(self, ws: ServerConnection) -> None:
        """Serve one connection until it closes."""
        session = Session(ws, getattr(ws, "checkpoint_id", None), getattr(ws, "token_hash", None),
                          _remote(ws), asyncio.Queue(maxsize=self.settings.ingest_max_inflight),
                          v2=ws.subprotocol == SUBPROTOCOL_V2)
        if session.checkpoint_id and \
                self._connections_of(session.checkpoint_id) >= self.settings.ingest_max_connections_per_checkpoint:
            await ws.close(1013, "too many connections for this checkpoint; retry later")
            return
        self.sessions.add(session)
        sender = asyncio.create_task(self._send_answers(session))
        try:
            if session.checkpoint_id:
                await self._announce(session, session.checkpoint_id)
            await self._read(session)
        finally:
            await session.answers.put(_END)
            await sender
            self.sessions.discard(session)
            if session.announced:
                await self.presence.disconnected(session.checkpoint_id, session.remote)

    async def _read(self, session: Session) -> None:
        try:
            async for raw in session.ws:
                item, size = await self._handle(session, raw), len(raw)
                raw = None  # a paused connection holds its parsed message, not the frame too
                if isinstance(item, tuple):
                    self._hold(session, size)
                    item = (*item, size)
                await session.answers.put(item)
                await self._wait_for_room(session)
                session.read += 1
                if isinstance(item, dict) or session.read % 16 == 0:
                    # Buffered frames come without a pause, so one busy connection could hold
                    # the loop; yielding (always after a refusal) keeps others' latency.
                    await asyncio.sleep(0)
                if self._over_error_budget(session):
                    await session.answers.put(_rate_limited())
                    await session.answers.join()
                    log.warning("ingest: closing %s (%s): too many invalid messages",
                                session.remote, session.checkpoint_id)
                    await session.ws.close(1008, "too many invalid messages")
                    return
        except ConnectionClosed:
            pass

    async def _wait_for_room(self, session: Session) -> None:
        """Stop reading while this connection's unanswered frames exceed INGEST_MAX_INFLIGHT_BYTES,
        or while all connections' exceed INGEST_MAX_INFLIGHT_BYTES_TOTAL and this one has any.

        ``max_inflight`` bounds the count; this bounds the memory (each waiting message holds
        its decoded image): one token with big frames pins megabytes, not hundreds of them, and
        a hundred busy connections share one budget. A connection with nothing unanswered may
        always take one message, so none starves and the budget is exceeded by at most one
        message per connection.
        """
        while True:
            if session.pending_bytes > self.settings.ingest_max_inflight_bytes:
                session.drained.clear()
                await session.drained.wait()
            elif session.pending_bytes and self.pending_bytes > self.settings.ingest_max_inflight_bytes_total:
                await self._room.wait()
            else:
                return

    def _hold(self, session: Session, size: int) -> None:
        session.pending_bytes += size
        self.pending_bytes += size
        if self.pending_bytes > self.settings.ingest_max_inflight_bytes_total:
            self._room.clear()

    def _release(self, session: Session, size: int) -> None:
        session.pending_bytes -= size
        session.drained.set()
        self.pending_bytes -= size
        # Low-water mark at 3/4: paused connections wake together once, not on every answer.
        if not self._room.is_set() and self.pending_bytes <= self.settings.ingest_max_inflight_bytes_total * 3 // 4:
            self._room.set()

    async def _handle(self, session: Session, raw: str | bytes) -> Any:
        """Validate one frame; return an error answer dict or ``(message, commit future)``."""
        try:
            if self.draining:
                raise ProtocolError(ErrorCode.UNAVAILABLE, "server is shutting down; retry shortly")
            if isinstance(raw, bytes) and not session.v2:
                raise ProtocolError(ErrorCode.INVALID_MESSAGE, "binary frames are not part of protocol v1 "
                                    f"(negotiate the subprotocol {SUBPROTOCOL_V2})")
            parse = parse_frame_v2 if isinstance(raw, bytes) else parse_message
            now = datetime.now(UTC)  # one reading per message: parsing's bound, last seen, received_at
            if self.limits.decode_images:  # Pillow decodes for 0.2-0.8 ms with the GIL released: not on the loop
                message = await asyncio.to_thread(parse, raw, local_tz=self.tz, now=now, limits=self.limits)
            else:  # ~25-50 µs of Python: a thread hand-off would cost more than it frees
                message = parse(raw, local_tz=self.tz, now=now, limits=self.limits)
            await self._bind(session, message)
        except ProtocolError as error:
            if not error.code.retryable:
                session.errors.append(time.monotonic())
            return error_answer(error)
        except Exception:  # a parser bug must cost one answer, not the connection
            log.exception("ingest: unexpected error handling a message from %s", session.checkpoint_id)
            session.errors.append(time.monotonic())
            return error_answer(ProtocolError(ErrorCode.INTERNAL_ERROR, "internal error; the message was not stored"))
        self.presence.seen(message.checkpoint_id, now)
        return message, self.writer.submit(message, now)

    async def _bind(self, session: Session, message: Message) -> None:
        if session.checkpoint_id is None:  # anonymous: the first message names the checkpoint
            await self._check_anonymous(message)
            session.checkpoint_id = message.checkpoint_id
            await self._announce(session, message.checkpoint_id)
        elif message.checkpoint_id != session.checkpoint_id:
            raise ProtocolError(ErrorCode.CHECKPOINT_MISMATCH,
                                f"this connection's token belongs to checkpoint {session.checkpoint_id!r}, "
                                f"not {message.checkpoint_id!r}", message.event_id)

    async def _check_anonymous(self, message: Message) -> None:
        """Refuse an anonymous sender an id with a token, one no operator allowed, or one already full."""
        try:
            allowed = await asyncio.to_thread(auth.anonymous_allowed, self.engine, message.checkpoint_id)
        except Exception as exc:  # the database is down: retry later, never guess
            raise ProtocolError(ErrorCode.UNAVAILABLE, "cannot check the checkpoint id; retry later",
                                message.event_id) from exc
        if not allowed:
            raise ProtocolError(ErrorCode.CHECKPOINT_MISMATCH,
                                f"checkpoint {message.checkpoint_id!r} does not accept senders without a token "
                                "(an operator registers it with 'checkpoints add ID --anonymous')", message.event_id)
        if self._connections_of(message.checkpoint_id) >= self.settings.ingest_max_connections_per_checkpoint:
            raise ProtocolError(ErrorCode.RATE_LIMITED, f"too many connections for checkpoint "
                                f"{message.checkpoint_id!r}; retry later", message.event_id)

    async def _announce(self, session: Session, checkpoint_id: str) -> None:
        session.announced = True
        await self.presence.connected(checkpoint_id, session.remote,
                                      anonymous=session.token_hash is None)

    def _over_error_budget(self, session: Session) -> bool:
        cutoff = time.monotonic() - 60
        while session.errors and session.errors[0] < cutoff:
            session.errors.popleft()
        return len(session.errors) > self.settings.ingest_error_budget

    async def _send_answers(self, session: Session) -> None:
        """Send answers in arrival order; keep draining after the peer is gone.

        v1: one answer per frame. v2: after the oldest answer, every following one that is
        already settled joins it in the same frame (stopping at the first still waiting for
        its commit, so order holds and nothing ready waits for something that is not).
        """
        open_, head = True, None
        while True:
            item = head if head is not None else await session.answers.get()
            head = None
            if item is _END:
                session.answers.task_done()
                return
            answers = [await self._settle(session, item)]
            while session.v2 and len(answers) < _MAX_BATCH and not session.answers.empty():
                item = session.answers.get_nowait()
                if item is _END or (isinstance(item, tuple) and not item[1].done()):
                    head = item
                    break
                answers.append(await self._settle(session, item))
            if open_:
                try:
                    frame = encode_answers(answers) if session.v2 else orjson.dumps(answers[0])
                    await session.ws.send(frame, text=True)
                except ConnectionClosed:
                    open_ = False

    async def _settle(self, session: Session, item: Any) -> dict[str, Any]:
        """The answer for one queued item (waiting for its commit), its bytes released."""
        try:
            if not isinstance(item, tuple):
                return item
            answer = await self._answer_for(item)
            self._release(session, item[2])
            return answer
        finally:
            session.answers.task_done()

    async def _answer_for(self, item: tuple[Message, asyncio.Future, int]) -> dict[str, Any]:
        message, future, _size = item
        try:
            result: StoreResult = await future
        except StorageUnavailable as exc:
            self.metrics.answered(message.table.value, "unavailable")
            return error_answer(ProtocolError(ErrorCode.UNAVAILABLE,
                                              f"storage unavailable, retry later ({exc})", message.event_id))
        self._count(message, result)
        if self.live.enabled and result.record is not None:
            self._spawn(self.live.publish(result.record.live_event()))
            for alert in result.alerts:
                self._spawn(self.live.publish(alert.live_event()))
        return success_answer(result.record_id, message.table.value, message.event_id, result.duplicate)

    def _count(self, message: Message, result: StoreResult) -> None:
        self.metrics.answered(message.table.value, "duplicate" if result.duplicate else "stored")
        if result.record is not None:
            self.metrics.store_seconds.observe((datetime.now(UTC) - result.record.received_at).total_seconds())
            if message.table is Table.LPR_DETECTION:
                self.metrics.detection_stored(message.checkpoint_id)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ shutdown

    async def drain(self, server: Server, timeout: float = 20.0) -> None:
        """Stop taking messages, answer every one already taken, then close all connections."""
        self.draining = True
        server.close(close_connections=False)
        sessions = list(self.sessions)
        waits = [asyncio.create_task(s.answers.join()) for s in sessions]
        if waits:
            await asyncio.wait(waits, timeout=timeout)
        closes = [asyncio.create_task(s.ws.close(1001, "server shutting down")) for s in sessions]
        if closes:
            await asyncio.wait(closes, timeout=5)
        await asyncio.wait_for(server.wait_closed(), timeout=10)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    async def revocation_watch(self, interval: float = 15.0, grace_rounds: int = 3) -> None:
        """Every ``interval`` s, close connections whose token was revoked or rotated (or whose
        anonymous id was withdrawn).

        A round that cannot reach the database is logged once and the watch goes on. A
        connection that could not be re-checked for ``grace_rounds`` rounds is closed (fail
        closed, code 1013): its sender reconnects and is authenticated afresh.
        """
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                await self._recheck_sessions()
            except Exception as exc:
                if not failing:
                    log.error("ingest: cannot re-check the tokens of open connections (%s); connections "
                              "unchecked for %d rounds will be closed", f"{type(exc).__name__}: {exc}"[:200],
                              grace_rounds)
                failing = True
                await self._close_unverified(interval * grace_rounds)
                continue
            if failing:
                log.info("ingest: re-checking tokens of open connections recovered")
                failing = False

    async def _recheck_sessions(self) -> None:
        for session in list(self.sessions):
            if session.checkpoint_id is None:  # anonymous and not bound yet: nothing to check
                session.verified_at = time.monotonic()
                continue
            if session.token_hash:
                valid = await asyncio.to_thread(auth.token_still_valid, self.engine,
                                                session.checkpoint_id, session.token_hash)
            else:
                valid = await asyncio.to_thread(auth.anonymous_allowed, self.engine, session.checkpoint_id)
            if valid:
                session.verified_at = time.monotonic()
            else:
                log.info("ingest: closing %s: token revoked", session.checkpoint_id)
                await session.ws.close(1008, "token revoked")

    async def _close_unverified(self, max_age: float) -> None:
        cutoff = time.monotonic() - max_age
        stale = [s for s in self.sessions if s.verified_at < cutoff]
        for session in stale:
            log.warning("ingest: closing %s: its token could not be re-checked", session.checkpoint_id)
        if stale:
            await asyncio.wait([asyncio.create_task(s.ws.close(1013, "cannot re-check the token; reconnect"))
                                for s in stale], timeout=15)

def _refuse(connection: ServerConnection, reason: str) -> Response:
    response = connection.respond(http.HTTPStatus.UNAUTHORIZED, reason + "\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="ingest"'
    return response


def _too_many(connection: ServerConnection, checkpoint_id: str) -> Response:
    log.warning("ingest: refused a connection of %s from %s: too many open", checkpoint_id, _remote(connection))
    return connection.respond(http.HTTPStatus.TOO_MANY_REQUESTS,
                              f"too many connections for checkpoint {checkpoint_id}; retry later\n")


def _rate_limited() -> dict[str, Any]:
    return error_answer(ProtocolError(ErrorCode.RATE_LIMITED,
                                      "too many invalid messages; closing the connection"))


def _remote(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"



def _allowed(connection: ServerConnection, networks: list) -> bool:
    address = connection.remote_address[0] if connection.remote_address else ""
    return address_allowed(address, networks)
