"""Ingest benchmark: this server against the old design (naive server), side by side.

Both servers run as subprocesses on 127.0.0.1; the server's own CPU time
(user + system, from /proc) divided by stored messages is the stable figure on a
noisy machine. Targets (issue #2): CPU ≤ 250 µs per stored detection and ≤ 1/4 of
the naive design's; ack p99 ≤ 25 ms at 1,000 detections/s from 100 checkpoints;
2,000 idle connections with RSS ≤ 200 MB.

``python -m bench.ingest`` (``BENCH_SCALE=0.2`` for a quick run).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.loadgen import LoadResult, hold_idle, run_load
from central_server import auth
from fleet_store import db
from tests.support.images import scene_jpeg
from tests.support.ingest import _free_port, ingest_env, ingest_settings, wait_healthy

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
REPO = Path(__file__).resolve().parents[1]


@contextmanager
def server(kind: str, workdir: Path, checkpoints: int, image_dir: Path | None = None, prefill: int = 0):
    """Start ``ours`` or ``naive`` on a free port; yield (url, tokens, psutil.Process).

    ``prefill`` (ours only): detections already stored before the server starts, spread over the
    checkpoints, so costs that grow with the table show (a central database holds millions).
    """
    port = _free_port()
    if kind == "ours":
        settings = ingest_settings(f"sqlite:///{workdir / 'central.db'}", workdir,
                                   **({"image_dir": image_dir} if image_dir else {}))
        engine = db.make_engine(settings.central_db_url)
        db.upgrade(engine)
        tokens = {f"cp{i}": auth.add_checkpoint(engine, f"cp{i}") for i in range(checkpoints)}
        if prefill:
            _prefill(engine, checkpoints, prefill)
        engine.dispose()
        env = ingest_env(settings, port) | {"LOG_LEVEL": "WARNING"}
        cmd = [sys.executable, "-m", "central_server"]
    else:
        tokens = {f"cp{i}": None for i in range(checkpoints)}
        env = os.environ | {"PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "bench.naive_server", str(port), str(workdir / "naive.db")]
    process = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        _wait_port(port, kind)
        yield f"ws://127.0.0.1:{port}", tokens, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(60)


def _prefill(engine, checkpoints: int, count: int) -> None:
    """Store ``count`` detections without pictures: the volume fixture's rows (tests/support/volume.py),
    each with an event id as the edge sends, all inside the retention period (20 days) so the
    ingest's retention job has nothing to delete during the run."""
    import random

    from fleet_store.schema import lpr_detections
    from tests.support.volume import bulk_insert, detection_rows

    ids = [f"cp{i}" for i in range(checkpoints)]
    rows = detection_rows(count, ids, random.Random(3), datetime.now(UTC), days=20)
    bulk_insert(engine, lpr_detections, ({**row, "event_id": str(uuid.uuid4())} for row in rows))


def _wait_port(port: int, kind: str) -> None:
    if kind == "ours":
        wait_healthy(port)
        return
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("naive server did not start")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def stored(kind: str, workdir: Path) -> int:
    path = workdir / ("central.db" if kind == "ours" else "naive.db")
    table = "lpr_detections" if kind == "ours" else "lpr_detection"
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def measure(kind: str, name: str, checkpoints: int, per_checkpoint: int, jpeg: bytes,
            window: int = 1, rate: float | None = None) -> dict:
    """One scenario on a fresh server; returns a table row."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, \
            server(kind, Path(tmp), checkpoints) as (url, tokens, process):
        before = cpu_seconds(process)
        result: LoadResult = asyncio.run(run_load(url, tokens, jpeg, per_checkpoint, window, rate))
        cpu = cpu_seconds(process) - before
        count = stored(kind, Path(tmp))
    return {"scenario": name, "server": kind, "sent": result.sent, "stored": count,
            "msg/s": result.acked / result.wall, "cpu_us": cpu / max(count, 1) * 1e6,
            "p50": result.percentile(50) * 1e3, "p99": result.percentile(99) * 1e3, "rss": None,
            "load": os.getloadavg()[0]}


def idle_connections(count: int) -> dict:
    """Hold ``count`` idle checkpoint connections; report the server's RSS."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count * 2 + 100)), hard))
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp, \
            server("ours", Path(tmp), count) as (url, tokens, process):
        baseline = process.memory_info().rss
        rss = asyncio.run(hold_idle(url, tokens, 3.0, during=lambda: process.memory_info().rss))
    return {"scenario": f"{count} idle connections", "server": "ours", "sent": 0, "stored": 0,
            "msg/s": None, "cpu_us": None, "p50": None, "p99": None,
            "rss": f"{rss / 2**20:.0f} (idle server {baseline / 2**20:.0f})", "load": os.getloadavg()[0]}


def _scaled(count: int) -> int:
    return max(5, int(count * SCALE))


def _fmt(value, digits=0) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else f"{value:,.{digits}f}"


def main() -> None:
    jpeg = scene_jpeg(grain=0.15)
    rows = []
    for kind in ("ours", "naive"):
        rows.append(measure(kind, "pipelined, 20 checkpoints x window 32", 20, _scaled(300), jpeg, window=32))
        rows.append(measure(kind, "lockstep, 100 checkpoints", 100, _scaled(30), jpeg, window=1))
        rows.append(measure(kind, "1,000/s offered, 100 checkpoints", 100, _scaled(100), jpeg,
                            window=64, rate=10.0))
    rows.append(idle_connections(2000))
    print("| scenario | server | sent | stored | acked msg/s | server CPU µs/stored | ack p50 ms | ack p99 ms "
          "| server RSS MB | load avg (1 min) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['scenario']} | {r['server']} | {r['sent']} | {r['stored']} | {_fmt(r['msg/s'])} | "
              f"{_fmt(r['cpu_us'])} | {_fmt(r['p50'], 1)} | {_fmt(r['p99'], 1)} | {_fmt(r['rss'])} | {r['load']:.1f} |")
    ours = rows[0]["cpu_us"]
    naive = rows[3]["cpu_us"]
    print(f"\nCPU per stored detection (pipelined): ours {ours:.0f} µs vs naive {naive:.0f} µs "
          f"= {ours / naive:.2f}x (target ≤ 250 µs and ≤ 0.25x)")


if __name__ == "__main__":
    main()
