"""Run deployed services the way their systemd units would, without systemd.

A unit's ExecStart, WorkingDirectory and EnvironmentFile are taken from the rendered file;
its StateDirectory/LogsDirectory are created under the host's root as systemd would.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from .fleet import read_env_file, read_unit


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_unit(root: Path, unit: str, log: Path) -> subprocess.Popen:
    """Start ``unit`` of the host at ``root`` from its deployed tree and env file."""
    settings = read_unit(root / "etc/systemd/system" / unit)
    for key in ("StateDirectory", "LogsDirectory"):
        base = "var/lib" if key == "StateDirectory" else "var/log"
        for name in settings.get(key, []):
            (root / base / name).mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           **read_env_file(Path(settings["EnvironmentFile"][0]))}
    return subprocess.Popen(shlex.split(settings["ExecStart"][0]), cwd=settings["WorkingDirectory"][0],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process (as systemd would), then SIGKILL after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0,
              context: ssl.SSLContext | None = None) -> bytes:
    """Poll ``url`` until it answers 200; fail with the process log if it dies or never does."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[:3]} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                if response.status == 200:
                    return response.read()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def nginx_main_config(root: Path, work: Path) -> Path:
    """A main nginx.conf around the deployed site, with every runtime path under ``work``."""
    (root / "var/log/nginx").mkdir(parents=True, exist_ok=True)
    temp = "\n".join(f"    {kind}_temp_path {work / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = work / "nginx.conf"
    conf.write_text(f"""daemon off;
pid {work / 'nginx.pid'};
error_log {work / 'error.log'};
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    include {root / 'etc/nginx/sites-enabled'}/*.conf;
}}
""")
    return conf
