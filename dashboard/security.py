"""Request-level defences of the dashboard (docs/security.md), wired by :func:`init_app`.

- :class:`SocketGate` wraps the WSGI app: a ``/socket.io/`` request without a
  valid login is answered 401 *before* Engine.IO creates a session or a
  WebSocket takes a thread, and open Socket.IO requests are capped per login,
  per client address and in all (the rest of the threads stay free for pages).
- Behind ``DASHBOARD_TRUSTED_PROXIES`` reverse proxies, client addresses come
  from ``X-Forwarded-For`` (werkzeug's ProxyFix), so throttles see real clients.
- :func:`safe_next` is the only way a user-supplied URL becomes a redirect.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from flask import Flask
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import DashboardSettings

log = logging.getLogger(__name__)
SOCKET_PREFIX = "/socket.io"


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirect, no header injection).

    Refuses control characters, spaces and backslashes outright (browsers drop or
    rewrite them, so ``/\\t/evil.example`` would become ``//evil.example``), then
    anything with a scheme or host, or a path that does not start with exactly one ``/``.
    """
    if not target or any(ch <= " " or ch in "\\\x7f" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return target


class SocketLimits:
    """Counts open Socket.IO requests per login and per address; thread-safe."""

    def __init__(self, per_user: int, per_ip: int, total: int):
        self.per_user, self.per_ip, self.total = per_user, per_ip, total
        self._users: Counter[str] = Counter()
        self._ips: Counter[str] = Counter()
        self._open = 0
        self._lock = threading.Lock()

    def acquire(self, user: str, ip: str) -> str | None:
        """Take a slot; return None, or why not (nothing is taken then)."""
        with self._lock:
            if self._open >= self.total:
                return "the dashboard is at its live-connection limit"
            if self._users[user] >= self.per_user:
                return f"at most {self.per_user} live connections per login"
            if self._ips[ip] >= self.per_ip:
                return f"at most {self.per_ip} live connections per address"
            self._users[user] += 1
            self._ips[ip] += 1
            self._open += 1
        return None

    def release(self, user: str, ip: str) -> None:
        with self._lock:
            self._users[user] -= 1
            self._ips[ip] -= 1
            self._open -= 1
            if self._users[user] <= 0:
                del self._users[user]
            if self._ips[ip] <= 0:
                del self._ips[ip]


class SocketGate:
    """WSGI middleware in front of Engine.IO: login first, then a capped slot for the request's life."""

    def __init__(self, wsgi_app: Callable, flask_app: Flask, limits: SocketLimits):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        self.limits = limits

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(SOCKET_PREFIX):
            return self.wsgi_app(environ, start_response)
        user = self._login(environ)
        if user is None:
            return _refuse(start_response, "401 Unauthorized", "log in first")
        ip = environ.get("REMOTE_ADDR", "?")
        why = self.limits.acquire(user, ip)
        if why is not None:
            log.warning("dashboard: refused a Socket.IO connection of user %s from %s: %s", user, ip, why)
            return _refuse(start_response, "429 Too Many Requests", why)
        try:
            result = self.wsgi_app(environ, start_response)
        except BaseException:
            self.limits.release(user, ip)
            raise
        return _Released(result, lambda: self.limits.release(user, ip))

    def _login(self, environ: dict) -> str | None:
        """The logged-in user id of this request's session cookie (session version checked), or None."""
        with self.flask_app.request_context(environ):
            return current_user.id if current_user.is_authenticated else None


class _Released:
    """A WSGI response iterable that frees a slot once the server closes it."""

    def __init__(self, result: Iterable[bytes], release: Callable[[], None]):
        self.result = result
        self._release = release

    def __iter__(self):
        return iter(self.result)

    def close(self) -> None:
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self._release()


def _refuse(start_response: Callable, status: str, reason: str) -> list[bytes]:
    body = (reason + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]


def init_app(app: Flask, settings: DashboardSettings) -> None:
    """Install the Socket.IO gate and, behind proxies, ProxyFix (outermost, so the gate sees real clients)."""
    limits = SocketLimits(settings.dashboard_sockets_per_user, settings.dashboard_sockets_per_ip,
                          settings.socket_capacity)
    app.wsgi_app = SocketGate(app.wsgi_app, app, limits)
    if settings.dashboard_trusted_proxies:
        n = settings.dashboard_trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
