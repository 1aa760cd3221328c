"""Outside rows at full speed: a backlog written by another program, drained to the real ingest.

The old detection program inserts ``detection_results`` rows with ``image_path`` (and here
``plate_image_path``) naming JPEG files; the agent adopts each one (reads and checks its pictures,
copies them into its image folder) before sending it. Adoption runs beside the claims, never in
front of them, so such a backlog should drain as fast as the agent's own rows.

Real subprocesses on 127.0.0.1 (``python -m central_server`` on a temp SQLite, ``python -m
edge_agent``); the rate is measured from the first delivery to the last, median of
``BENCH_EDGE_RUNS`` (3) runs on a fresh server and outbox each, the agent's own rows measured the
same way in the same run for reference. Target (issue #14): ≥ 2,000 outside rows/s.

``python -m bench edge_outside`` (``BENCH_EDGE_BACKLOG``, default 5,000).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.edge import BACKLOG, DRAIN_RUNS, drain, fill, fill_outside, start_central
from bench.wire import SHM, create_cost_us
from tests.support.images import scene_jpeg


def _runs(workdir: Path, name: str, filler, scene: bytes, plate: bytes, tmpfs: bool) -> list[dict]:
    runs = []
    for i in range(DRAIN_RUNS):
        with tempfile.TemporaryDirectory(prefix="bench-outside-", dir=SHM if tmpfs else workdir) as images:
            tag = f"{name}{'-tmpfs' if tmpfs else ''}{i}"
            central, url, token = start_central(workdir / f"central-{tag}",
                                                Path(images) / "central" if tmpfs else None)
            try:
                probe = create_cost_us(Path(images) / "probe")
                runs.append(drain(workdir / f"drain-{tag}", url, token, scene, plate, filler,
                                  Path(images) / "edge" if tmpfs else None)
                            | {"load": os.getloadavg()[0], "create_us": probe})
            finally:
                central.terminate()
                central.wait(30)
    return sorted(runs, key=lambda r: r["rate"])


def main() -> None:
    scene, plate = scene_jpeg(grain=0.15), scene_jpeg(160, 50, seed=1)
    print(f"backlog {BACKLOG:,} detections, scene 640x480 {len(scene) / 1024:.0f} KB + plate crop "
          f"{len(plate) / 1024:.1f} KB; {os.cpu_count()} cores shared by agent and server; "
          f"load average at start {os.getloadavg()[0]:.1f}\n")
    scenarios = [("outside", fill_outside, False), ("own", fill, False)]
    if SHM:  # image folders (edge and central) on tmpfs: the code's pace without this disk's inode allocation
        scenarios += [("outside", fill_outside, True), ("own", fill, True)]
    with tempfile.TemporaryDirectory(prefix="bench-outside-") as tmp:
        results = [(name, tmpfs, _runs(Path(tmp), name, filler, scene, plate, tmpfs))
                   for name, filler, tmpfs in scenarios]
    print(f"| backlog | image folders | drain rate/s, median of {DRAIN_RUNS} (range) | agent CPU ms/detection "
          "| agent peak RSS MB | CPU µs per file created there | load avg (1 min) after each run | target |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for name, tmpfs, runs in results:
        mid = runs[len(runs) // 2]
        label = "rows an outside program inserted (adopted, pictures copied)" if name == "outside" else \
            "the agent's own rows (reference)"
        loads = ", ".join(f"{r['load']:.1f}" for r in runs)
        print(f"| {label} | {'tmpfs' if tmpfs else 'disk'} | {mid['rate']:,.0f} ({runs[0]['rate']:,.0f}–"
              f"{runs[-1]['rate']:,.0f}) | {mid['cpu_ms']:.3f} | {mid['rss_mb']:.0f} | {mid['create_us']:.0f} | "
              f"{loads} | {'≥ 2,000' if name == 'outside' else ''} |")
    print("\nEach outside row costs four new files (two copies at adoption, two at the ingest); the agent's own "
          "rows two (at the ingest; theirs were written before the run).")


if __name__ == "__main__":
    main()
