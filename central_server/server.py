"""Runs the ingest: storage writer, WebSocket server, presence, jobs, clean shutdown.

``run`` is what ``python -m central_server`` calls; tests call it too with
port 0 and their own ``stop`` event. SIGTERM/SIGINT set ``stop``; shutdown then
answers every message already taken (after its commit), closes connections with
1001 and returns, so the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
from collections.abc import Callable, Sequence

from websockets.asyncio.server import serve

from fleet_protocol import SUBPROTOCOL_V2
from fleet_store import db, live
from fleet_store.alerts import WatchMatcher

from .config import IngestSettings
from .dispatch import Dispatcher
from .images import ImageStore
from .ingest import Ingest
from .jobs import start_scheduler
from .notify import make_channels
from .store import GroupCommitWriter

log = logging.getLogger(__name__)


async def run(settings: IngestSettings, stop: asyncio.Event | None = None,
              ready: Callable[[int], None] | None = None, migrate: bool = True,
              handle_signals: bool = True) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT); ``ready(port)`` once listening."""
    stop = stop or asyncio.Event()
    _raise_fd_limit()
    engine = db.make_engine(settings.central_db_url)
    if migrate:
        await asyncio.to_thread(db.upgrade, engine)
    settings.image_dir.mkdir(parents=True, exist_ok=True)
    dispatcher = Dispatcher(engine, make_channels(settings), settings.alert_retry_base_seconds,
                            settings.alert_retry_max_seconds)
    writer = GroupCommitWriter(engine, ImageStore(settings.image_dir),
                               matcher=WatchMatcher(settings.alert_channels), on_alerts=dispatcher.wake)
    writer.start()
    dispatcher.start()
    live_events = live.make_live_events(settings.redis_url)
    ingest = Ingest(settings, engine, writer, live_events, dispatcher.stats)
    if handle_signals:
        _install_signal_handlers(stop)
    # What start-up loaded (SQLAlchemy, Alembic, websockets: ~10^5 objects) lives as long as the
    # process; frozen, the collector stops walking it on every full collection under load
    # (collection 20 -> 13 µs a detection in bench.wire). Collected first, so no garbage is frozen.
    gc.collect()
    gc.freeze()
    try:
        async with serve(ingest.handler, settings.ingest_host, settings.ingest_port,
                         process_request=ingest.process_request, compression=None,
                         select_subprotocol=select_subprotocol,
                         max_size=settings.ingest_max_message_bytes * 2,
                         # 0: reading pauses as soon as one frame waits (docs/operations.md, Memory)
                         max_queue=settings.ingest_max_queue,
                         reuse_port=settings.ingest_reuse_port or None) as server:
            port = server.sockets[0].getsockname()[1]
            log.info("ingest: listening on %s:%d (db %s)", settings.ingest_host, port, engine.url.render_as_string())
            background = [_watched(ingest.presence.run(), "presence"),
                          _watched(ingest.revocation_watch(settings.ingest_token_recheck_seconds,
                                                           settings.ingest_token_recheck_grace), "revocation watch")]
            scheduler = start_scheduler(settings, engine, live_events, wake=dispatcher.wake)
            if ready:
                ready(port)
            await stop.wait()
            log.info("ingest: shutting down; answering in-flight messages")
            scheduler.shutdown(wait=False)
            await ingest.drain(server)
            for task in background:
                task.cancel()
            await ingest.presence.flush()
    finally:
        await asyncio.to_thread(writer.stop)
        await asyncio.to_thread(dispatcher.stop)
        await live_events.close()
        engine.dispose()
        log.info("ingest: stopped (%d rows stored in %d batches)", writer.stats["rows"], writer.stats["batches"])


def select_subprotocol(_connection, offered: Sequence[str]) -> str | None:
    """``aicamera.v2`` when the sender offers it; otherwise v1, without a subprotocol (never a refusal)."""
    return SUBPROTOCOL_V2 if SUBPROTOCOL_V2 in offered else None


def _watched(coro, name: str) -> asyncio.Task:
    """A background task that must run until shutdown; if it ever ends otherwise, say so loudly."""
    task = asyncio.create_task(coro, name=name)

    def ended(task: asyncio.Task) -> None:
        if task.cancelled():
            return
        error = task.exception()
        log.critical("ingest: background task %r ended unexpectedly: %r", name, error, exc_info=error)

    task.add_done_callback(ended)
    return task


def _raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one: each checkpoint holds a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info("ingest: open-files limit raised from %d to %d", soft, hard)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
