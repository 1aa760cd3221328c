"""Helpers for the deploy tests: run the playbook on the test inventory, read what it deployed.

The test inventory makes every host this machine (``ansible_connection=local``) with a root of
its own under ``fleet_test_dir``; nothing outside that directory is written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WHEELHOUSE = REPO / "var" / "wheelhouse"
CENTRAL = "central-test"
EDGES = ("edge-test-1", "edge-test-2")
HOSTS = (CENTRAL, *EDGES)
_RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass(frozen=True)
class Run:
    """One ansible-playbook run: its output, seconds taken and per-host changed counts."""

    output: str
    returncode: int
    seconds: float

    @property
    def changed(self) -> dict[str, int]:
        """Host -> number of changed tasks, from the PLAY RECAP."""
        return {m[1]: int(m[3]) for m in _RECAP.finditer(self.output)}

    @property
    def failed(self) -> dict[str, int]:
        """Host -> failed + unreachable tasks, from the PLAY RECAP."""
        return {m[1]: int(m[4]) + int(m[5]) for m in _RECAP.finditer(self.output)}

    def assert_ok(self, hosts: tuple[str, ...] = HOSTS) -> None:
        """Fail with the run's tail when it did not succeed on every one of ``hosts``."""
        tail = "\n".join(self.output.splitlines()[-60:])
        assert self.returncode == 0 and set(self.failed) == set(hosts), tail
        assert not any(self.failed.values()), tail


@dataclass(frozen=True)
class Fleet:
    """The test fleet's directory and the host roots inside it."""

    test_dir: Path

    def root(self, host: str) -> Path:
        """The directory standing in for ``/`` on ``host``."""
        return self.test_dir / "hosts" / host

    def playbook(self, *args: str, edge_serial: int | None = 2) -> Run:
        """Run deploy.yml on the test inventory with ``args`` added; return the run.

        Both edges update together unless ``edge_serial`` is None (the playbook's one at a time).
        """
        serial = ["-e", f"fleet_edge_serial={edge_serial}"] if edge_serial else []
        cmd = [str(BIN / "ansible-playbook"), "-i", "inventory/test", "deploy.yml",
               "-e", f"fleet_test_dir={self.test_dir}", *serial, *args]
        env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        return Run(proc.stdout + proc.stderr, proc.returncode, time.monotonic() - started)

    def units(self) -> list[Path]:
        """Every systemd unit file rendered on every host."""
        return sorted(p for h in HOSTS for p in (self.root(h) / "etc/systemd/system").iterdir())


def ensure_wheelhouse() -> None:
    """Fill var/wheelhouse with the wheels both requirements files need (once; pip's cache).

    The test inventory then installs the release venvs with ``PIP_NO_INDEX`` from it, which
    makes the deploy fast and repeatable offline.
    """
    stamp = WHEELHOUSE / ".requirements"
    wanted = "".join((REPO / f"requirements/{n}.txt").read_text() for n in ("central", "edge"))
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE),
                           "-r", "requirements/central.txt", "-r", "requirements/edge.txt"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        shutil.rmtree(WHEELHOUSE, ignore_errors=True)
        raise RuntimeError(f"pip download for the wheelhouse failed:\n{proc.stderr[-2000:]}")
    stamp.write_text(wanted)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse an env file the way systemd's EnvironmentFile= does for the roles' KEY='value' lines."""
    env = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def read_unit(path: Path) -> dict[str, list[str]]:
    """The [Service]/[Unit] settings of a unit file: key -> every value given for it."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings
