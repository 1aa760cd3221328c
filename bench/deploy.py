"""Deploy benchmark: the production playbook onto real systemd hosts, first run and re-run.

``scripts/fleet-hosts`` boots a fresh test fleet (one central, two edges: Debian bookworm
containers with systemd as PID 1, reached over SSH); then, timed separately:

* the wheelhouse (``scripts/wheelhouse``: locked wheels for both roles, x86_64 and aarch64;
  already-built tars are reused, so a warm controller shows ~0 s);
* the first deploy of the fleet (apt, venvs installed offline from the wheelhouse, units,
  nginx, nftables, tokens, the closing checks), both edges at once;
* an unchanged re-run (changed=0 expected), and ``--check --diff``;
* each service's ``systemd-analyze security`` exposure on its host.

Needs root, systemd-nspawn and debootstrap (the test fleet's requirements); says so otherwise.
``python -m bench.deploy``; target (issue 13): deploy + re-run ≤ 60 s with the wheelhouse.
BENCH_KEEP_FLEET=1 leaves the fleet running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.deploy.hosts import CENTRAL, EDGES, REPO, fleet_hosts, out, playbook, ssh, why_not_runnable
from tests.support.images import scene_jpeg

TARGET_S = 60.0
UNITS = {"aicamera-ingest.service": CENTRAL, "aicamera-dashboard.service": CENTRAL,
         "aicamera-edge.service": EDGES[0]}


def _timed(what, *args, **kwargs) -> tuple[float, object]:
    started = time.monotonic()
    result = what(*args, **kwargs)
    return time.monotonic() - started, result


def _exposure(unit: str) -> str:
    text = out(UNITS[unit], f"sudo systemd-analyze security --no-pager {unit}")
    return text.splitlines()[-1].split(":")[-1].split()[0]


def _row(name: str, seconds: float, note: str = "") -> None:
    print(f"| {name:<34} | {seconds:8.1f} | {note:<40} |")


def run_fleet(controller: Path) -> None:
    """Boot, deploy, re-run and check the fleet; print the table."""
    load_before = os.getloadavg()[0]
    boot, _ = _timed(fleet_hosts, "up", timeout=900)
    for host in EDGES:
        ssh(host, "sudo mkdir -p /srv/aicamera/frames && sudo tee /srv/aicamera/frames/0001.jpg >/dev/null",
            stdin=scene_jpeg())
    wheels, _ = _timed(subprocess.run, [sys.executable, str(REPO / "scripts/wheelhouse")], check=True,
                       capture_output=True)
    first = playbook(controller_dir=controller)
    second = playbook(controller_dir=controller)
    check = playbook("--check", "--diff", controller_dir=controller)
    print(f"load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} (2 cores)\n")
    print(f"| {'step':<34} | {'seconds':>8} | {'note':<40} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 42}|")
    _row("boot 3 hosts (cached root fs)", boot)
    _row("wheelhouse (both locks, 2 arches)", wheels, "reused tars are not downloaded again")
    for name, run in (("first deploy", first), ("re-run", second), ("--check --diff", check)):
        _row(name, run.seconds, f"rc={run.returncode} changed={sum(run.changed.values())}")
    total = wheels + first.seconds + second.seconds
    verdict = "met" if total <= TARGET_S else "MISSED"
    _row("wheelhouse + deploy + re-run", total, f"target <= {TARGET_S:.0f} s: {verdict}")
    print("\n| service | systemd-analyze security |\n|---|---|")
    for unit in UNITS:
        print(f"| {unit} | {_exposure(unit)} |")


def main() -> None:
    reason = why_not_runnable()
    if reason:
        print(f"bench.deploy skipped: {reason}")
        return
    fleet_hosts("down")
    try:
        with tempfile.TemporaryDirectory() as controller:
            run_fleet(Path(controller))
    finally:
        if not os.environ.get("BENCH_KEEP_FLEET"):
            fleet_hosts("down")


if __name__ == "__main__":
    main()
