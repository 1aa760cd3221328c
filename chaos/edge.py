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

from central_server import auth
from chaos.report import Outcome
from edge_agent.agent import identity, outbox_config
from edge_agent.events import PlateEvent
from edge_agent.outbox import Outbox
from fleet_store import db
from fleet_store.schema import lpr_detections
from tests.edge_agent.harness import agent_process, edge_backlog, edge_settings
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
    """True when no edge has a row left to send (delivered rows may since have been pruned)."""
    backlogs = [edge_backlog(s) for s in settings_list]
    answered = sum(b.delivered + b.rejected for b in backlogs)
    unsent = sum(b.unsent for b in backlogs)
    return unsent == 0 and answered > 0 and produced_total > 0


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


# --------------------------------------------------------------------------- partition


def _probe(link, ns: str, host: str, port: int, timeout: float = 60.0) -> None:
    """Wait until ``host:port`` accepts TCP connections as seen from inside ``ns``."""
    code = (f"import socket,sys,time\nend=time.time()+{timeout!r}\nwhile time.time()<end:\n"
            f" try:\n  socket.create_connection(({host!r},{port}),1).close(); sys.exit(0)\n"
            " except OSError: time.sleep(0.1)\nsys.exit(1)")
    subprocess.run([*link.prefix(ns), sys.executable, "-c", code], check=True, timeout=timeout + 5)


def _status(central: Central, checkpoint_id: str) -> str:
    with central.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT status FROM checkpoints WHERE checkpoint_id = ?",
                                    (checkpoint_id,)).scalar()


def _wait_for(condition, timeout: float) -> float | None:
    """Seconds until ``condition()`` held, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def partition(workdir: Path, seconds: float = 60.0, heartbeat: int = 10, rate: float = 20.0,
              deadline: float = 180.0) -> Outcome:
    """Cut the network between an edge and the central for ``seconds``, then heal it."""
    from chaos.netns import veth_pair
    from tests.edge_agent.harness import agent_env

    with veth_pair() as link:
        central = Central(workdir)
        central.settings = central.settings.model_copy(update={"ingest_host": link.central_ip})
        env = ingest_env(central.settings, 8765) | {"INGEST_HOST": link.central_ip}
        central.process = subprocess.Popen([*link.prefix(link.central_ns), sys.executable, "-m", "central_server"],
                                           cwd=REPO, env=env, stdout=central.log, stderr=subprocess.STDOUT)
        _probe(link, link.edge_ns, link.central_ip, 8765)
        token = auth.add_checkpoint(central.engine, "part", auth.CheckpointDetails(heartbeat_seconds=heartbeat))
        settings = edge_settings(workdir / "edge", f"ws://{link.central_ip}:8765", token, checkpoint_id="part",
                                 edge_health_interval_s=2, edge_reconnect_max_s=10)
        produced: list[str] = []
        jpeg = scene_jpeg(seed=13)
        total_time = seconds + 20
        producer = threading.Thread(target=produce, args=(settings, int(rate * total_time), total_time, jpeg,
                                                          produced))
        with open(workdir / "edge.log", "ab") as log:
            agent = subprocess.Popen([*link.prefix(link.edge_ns), sys.executable, "-m", "edge_agent"], cwd=REPO,
                                     env=agent_env(settings), stdout=log, stderr=subprocess.STDOUT)
            try:
                producer.start()
                online = _wait_for(lambda: _status(central, "part") == "online", 30)
                time.sleep(5)
                link.cut()
                cut_at = time.monotonic()
                went_offline = _wait_for(lambda: _status(central, "part") == "offline", seconds)
                time.sleep(max(0.0, seconds - (time.monotonic() - cut_at)))
                link.heal()
                back_online = _wait_for(lambda: _status(central, "part") == "online", deadline)
                producer.join()
                drained = _wait_for(lambda: _drained([settings], len(produced)), deadline)
            finally:
                agent.terminate()
                agent.wait(30)
        recovery = None if back_online is None or drained is None else back_online + drained
        outcome = verify(central, produced, f"{seconds:.0f} s network partition (edge in its own netns)", recovery)
        with central.engine.connect() as conn:
            history = [r[0] for r in conn.exec_driver_sql(
                "SELECT event FROM connection_events WHERE checkpoint_id = 'part' ORDER BY id")]
        offline_after = went_offline and round(went_offline, 1)
        outcome.notes.insert(0, f"online after {online and round(online, 1)} s; offline {offline_after} s "
                                f"after the cut; history {history}")
        outcome.extra = {**outcome.extra, "went_offline": went_offline, "back_online": back_online,
                         "history": history, "drained": drained}
        central.stop()
    return outcome


# --------------------------------------------------------------------------- disk nearly full


def _outbox_health(settings) -> str | None:
    """The latest status the agent recorded for its 'outbox' component."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(settings.db_path, timeout=10)) as con:
        row = con.execute("SELECT status FROM health_checks WHERE component = 'outbox' "
                          "ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def _detections(settings) -> int:
    backlog = edge_backlog(settings)
    return backlog.unsent + backlog.delivered + backlog.rejected


@contextlib.contextmanager
def _small_disk(path: Path, megabytes: int):
    """A tmpfs of ``megabytes`` at ``path`` (root only): a disk that really fills up."""
    import os

    if os.geteuid() != 0:
        raise PermissionError("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def disk_nearly_full(workdir: Path, disk_mb: int = 40, cap_mb: int = 8, detections: int = 400,
                     deadline: float = 120.0) -> Outcome:
    """Central down, unsent data grows past the cap on a nearly full disk; then the central returns."""
    central = Central(workdir)
    with _small_disk(workdir / "edge-disk", disk_mb) as disk:
        token = auth.add_checkpoint(central.engine, "full")
        settings = edge_settings(disk, central.url, token, checkpoint_id="full", edge_disk_cap_mb=cap_mb,
                                 edge_cleanup_interval_s=1, edge_health_interval_s=1)
        ballast = disk / "ballast"
        ballast.write_bytes(b"\0" * ((disk_mb - cap_mb * 2 - 6) * 1024 * 1024))  # leave ~2x cap + 6 MB
        produced: list[str] = []
        log_path = workdir / "edge.log"
        with agent_process(settings, log_path):
            produce(settings, detections, 4.0, scene_jpeg(seed=14, grain=0.1), produced)
            over_cap_fail = _wait_for(lambda: _outbox_health(settings) == "FAIL", 30)
            kept = _detections(settings)
            central.start()
            drained = _wait_for(lambda: _drained([settings], len(produced)), deadline)
            back_pass = _wait_for(lambda: _outbox_health(settings) == "PASS", 60)
        log_text = log_path.read_text(errors="replace")
        import sqlite3

        with contextlib.closing(sqlite3.connect(settings.db_path)) as con:
            pruned = con.execute("SELECT count(*) FROM detection_results WHERE images_pruned = 1").fetchone()[0]
        outcome = verify(central, produced, f"edge disk nearly full ({disk_mb} MB disk, cap {cap_mb} MB), "
                                            "central down then back", drained)
        outcome.notes.insert(0, f"outbox FAIL {'seen' if over_cap_fail is not None else 'NOT seen'} while unsent "
                                f"exceeded the cap; {kept}/{len(produced)} rows kept; {pruned} delivered rows' "
                                f"images pruned after; back to PASS {'yes' if back_pass is not None else 'NO'}")
        outcome.extra = {**outcome.extra, "fail_seen": over_cap_fail is not None, "kept": kept,
                         "pruned": pruned, "pass_again": back_pass is not None,
                         "error_logged": "over its cap" in log_text}
    central.stop()
    return outcome
