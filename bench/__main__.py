"""``python -m bench [NAME...]``: run every benchmark module (or the named ones) in turn.

Each benchmark's block ends with its wall time and the machine's load average (1 minute) before and
after it, so every table, timing or not, says how busy the machine was while it was measured; the
timing tables also print the load beside each figure.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time

import bench

SKIP = {"naive_server", "loadgen", "profile"}  # profile: a tool (py-spy), not a benchmark


def main(argv: list[str]) -> int:
    names = argv or sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                           if not m.name.startswith("_") and m.name not in SKIP)
    failed = []
    for name in names:
        print(f"\n## bench.{name}\n", flush=True)
        started, load = time.monotonic(), os.getloadavg()[0]
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # one broken benchmark must not hide the others' tables
            print(f"bench.{name} failed: {type(exc).__name__}: {exc}")
            failed.append(name)
        print(f"\n({name}: {time.monotonic() - started:.0f} s; load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
