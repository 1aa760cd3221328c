"""AI Camera Fleet dashboard: Flask app factory, blueprints and Flask-SocketIO.

    app = create_app(settings)          # settings: dashboard.config.DashboardSettings
    socketio.run(...) / gunicorn        # see dashboard/serve.py and docs/dashboard.md

Every page and the Socket.IO connection need a login; forms carry CSRF tokens;
templates autoescape everything (plates are text, never markup).
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, request
from flask_login import current_user
from sqlalchemy import Engine

from fleet_store import db
from fleet_store.live import LiveEvent

from . import context, realtime, rooms, security
from .config import DashboardSettings
from .context import Fleet, fleet
from .extensions import babel, csrf, login_manager, socketio
from .throttle import LoginThrottle
from .users import LOCALES, ensure_admin, get_user

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


def create_app(settings: DashboardSettings, engine: Engine | None = None, migrate: bool = True,
               start_live: bool = True) -> Flask:
    """Build the dashboard app. ``start_live`` starts the database tail when there is no Redis."""
    engine = engine or db.make_engine(settings.central_db_url)
    if migrate:
        db.upgrade(engine)
    if ensure_admin(engine, settings.dashboard_admin_password):
        log.info("dashboard: created user 'admin' from DASHBOARD_ADMIN_PASSWORD")
    app = Flask(__name__)
    app.config.update(_flask_config(settings))
    tail = realtime.DatabaseTail(engine, _emit, settings.dashboard_poll_interval) \
        if start_live and not settings.redis_url else None
    throttle = LoginThrottle(settings.dashboard_login_free_failures, settings.dashboard_login_window_seconds)
    sockets = realtime.SocketSessions(engine, _disconnect, settings.dashboard_session_recheck_seconds)
    context.init_app(app, Fleet(settings, engine, tail, throttle, sockets))
    _init_extensions(app, settings)
    _register_blueprints(app)
    security.init_app(app, settings)
    if tail is not None:
        socketio.start_background_task(tail.run)
    if start_live:
        socketio.start_background_task(sockets.run)
    return app


def _emit(event: LiveEvent) -> None:
    socketio.emit(event.name, event.payload, namespace="/")


def _disconnect(sid: str) -> None:
    socketio.server.disconnect(sid, namespace="/")


def _flask_config(settings: DashboardSettings) -> dict:
    return dict(
        SECRET_KEY=settings.dashboard_secret_key or _secret_from_file(settings.dashboard_secret_file),
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.dashboard_secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.dashboard_secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.dashboard_session_hours),
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session
        BABEL_DEFAULT_LOCALE="en", BABEL_DEFAULT_TIMEZONE=settings.fleet_timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
        MAX_CONTENT_LENGTH=1024 * 1024,
    )


def _secret_from_file(path: Path) -> str:
    """Read the session key, creating it (mode 0600) on first start."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    log.info("dashboard: generated a session key in %s", path)
    return key


def _select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    return request.accept_languages.best_match(LOCALES) or "en"


def _init_extensions(app: Flask, settings: DashboardSettings) -> None:
    from .views.auth import LoginUser

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.user_loader(lambda user_id: _load_user(user_id, LoginUser))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: settings.fleet_timezone)
    # None = same origin only; an explicit list when configured. Never [] (that disables the check).
    origins = settings.dashboard_allowed_origins or None
    directory = rooms.SiteDirectory(app.extensions["fleet"].engine)
    manager = rooms.SiteRoutedRedisManager(settings.redis_url, directory) if settings.redis_url \
        else rooms.SiteRoutedManager(directory)
    socketio.init_app(app, async_mode="threading", client_manager=manager, cors_allowed_origins=origins,
                      manage_session=False)
    realtime.register_handlers(socketio)


def _load_user(login_id: str, wrapper):
    """The user of a session whose login id (``"<id>:<session version>"``) is still current, else None."""
    user_id, _, version = login_id.partition(":")
    try:
        user = get_user(fleet().engine, int(user_id))
    except ValueError:
        return None
    return wrapper(user) if user and not user.disabled and str(user.session_version) == version else None


def _register_blueprints(app: Flask) -> None:
    from . import api
    from .views import alerts, audit, auth, detections, overview, stats, users, watch
    from .views.common import register_template_helpers

    for module in (auth, overview, detections, stats, watch, alerts, audit, users, api):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # key-authenticated, GET only: no cookie to ride on
    from . import monitoring

    monitoring.init_app(app)
    register_template_helpers(app)
