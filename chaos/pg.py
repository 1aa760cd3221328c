"""A private PostgreSQL server for scenarios that restart it (never the machine's own)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, or no way to run them as a non-root user."""


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise PostgresUnavailable(f"PostgreSQL's {name} not found (apt-get install postgresql)")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd  # a normal user may run its own cluster
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root without runuser: cannot start a private PostgreSQL")
    return ["runuser", "-u", "postgres", "--", *cmd]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivatePostgres:
    """A throwaway cluster on 127.0.0.1:``port`` that scenarios may stop and start."""

    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", *args]),
                       check=True, capture_output=True)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=on",
                  "-l", str(self.datadir / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop (fast: open connections are cut), stay down ``down_seconds``, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb + start a cluster in a temp dir; stop and delete it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(datadir, "postgres")
    subprocess.run(_as_postgres([_bin("initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust",
                                 "--no-sync"]), check=True, capture_output=True)
    server = PrivatePostgres(datadir, _free_port())
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
