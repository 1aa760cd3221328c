"""A real stack for browser tests and benchmarks: ingest and dashboard processes, checkpoint senders.

The ingest is ``python -m central_server`` (tests.support.ingest), the
dashboard ``python -m dashboard`` (gunicorn), both on 127.0.0.1 with OS-chosen
free ports; checkpoints speak wire protocol v1 over a real WebSocket.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from websockets.sync.client import connect

from fleet_protocol import Detection, HealthReport, encode_message
from tests.support.ingest import REPO, _free_port
from tests.support.processes import terminate, wait_http

BANGKOK = ZoneInfo("Asia/Bangkok")
ADMIN_PASSWORD = "browser-admin-1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@dataclass
class Dashboard:
    """A running dashboard process."""

    url: str
    port: int
    process: subprocess.Popen


def dashboard_env(db_url: str, image_dir: Path, port: int, var: Path, redis_url: str | None = None,
                  **extra: str) -> dict[str, str]:
    """Environment for ``python -m dashboard`` on 127.0.0.1:``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHBOARD_", "CENTRAL_", "REDIS_"))}
    env.update(CENTRAL_DB_URL=db_url, IMAGE_DIR=str(image_dir), DASHBOARD_HOST="127.0.0.1",
               DASHBOARD_PORT=str(port), DASHBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
               DASHBOARD_SECRET_FILE=str(var / "dashboard-secret.key"), LOG_FORMAT="text",
               PYTHONPATH=str(REPO), **extra)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@contextlib.contextmanager
def dashboard_process(env: dict[str, str], log_path: Path | None = None) -> Iterator[Dashboard]:
    """Run ``python -m dashboard`` with ``env``; SIGTERM it on exit."""
    port = int(env["DASHBOARD_PORT"])
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "dashboard"], env=env, cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/login")
        yield Dashboard(f"http://127.0.0.1:{port}", port, process)
    finally:
        terminate(process, 20)
        if log_path:
            log.close()


def free_port() -> int:
    return _free_port()


class Checkpoint:
    """A checkpoint speaking protocol v1 over a real WebSocket (blocking; one message in flight)."""

    def __init__(self, ingest_url: str, checkpoint_id: str, token: str):
        self.checkpoint_id = checkpoint_id
        self._exit = contextlib.ExitStack()
        self.ws = self._exit.enter_context(connect(ingest_url, additional_headers={
            "Authorization": f"Bearer {token}"}))

    def send(self, message: Detection | HealthReport) -> dict:
        """Send one message and return the server's answer."""
        self.ws.send(encode_message(message, BANGKOK))
        return json.loads(self.ws.recv(timeout=10))

    def detection(self, plate: str, image: bytes | None = None, confidence: float = 91.5, **fields) -> dict:
        return self.send(Detection(checkpoint_id=self.checkpoint_id, license_plate=plate, confidence=confidence,
                                   timestamp=datetime.now(UTC), hostname="test-pi", image=image,
                                   event_id=str(uuid.uuid4()), **fields))

    def health(self, component: str, status: str, message: str = "", **system_info) -> dict:
        return self.send(HealthReport(checkpoint_id=self.checkpoint_id, component=component, status=status,
                                      timestamp=datetime.now(UTC), hostname="test-pi", message=message,
                                      system_info=system_info, event_id=str(uuid.uuid4())))

    def close(self) -> None:
        self._exit.close()
