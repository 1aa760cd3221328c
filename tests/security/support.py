"""Attack helpers: HTTP clients bound to a chosen loopback address, raw Engine.IO sockets, slow clients.

Every address is on 127.0.0.0/8 (Linux routes the whole block to loopback), so an
"attacker" at 127.0.0.2 and a victim at 127.0.0.1 are different clients to the
server without leaving the machine.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import requests
from requests.adapters import HTTPAdapter
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.ingest import REPO

ATTACKER = "127.0.0.2"


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def web_client(address: str = "127.0.0.1") -> requests.Session:
    """A cookie-keeping HTTP client whose connections come from ``address``."""
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def log_in(client: requests.Session, base: str, username: str, password: str, next_: str | None = None,
           timeout: float = 10) -> requests.Response:
    """Post the login form (with its CSRF token); the redirect is not followed."""
    token = csrf_of(client.get(base + "/login", timeout=timeout).text)
    url = base + "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(url, data={"username": username, "password": password, "csrf_token": token},
                       allow_redirects=False, timeout=timeout)


def cookie_header(client: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in client.cookies)


def engineio_socket(base: str, cookie: str | None = None, timeout: float = 5) -> ClientConnection:
    """Open a raw Engine.IO WebSocket (what a Socket.IO client does first); raises InvalidStatus if refused."""
    url = base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    headers = {"Cookie": cookie} if cookie else None
    return connect(url, additional_headers=headers, open_timeout=timeout, origin=None)


def refused_status(base: str, cookie: str | None = None, timeout: float = 5) -> int | str | None:
    """The HTTP status a Socket.IO WebSocket handshake was refused with, ``"closed"`` when the server
    hung up without an answer (too many connections at once), ``"timeout"``, or None if it opened."""
    try:
        with engineio_socket(base, cookie, timeout):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code
    except (InvalidMessage, ConnectionClosed, ConnectionError):
        return "closed"
    except TimeoutError:
        return "timeout"


@contextlib.contextmanager
def slow_clients(port: int, count: int, address: str = ATTACKER) -> Iterator[list[socket.socket]]:
    """``count`` connections that send a partial request and never finish it (slowloris)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(address, 0))
            sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def trickle(sockets: list[socket.socket]) -> int:
    """Send one more header line on each socket; return how many the server still keeps open."""
    alive = 0
    for sock in sockets:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
            alive += 1
        except OSError:
            pass
    return alive


def timed_get(url: str, timeout: float = 5) -> tuple[int | str, float]:
    """(status or error name, seconds) of one GET from 127.0.0.1."""
    started = time.monotonic()
    try:
        status = requests.get(url, timeout=timeout, allow_redirects=False).status_code
    except requests.RequestException as exc:
        status = type(exc).__name__
    return status, time.monotonic() - started


def dashboard_cli(env: dict[str, str], *args: str, password: str | None = None) -> str:
    """Run ``python -m dashboard users ...``; return its output (raises on failure)."""
    extra = ["--password-stdin"] if password is not None else []
    done = subprocess.run([sys.executable, "-m", "dashboard", "users", *args, *extra], env=env, cwd=REPO,
                          input=(password or "") + "\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout
