"""Edge-side scenarios with the real processes: central killed under load, edge killed mid-send.

Detections enter each edge's outbox through the real ``Outbox.submit`` from a
producer thread (as the vision pipeline or an outside program would) while
``python -m edge_agent`` processes deliver them to ``python -m central_server``.
Afterwards the central database must hold every produced event exactly once,
with an image file matching its sha256.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from central_server import auth, db
from central_server.schema import lpr_detections
from chaos.report import Outcome
from edge_agent.agent import identity, outbox_config
from edge_agent.events import PlateEvent
from edge_agent.outbox import Outbox
from tests.edge_agent.harness import agent_process, edge_counts, edge_settings
from tests.support.images import scene_jpeg
from tests.support.ingest import REPO, _free_port, ingest_env, ingest_settings, wait_healthy


class Central:
    """``python -m central_server`` on a fixed port that can be SIGKILLed and restarted."""

    def __init__(self, workdir: Path):
        self.settings = ingest_settings(f"sqlite:///{workdir / 'central.db'}", workdir)
        self.port = _free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.log = open(workdir / "central.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen | None = None
        self.engine = db.make_engine(self.settings.central_db_url)
        db.upgrade(self.engine)

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "central_server"], cwd=REPO,
                                        env=ingest_env(self.settings, self.port), stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_healthy(self.port, 60)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.engine.dispose()
        self.log.close()

    def stored_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM lpr_detections").scalar()


def produce(settings, count: int, seconds: float, jpeg: bytes, produced: list[str]) -> None:
    """Submit ``count`` plate events into one edge outbox, spread over ``seconds``."""
    outbox = Outbox.open(outbox_config(settings), identity(settings))
    try:
        batch = max(1, count // max(1, int(seconds * 10)))
        for start in range(0, count, batch):
            now = datetime.now(UTC)
            events = [PlateEvent(f"K{start + i}", 90.0, now, jpeg) for i in range(min(batch, count - start))]
            produced.extend(outbox.submit_many(events))
            time.sleep(seconds / max(1, count / batch))
    finally:
        outbox.close()


def verify(central: Central, produced: list[str], name: str, recovery: float | None) -> Outcome:
    """Compare what was produced with what the central stored; check every image file."""
    with central.engine.connect() as conn:
        rows = conn.execute(select(lpr_detections.c.event_id, lpr_detections.c.image_path,
                                   lpr_detections.c.image_sha256)).all()
    counts = collections.Counter(r.event_id for r in rows)
    bad_images = sum(1 for r in rows if not _image_ok(central.settings.image_dir / r.image_path, r.image_sha256))
    outcome = Outcome(name, len(produced), len(counts), sum(c - 1 for c in counts.values() if c > 1),
                      len(set(produced) - set(counts)), recovery)
    outcome.notes.append(f"{bad_images} image files missing or not matching sha256")
    outcome.extra = {"bad_images": bad_images, "unexpected": len(set(counts) - set(produced))}
    return outcome


def _image_ok(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def _drained(settings_list, produced_total: int) -> bool:
    delivered = sum(edge_counts(s).get("delivered", 0) for s in settings_list)
    return delivered >= produced_total


def central_killed(workdir: Path, edges: int = 5, total: int = 10_000, kills: int = 3,
                   seconds: float = 20.0, deadline: float = 300.0) -> Outcome:
    """Edges stream ``total`` detections while the central is SIGKILLed ``kills`` times."""
    central = Central(workdir)
    central.start()
    jpeg = scene_jpeg(seed=11)
    settings = [edge_settings(workdir / f"edge{i}", central.url,
                              auth.add_checkpoint(central.engine, f"edge{i}"), checkpoint_id=f"edge{i}",
                              edge_db_synchronous="FULL") for i in range(edges)]
    produced: list[str] = []
    recoveries = []
    with contextlib.ExitStack() as stack:
        for i, s in enumerate(settings):
            stack.enter_context(agent_process(s, workdir / f"edge{i}.log"))
        producers = [threading.Thread(target=produce, args=(s, total // edges, seconds, jpeg, produced))
                     for s in settings]
        for p in producers:
            p.start()
        for _ in range(kills):
            time.sleep(seconds / (kills + 1))
            central.kill()
            time.sleep(1.0)
            before = central.stored_count()
            restarted = time.monotonic()
            central.start()
            while central.stored_count() == before and time.monotonic() - restarted < 60:
                time.sleep(0.05)
            recoveries.append(time.monotonic() - restarted)
        for p in producers:
            p.join()
        end = time.monotonic() + deadline
        while not _drained(settings, len(produced)) and time.monotonic() < end:
            time.sleep(0.2)
    name = f"{edges} edges, {total} detections, central SIGKILLed {kills}x"
    outcome = verify(central, produced, name, max(recoveries))
    outcome.notes.insert(0, f"recovery = restart to first new stored row (max of {kills})")
    central.stop()
    return outcome


def edge_killed(workdir: Path, backlog: int = 3000, kills: int = 5, deadline: float = 180.0) -> Outcome:
    """An edge with a backlog is SIGKILLed mid-send ``kills`` times, then left to finish."""
    central = Central(workdir)
    central.start()
    settings = edge_settings(workdir / "edge", central.url, auth.add_checkpoint(central.engine, "edge"),
                             checkpoint_id="edge", edge_db_synchronous="FULL")
    produced: list[str] = []
    produce(settings, backlog, 0.0, scene_jpeg(seed=12), produced)
    mid_send = []
    for _ in range(kills):
        with agent_process(settings, workdir / "edge.log") as process:
            before = central.stored_count()
            while central.stored_count() - before < backlog // (kills * 3) and process.poll() is None:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            mid_send.append(central.stored_count())
    started = time.monotonic()
    with agent_process(settings, workdir / "edge.log"):
        end = started + deadline
        while not _drained([settings], backlog) and time.monotonic() < end:
            time.sleep(0.1)
    outcome = verify(central, produced, f"edge SIGKILLed mid-send {kills}x with a {backlog} backlog",
                     time.monotonic() - started)
    outcome.notes.insert(0, f"stored when killed: {mid_send}; recovery = last restart to drained")
    central.stop()
    return outcome
