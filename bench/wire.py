"""Protocol v1 against v2: bytes on the wire and ingest CPU per stored detection, with the old design beside.

The real ingest (``python -m central_server``, temp SQLite) and the old design
(``bench.naive_server``: one INSERT + COMMIT per message, base64 in SQLite) run as subprocesses
on 127.0.0.1; 20 checkpoints pipeline detections (window 32) carrying a 640x480 scene and a
plate crop, in v1 text frames or v2 binary frames. The server's own CPU time (user + system)
divided by the rows it stored is the figure that holds on a noisy machine; the load average is
printed beside each run. Bytes are those of the frames the senders wrote (answers are ~0.2 KB).

Targets (issue #14): v2 ≤ 0.78x v1 bytes; ingest CPU ≤ 250 µs per detection in v1 and ≤ 0.25x the
old design's in the same run; ≤ 150 µs in v2.

``python -m bench wire`` (``BENCH_SCALE=0.2`` for a quick run; ``BENCH_WIRE_RUNS``, default 3;
``BENCH_WIRE_ONLY=tmpfs`` runs only the old design and the tmpfs rows: the code's own cost, in ~40 s).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench.ingest import cpu_seconds, server, stored
from bench.loadgen import run_load, template
from tests.support.images import scene_jpeg

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
RUNS = int(os.environ.get("BENCH_WIRE_RUNS", "3"))
ONLY = os.environ.get("BENCH_WIRE_ONLY", "")  # "tmpfs": the old design (for the ratio) and the tmpfs rows
CHECKPOINTS, WINDOW = 20, 32
# One more tmpfs run starts with this many rows stored: costs that grow with the table show (the SQLite
# exactly-once lookup once scanned its whole index: +290 µs a row at 100,000 rows).
PREFILL = int(os.environ.get("BENCH_WIRE_PREFILL", "100000"))
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


def create_cost_us(folder: Path, count: int = 300) -> float:
    """CPU µs to create one file in ``folder`` right now (inode allocation: it swings on this VM's ext4)."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.process_time()
    for i in range(count):
        os.close(os.open(folder / f"probe-{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    cost = (time.process_time() - started) / count * 1e6
    for i in range(count):
        os.unlink(folder / f"probe-{i}")
    return cost


def measure(kind: str, v2: bool, scene: bytes, plate: bytes | None, tmpfs: bool = False, prefill: int = 0) -> dict:
    """One run on a fresh server (``prefill`` rows already stored): CPU per stored detection, bytes per
    detection, rate."""
    per_checkpoint = max(10, int(300 * SCALE))
    with tempfile.TemporaryDirectory(prefix="bench-wire-") as tmp, \
            tempfile.TemporaryDirectory(prefix="bench-wire-", dir=SHM) as shm, \
            server(kind, Path(tmp), CHECKPOINTS, Path(shm) / "images" if tmpfs else None,
                   prefill) as (url, tokens, process):
        probe = create_cost_us(Path(shm if tmpfs else tmp) / "probe")
        before = cpu_seconds(process)
        result = asyncio.run(run_load(url, tokens, scene, per_checkpoint, WINDOW, plate=plate, v2=v2))
        cpu = cpu_seconds(process) - before
        rows = stored(kind, Path(tmp)) - prefill
    return {"cpu_us": cpu / max(rows, 1) * 1e6, "rows": rows, "create_us": probe, "sent": result.sent,
            "rate": result.acked / result.wall,
            "bytes": result.bytes_sent / max(result.sent, 1), "load": os.getloadavg()[0]}


def median(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda r: r["cpu_us"])
    return ordered[len(ordered) // 2] | {"low": ordered[0]["cpu_us"], "high": ordered[-1]["cpu_us"],
                                         "loads": ", ".join(f"{r['load']:.1f}" for r in runs)}


def main() -> None:
    scene, plate = scene_jpeg(grain=0.15), scene_jpeg(160, 50, seed=1)
    v1_frame, v2_frame = template("cp0", scene, plate), template("cp0", scene, plate, v2=True)
    print(f"scene 640x480 {len(scene):,} B + plate crop {len(plate):,} B; {CHECKPOINTS} checkpoints x window "
          f"{WINDOW}; {os.cpu_count()} cores shared by server and senders; load average at start "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| frame | bytes per detection | ratio to v1 | target |")
    print("|---|---:|---:|---:|")
    print(f"| v1 (JSON, base64 data URLs) | {len(v1_frame.encode()):,} | 1.00 | |")
    print(f"| v2 (JSON header + raw JPEG parts) | {len(v2_frame):,} | {len(v2_frame) / len(v1_frame.encode()):.2f} "
          f"| ≤ 0.78 |\n")
    results = {}
    scenarios = [  # name, server, v2, plate crop, images on tmpfs, rows stored before
        ("old design (naive server), v1, scene only", "naive", False, False, False, 0),
        ("ingest, v1, scene only (the old JSON senders)", "ours", False, False, False, 0),
        ("ingest, v2, scene only", "ours", True, False, False, 0),
        ("ingest, v2, scene + plate crop (the edge agent)", "ours", True, True, False, 0),
    ]
    if SHM:  # the same, with IMAGE_DIR on tmpfs: the code's own cost without this disk's inode allocation
        scenarios += [("ingest, v1, scene only, images on tmpfs", "ours", False, False, True, 0),
                      ("ingest, v2, scene only, images on tmpfs", "ours", True, False, True, 0),
                      (f"ingest, v2, scene only, images on tmpfs, {PREFILL:,} rows already stored", "ours", True,
                       False, True, PREFILL)]
    if ONLY == "tmpfs":
        scenarios = [s for s in scenarios if s[1] == "naive" or s[4]]
    for name, kind, v2, with_plate, tmpfs, prefill in scenarios:
        results[name] = median([measure(kind, v2, scene, plate if with_plate else None, tmpfs, prefill)
                                for _ in range(RUNS)])
    naive = results[scenarios[0][0]]["cpu_us"]
    print(f"| server, protocol, pictures | CPU µs per stored detection, median of {RUNS} (range) | ratio to old "
          "design | stored/sent | acked/s | bytes per frame | CPU µs per file created, same disk, same run "
          "| load avg after each run | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for name, r in results.items():
        target = "≤ 250 µs, ≤ 0.25x" if name.startswith("ingest, v1") else "≤ 150 µs" if name.startswith(
            "ingest, v2") else ""
        print(f"| {name} | {r['cpu_us']:.0f} ({r['low']:.0f}–{r['high']:.0f}) | {r['cpu_us'] / naive:.2f} | "
              f"{r['rows']}/{r['sent']} | {r['rate']:,.0f} | {r['bytes']:,.0f} | {r['create_us']:.0f} | "
              f"{r['loads']} | {target} |")
    print("\nThe ingest writes one file per picture (and one fsync-shared commit per batch); the old design "
          "writes none (base64 in SQLite), so where creating a file costs hundreds of µs the ratio says more "
          "about the disk than about the code.")


if __name__ == "__main__":
    main()
