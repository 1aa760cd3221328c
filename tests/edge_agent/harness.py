"""Run the real edge agent for tests: in-process (same loop as an in-process ingest) or as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from edge_agent.agent import Agent, identity, outbox_config
from edge_agent.config import AgentSettings, load_settings
from edge_agent.delivery import Kind
from edge_agent.events import PlateEvent
from edge_agent.outbox import Outbox
from edge_agent.outbox_reader import Backlog, OutboxReader
from fleet_store.schema import lpr_detections
from tests.support.processes import terminate

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = float(os.environ.get("TEST_TIME_SCALE", "1"))  # raise on a slow machine: every wait scales
FAST = dict(edge_reconnect_min_s=0.05, edge_reconnect_max_s=0.3, edge_health_interval_s=3600,
            edge_cleanup_interval_s=3600, edge_db_synchronous="NORMAL", edge_api_port=0,
            camera_source="/nonexistent-camera", fleet_timezone="UTC", edge_vision=False)


def edge_settings(tmp_path: Path, url: str, token: str | None, **overrides: Any) -> AgentSettings:
    """Agent settings for a test: checkpoint '1', outbox under ``tmp_path``, fast reconnects."""
    values: dict[str, Any] = dict(FAST, websocket_server_url=url, checkpoint_id="1",
                                  checkpoint_token=token, db_path=tmp_path / "edge" / "lpr_data.db")
    values.update(overrides)
    return load_settings(None, **values)


def no_vision(settings, sink):
    """The vision loader of an agent run with EDGE_VISION=0 (delivers the outbox only)."""
    return None, "disabled (EDGE_VISION=0)"


def fill_outbox(settings: AgentSettings, count: int, jpeg: bytes, prefix: str = "T") -> list[str]:
    """Submit ``count`` plate events through the real outbox; return their event ids."""
    outbox = Outbox.open(outbox_config(settings), identity(settings))
    try:
        now = datetime.now(UTC)
        return [outbox.submit(PlateEvent(f"{prefix}{i}", 90.0, now, jpeg)) for i in range(count)]
    finally:
        outbox.close()


def edge_backlog(settings: AgentSettings, kind: Kind = Kind.DETECTION) -> Backlog:
    """Rows per delivery state, read through a separate read-only connection (the agent may be running)."""
    with OutboxReader.open_read_only(settings.db_path) as reader:
        return reader.backlog(kind)


def stored(engine, table=lpr_detections) -> list[Any]:
    """All rows the central server stored in ``table``."""
    with engine.connect() as conn:
        return list(conn.execute(select(table)))


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (in a thread: it may touch SQLite) until true or fail after ``timeout``."""
    timeout *= TIME_SCALE
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_agent(settings: AgentSettings, vision_loader=no_vision) -> AsyncIterator[Agent]:
    """Run an Agent on this event loop until the block ends (then stop it cleanly)."""
    agent = Agent(settings, vision_loader)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    while agent.running is None:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 20 * TIME_SCALE)


def agent_env(settings: AgentSettings) -> dict[str, str]:
    """Environment for ``python -m edge_agent`` with these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_", "WEBSOCKET_", "CHECKPOINT_"))}
    for key, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, tuple):  # list settings are comma-separated in the environment
            value = ",".join(map(str, value))
        env[key.upper()] = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    env["PYTHONPATH"] = str(REPO)
    return env


@contextlib.contextmanager
def agent_process(settings: AgentSettings, log_path: Path) -> Iterator[subprocess.Popen]:
    """Run ``python -m edge_agent`` as a subprocess; SIGTERM (then kill) it on exit."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "edge_agent"], env=agent_env(settings),
                                   cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            terminate(process, 20)
