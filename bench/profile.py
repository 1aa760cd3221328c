"""Where the ingest's CPU goes: py-spy on the real ingest under bench.wire's load, images on tmpfs.

``python -m bench.profile v2 docs/img/ingest-flame-v2.svg`` (or ``v1``) starts the ingest as in
``bench.wire`` (20 checkpoints pipelining 300 detections each, window 32, ``IMAGE_DIR`` on
/dev/shm), attaches ``py-spy record --nonblocking`` (samples without pausing the process, so the
figures below stay honest) and writes the flame graph there plus ``.txt`` (py-spy's collapsed
stacks). It prints the CPU per stored detection of each thread (from /proc, exact) and the
functions that most samples are in, per thread. py-spy counts a thread as busy while it waits to
take the GIL back after a system call: that time shows under the call (``epoll.register``,
``socket.send``) though it is no CPU; the per-thread CPU figures are the ones to add up.

Not run by ``python -m bench`` (it needs py-spy and measures nothing against a target).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.ingest import cpu_seconds, server, stored
from bench.loadgen import run_load
from bench.wire import CHECKPOINTS, SHM, WINDOW
from tests.support.images import scene_jpeg

PER_CHECKPOINT = 300
PY_SPY = Path(sys.executable).with_name("py-spy")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of ``pid``; the main thread is called ``main``."""
    tick = os.sysconf("SC_CLK_TCK")
    result = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        result["main" if tid == str(pid) else tid] = (int(fields[11]) + int(fields[12])) / tick
    return result


def top_frames(collapsed: Path, count: int = 25) -> dict[str, list[tuple[float, str]]]:
    """Per thread, the functions most samples are in (including callees), as (% of the thread's samples, name)."""
    inclusive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    totals: collections.Counter = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        thread = frames[0].split(": ")[-1] if ": " in frames[0] else frames[0]
        totals[thread] += int(samples)
        for name in {re.sub(r" \(.*", "", frame) + " " + _short(frame) for frame in frames[1:]}:
            inclusive[thread][name] += int(samples)
    return {thread: [(n / totals[thread] * 100, name) for name, n in inclusive[thread].most_common(count)]
            for thread, _ in totals.most_common(2)}


def _short(frame: str) -> str:
    match = re.search(r"\(([^()]*?)(?::\d+)?\)$", frame)
    path = match.group(1) if match else ""
    return "(" + re.sub(r".*/(site-packages|python3\.\d+)/", "", path).replace(str(Path.cwd()) + "/", "") + ")"


def main(argv: list[str]) -> None:
    version, out = argv[0], Path(argv[1])
    scene = scene_jpeg(grain=0.15)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, \
            tempfile.TemporaryDirectory(prefix="bench-profile-", dir=SHM) as shm, \
            server("ours", Path(tmp), CHECKPOINTS, Path(shm) / "images") as (url, tokens, process):
        spies = [subprocess.Popen([str(PY_SPY), "record", "--pid", str(process.pid), "--rate", "100", "--nonblocking",
                                   "--threads", "--format", fmt, "--output", str(path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for fmt, path in (("flamegraph", out), ("raw", out.with_suffix(".txt")))]
        time.sleep(1.5)  # py-spy attaches
        threads, before = thread_cpu(process.pid), cpu_seconds(process)
        result = asyncio.run(run_load(url, tokens, scene, PER_CHECKPOINT, WINDOW, v2=version == "v2"))
        cpu, after = cpu_seconds(process) - before, thread_cpu(process.pid)
        rows = stored("ours", Path(tmp))
        health = json.loads(urllib.request.urlopen(url.replace("ws://", "http://") + "/healthz", timeout=10).read())
        for spy in spies:
            spy.send_signal(2)  # py-spy writes its output on SIGINT
            spy.wait(60)
    print(f"{version}: {rows} rows, {cpu / rows * 1e6:.0f} µs CPU per stored detection, "
          f"{result.acked / result.wall:,.0f} acked/s, {rows / max(health['stored']['batches'], 1):.0f} rows per "
          f"group commit, load average {os.getloadavg()[0]:.1f}")
    spent = {thread: seconds - threads.get(thread, 0.0) for thread, seconds in after.items()}
    for thread, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        if seconds > 0:
            print(f"  thread {thread}: {seconds / rows * 1e6:.0f} µs per detection")
    for thread, frames in top_frames(out.with_suffix(".txt")).items():
        print(f"\n{thread} (share of its samples, callees included):")
        for share, name in frames:
            print(f"  {share:5.1f} %  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
