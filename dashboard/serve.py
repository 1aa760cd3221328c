"""Production serving: gunicorn with one worker and many threads (Flask-SocketIO threading mode).

Flask-SocketIO in ``threading`` mode serves WebSocket through simple-websocket;
each open browser tab holds one thread, so ``DASHBOARD_THREADS`` bounds the
number of live screens per process. One worker per process is required (the
Socket.IO session lives in that worker); run more processes behind a sticky
proxy with ``REDIS_URL`` set to scale out (docs/dashboard.md).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from .config import DashboardSettings

log = logging.getLogger(__name__)


class GuardedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, made to survive slow clients (slowloris) when exposed without nginx.

    A connection must deliver its request headers within ``header_timeout`` seconds of
    reaching a thread; the main loop shuts down sockets that are late (the thread's read
    then ends). After the headers, nothing is cut (bodies, responses, WebSockets). With
    ``pending_per_ip`` set (exposed directly), one address may have at most that many
    connections still sending headers; more are closed at once, so one client cannot take
    every thread. Class attributes are set before gunicorn forks the worker.
    """

    header_timeout: float = 10.0
    pending_per_ip: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: dict[object, tuple[str, float]] = {}
        self._per_ip: Counter[str] = Counter()
        self._pending_lock = threading.Lock()
        self._warned: dict[str, float] = {}

    def handle(self, conn):
        address = conn.client[0] if isinstance(conn.client, tuple) else str(conn.client)
        if not self._enter(conn, address):
            if time.monotonic() - self._warned.get(address, -60.0) >= 60:  # log once a minute per address
                self._warned[address] = time.monotonic()
                log.warning("dashboard: closing connections from %s: more than %d still sending headers",
                            address, self.pending_per_ip)
            _shut(conn)  # else gunicorn's graceful close lingers 2 s in the main loop per connection
            return False
        try:
            return super().handle(conn)
        finally:
            self._leave(conn)

    def handle_request(self, req, conn):
        self._leave(conn)  # the headers are in
        return super().handle_request(req, conn)

    def wait_for_and_dispatch_events(self, timeout):
        super().wait_for_and_dispatch_events(timeout)
        self._shut_late_requests()

    def _enter(self, conn, address: str) -> bool:
        with self._pending_lock:
            if self.pending_per_ip is not None and self._per_ip[address] >= self.pending_per_ip:
                return False
            self._per_ip[address] += 1
            self._pending[conn] = (address, time.monotonic() + self.header_timeout)
        return True

    def _leave(self, conn) -> None:
        with self._pending_lock:
            entry = self._pending.pop(conn, None)
            if entry is None:
                return
            self._per_ip[entry[0]] -= 1
            if self._per_ip[entry[0]] <= 0:
                del self._per_ip[entry[0]]

    def _shut_late_requests(self) -> None:
        now = time.monotonic()
        with self._pending_lock:
            late = [conn for conn, (_, deadline) in self._pending.items() if deadline < now]
        for conn in late:
            _shut(conn)


def _shut(conn) -> None:
    """End both directions now: a blocked read returns, and closing does not wait for the peer."""
    with contextlib.suppress(OSError):
        conn.sock.shutdown(socket.SHUT_RDWR)


class DashboardServer(BaseApplication):
    """Runs the Flask app under gunicorn's threaded worker, configured from settings."""

    def __init__(self, factory: Callable[[], object], settings: DashboardSettings, port: int | None = None):
        self.factory = factory
        self.settings = settings
        self.port = settings.dashboard_port if port is None else port
        super().__init__()

    def load_config(self) -> None:
        host = self.settings.dashboard_host
        bind = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        GuardedThreadWorker.header_timeout = self.settings.dashboard_header_timeout
        direct = self.settings.dashboard_trusted_proxies == 0
        GuardedThreadWorker.pending_per_ip = self.settings.dashboard_pending_per_ip if direct else None
        for key, value in {"bind": bind, "workers": 1, "worker_class": "dashboard.serve.GuardedThreadWorker",
                           "threads": self.settings.dashboard_threads, "timeout": 0, "graceful_timeout": 5,
                           "keepalive": 5, "accesslog": None, "errorlog": "-",
                           "loglevel": self.settings.log_level.lower(),
                           # several dashboards may run on one host: no shared control socket
                           "control_socket_disable": True}.items():
            self.cfg.set(key, value)

    def load(self):
        # Called in the worker after the fork: the app, its engine and its
        # background thread must be created there (threads do not survive fork).
        return self.factory()


def serve(factory: Callable[[], object], settings: DashboardSettings) -> None:
    """Serve the app ``factory()`` builds until SIGTERM/SIGINT (gunicorn handles both gracefully)."""
    log.info("dashboard: serving on http://%s:%d (gunicorn gthread, %d threads)",
             settings.dashboard_host, settings.dashboard_port, settings.dashboard_threads)
    DashboardServer(factory, settings).run()
