"""``python -m chaos [--quick]``: run every scenario at full size and print the report table.

Full size (issue #7): 5 edges x 10,000 detections with 3 central SIGKILLs, an edge SIGKILLed
mid-send 5 times, a 60 s partition, a nearly full edge disk, PostgreSQL restarted under load,
10,000 hostile frames, and scale-out (2 ingest + 2 dashboards, 100 checkpoints at 500/s for
60 s). ``--quick`` runs small sizes. Then ``attacks``: the security review's attacks against one
set of real processes, one row each (chaos/attacks.py, docs/security.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from chaos import attacks, central, edge, scaleout
from chaos.report import Outcome, table

PG_ADMIN = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def scenarios(quick: bool):
    """(name, callable taking a work dir) for each scenario."""
    if quick:
        return [
            ("central killed", lambda d: edge.central_killed(d, edges=3, total=900, kills=2, seconds=5)),
            ("edge killed", lambda d: edge.edge_killed(d, backlog=600, kills=3)),
            ("partition", lambda d: edge.partition(d, seconds=20, heartbeat=8)),
            ("disk nearly full", lambda d: edge.disk_nearly_full(d)),
            ("postgres restart", lambda d: central.postgres_restart(d, 2, 200, 1.5)),
            ("wire fuzz", lambda d: central.wire_fuzz(d, f"sqlite:///{d / 'fuzz.db'}", total=1000)),
            ("scale-out", lambda d: scaleout.scale_out(d, PG_ADMIN, REDIS, 50, 200, 10)),
        ]
    return [
        ("central killed", lambda d: edge.central_killed(d, edges=5, total=10_000, kills=3, seconds=30)),
        ("edge killed", lambda d: edge.edge_killed(d, backlog=5000, kills=5)),
        ("partition", lambda d: edge.partition(d, seconds=60, heartbeat=15)),
        ("disk nearly full", lambda d: edge.disk_nearly_full(d, disk_mb=96, cap_mb=16, detections=1000)),
        ("postgres restart", lambda d: central.postgres_restart(d, 5, 600, 3.0)),
        ("wire fuzz", lambda d: central.wire_fuzz(d, f"sqlite:///{d / 'fuzz.db'}", total=10_000)),
        ("scale-out", lambda d: scaleout.scale_out(d, PG_ADMIN, REDIS, 100, 500, 60)),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (as in make test)")
    parser.add_argument("--only", action="append", help="run only scenarios whose name contains this")
    args = parser.parse_args(argv)
    outcomes: list[Outcome] = []
    for name, run in scenarios(args.quick):
        if args.only and not any(word in name for word in args.only):
            continue
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"chaos-{name.replace(' ', '-')}-") as workdir:
            outcome = run(Path(workdir))
        outcome.notes.append(f"scenario took {time.monotonic() - started:.0f} s")
        outcomes.append(outcome)
        print(f"- {name}: {'ok' if outcome.ok else 'FAILED'}", flush=True)
    attacked = _attacks() if not args.only or any(word in "attacks" for word in args.only) else []
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {platform.machine()}, "
          f"Python {platform.python_version()}\n")
    if outcomes:
        print(table(outcomes))
    if attacked:
        print("\n" + attacks.table(attacked))
    return 0 if all(o.ok for o in outcomes) and all(a.ok for a in attacked) else 1


def _attacks() -> list[attacks.AttackResult]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-attacks-") as workdir:
        results = attacks.run(Path(workdir))
    print(f"- attacks: {'ok' if all(r.ok for r in results) else 'FAILED'} "
          f"({len(results)} attacks, {time.monotonic() - started:.0f} s)", flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
