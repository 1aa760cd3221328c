"""Run the real central ingest for tests: in-process (same event loop) or as a subprocess.

Both use a real WebSocket server on 127.0.0.1 with an OS-chosen port and a real
database (SQLite file or a throwaway PostgreSQL database).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from central_server import auth
from central_server.config import IngestSettings
from central_server.server import run
from fleet_store import db
from tests.support.processes import terminate, wait_http

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningIngest:
    """A started ingest: its ws:// URL, settings and engine (for assertions)."""

    url: str
    port: int
    settings: IngestSettings
    stop: asyncio.Event | None = None
    process: subprocess.Popen | None = None

    def engine(self):
        return db.make_engine(self.settings.central_db_url)

    def add_checkpoint(self, checkpoint_id: str) -> str:
        """Register a checkpoint and return its token."""
        engine = self.engine()
        try:
            return auth.add_checkpoint(engine, checkpoint_id)
        finally:
            engine.dispose()


def ingest_settings(db_url: str, tmp_path: Path, **overrides) -> IngestSettings:
    """Settings for a test ingest on 127.0.0.1, port 0, images under ``tmp_path``."""
    values = dict(central_db_url=db_url, image_dir=tmp_path / "images", ingest_host="127.0.0.1",
                  ingest_port=0, redis_url=None)
    values.update(overrides)
    return IngestSettings(**values)


@contextlib.asynccontextmanager
async def running_ingest(settings: IngestSettings) -> AsyncIterator[RunningIngest]:
    """Serve ``settings`` in this event loop; stop cleanly on exit."""
    stop = asyncio.Event()
    ready: asyncio.Future = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run(settings, stop=stop, ready=ready.set_result, handle_signals=False))
    port = await asyncio.wait_for(asyncio.shield(ready), 30)
    try:
        yield RunningIngest(f"ws://127.0.0.1:{port}", port, settings, stop=stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ingest_env(settings: IngestSettings, port: int) -> dict[str, str]:
    """Environment for ``python -m central_server`` with these settings on ``port``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INGEST_", "CENTRAL_", "REDIS_", "IMAGE_", "RETENTION_", "LOG_"))}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(int(value) if isinstance(value, bool) else value)
    env.update(INGEST_HOST="127.0.0.1", INGEST_PORT=str(port), LOG_FORMAT="text", PYTHONPATH=str(REPO))
    return env


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    """Block until ``/healthz`` answers on ``port``."""
    wait_http(f"http://127.0.0.1:{port}/healthz", timeout)


@contextlib.contextmanager
def ingest_process(settings: IngestSettings, port: int | None = None,
                   log_path: Path | None = None) -> Iterator[RunningIngest]:
    """Run ``python -m central_server`` as a subprocess; SIGTERM it on exit."""
    port = port or _free_port()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "central_server"], env=ingest_env(settings, port),
                               cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(port)
        yield RunningIngest(f"ws://127.0.0.1:{port}", port, settings, process=process)
    finally:
        terminate(process)
        if log_path:
            log.close()
