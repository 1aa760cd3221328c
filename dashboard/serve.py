"""Production serving: gunicorn with one worker and many threads (Flask-SocketIO threading mode).

Flask-SocketIO in ``threading`` mode serves WebSocket through simple-websocket;
each open browser tab holds one thread, so ``DASHBOARD_THREADS`` bounds the
number of live screens per process. One worker per process is required (the
Socket.IO session lives in that worker); run more processes behind a sticky
proxy with ``REDIS_URL`` set to scale out (docs/dashboard.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gunicorn.app.base import BaseApplication

from .config import DashboardSettings

log = logging.getLogger(__name__)


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
        for key, value in {"bind": bind, "workers": 1, "worker_class": "gthread",
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
