"""The control API and local pages (Flask app factory).

The old endpoints keep their paths (see docs/edge.md). Every answer is JSON
with ``status`` = ``success`` or ``error`` and a ``message`` for a human; bad
input is refused with 400 and changes nothing. When a token is configured
(mandatory when bound beyond localhost), every ``/api`` and ``/images`` request
must carry it as ``Authorization: Bearer <token>`` or in the ``edge_api_token``
cookie that ``POST /api/session`` sets for the pages (HttpOnly, SameSite=Strict;
never in a URL). A request whose ``Host`` is not one of this checkpoint's names
is refused (400), so DNS rebinding cannot reach the API; a POST with a browser
``Origin`` of another site is refused (403), so a web page cannot drive a
checkpoint's camera through a visitor's browser. Every answer carries a strict
Content-Security-Policy.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from .events import VisionService
from .files import inside
from .health import HealthMonitor
from .outbox import Kind, Outbox
from .pages import CONTENT_SECURITY_POLICY, PAGES, render_page
from .uplink import Uplink

log = logging.getLogger(__name__)

MAX_LIMIT = 1000
TOKEN_COOKIE = "edge_api_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class AgentParts:
    """What the control API drives; ``vision`` is None when the vision package is absent."""

    outbox: Outbox
    uplink: Uplink
    health: HealthMonitor
    vision: VisionService | None
    vision_error: str = ""


class ApiError(Exception):
    """A request the API refuses; becomes a JSON error answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def create_app(parts: AgentParts, token: str | None = None, hosts: tuple[str, ...] = ()) -> Flask:
    """Build the Flask app; ``token`` set = every API request must present it.

    Requests are answered only for a ``Host`` among the loopback names and ``hosts``
    (the configured bind address, the hostname, EDGE_API_ALLOWED_HOSTS).
    """
    app = Flask(__name__)
    app.config["PARTS"] = parts
    app.config["TRUSTED_HOSTS"] = [*LOOPBACK_NAMES, *hosts]  # Flask answers 400 for any other Host
    app.json.sort_keys = False

    @app.before_request
    def _guard() -> None:
        if request.path.startswith(("/api/", "/images/")) and request.path != "/api/session":
            _check_token(token)
        _check_origin()

    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(status="error", message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify(status="error", message=f"{exc.name}: {exc.description}"), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # a component failed (camera won't open, disk full): say so
        log.exception("control API: %s %s failed", request.method, request.path)
        return jsonify(status="error", message=f"{type(exc).__name__}: {exc}"), 500

    _register_uplink(app, parts)
    _register_vision(app, parts)
    _register_health(app, parts)
    _register_pages(app, parts)
    _register_session(app, token)
    return app


def _check_token(token: str | None) -> None:
    if token is None:
        return
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer "):].strip() if header.startswith("Bearer ") else \
        request.cookies.get(TOKEN_COOKIE, "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "a valid token is required: send 'Authorization: Bearer <EDGE_API_TOKEN>'")


def _register_session(app: Flask, token: str | None) -> None:
    @app.post("/api/session")
    def session():
        """Trade the token (JSON ``{"token": ...}``) for the pages' HttpOnly cookie."""
        body = request.get_json(silent=True) or {}
        given = body.get("token") if isinstance(body, dict) else None
        if token is None:
            return ok("this control API needs no token")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(401, "wrong token")
        response = ok("unlocked")
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response


def _check_origin() -> None:
    origin = request.headers.get("Origin")
    if request.method != "POST" or not origin:
        return
    if urlsplit(origin).netloc != request.host:
        raise ApiError(403, f"cross-site request from {origin} refused")


def ok(message: str, **extra: Any):
    """A success answer."""
    return jsonify(status="success", message=message, **extra)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"'{name}' must be an integer, not {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}")
    return value


# ---------------------------------------------------------------------- uplink


def uplink_json(parts: AgentParts) -> dict[str, Any]:
    """The uplink status plus backlog, JSON-ready."""
    status = asdict(parts.uplink.status())
    status["state"] = status["state"].value
    for key in ("connected_since", "last_delivery_at"):
        if status[key] is not None:
            status[key] = datetime.fromtimestamp(status[key], UTC).isoformat(timespec="seconds")
    status["backlog"] = {kind.value: asdict(parts.outbox.backlog(kind)) for kind in Kind}
    return status


def _register_uplink(app: Flask, parts: AgentParts) -> None:
    @app.get("/api/websocket_status")
    def websocket_status():
        return ok("uplink status", websocket=uplink_json(parts))

    @app.post("/api/start_websocket_sender")
    def start_sender():
        parts.uplink.start()
        return ok("uplink started", websocket=uplink_json(parts))

    @app.post("/api/stop_websocket_sender")
    def stop_sender():
        parts.uplink.stop()
        return ok("uplink stopped; unsent rows stay in the outbox", websocket=uplink_json(parts))

    @app.post("/api/restart_websocket_sender")
    def restart_sender():
        parts.uplink.restart()
        return ok("uplink restarted", websocket=uplink_json(parts))

    @app.get("/api/websocket_unsent_data")
    def unsent():
        limit = _int_arg("limit", 100, 1, MAX_LIMIT)
        rows = [asdict(row) for row in parts.outbox.unsent(limit)]
        health = parts.outbox.backlog(Kind.HEALTH).unsent
        return ok(f"{len(rows)} unsent detections shown", detections=rows, unsent_health_rows=health)


# ---------------------------------------------------------------------- vision


def _vision(parts: AgentParts) -> VisionService:
    if parts.vision is None:
        why = parts.vision_error or "vision is off"
        raise ApiError(503, f"camera and detection are unavailable: {why}")
    return parts.vision


def _register_vision(app: Flask, parts: AgentParts) -> None:
    @app.get("/api/camera_status")
    def camera_status():
        return ok("camera status", camera=_vision(parts).camera_status())

    @app.get("/api/detection_status")
    def detection_status():
        return ok("detection status", detection=_vision(parts).detection_status())

    def action(name: str, done: str):
        def view():
            getattr(_vision(parts), name)()
            log.info("control API: %s", done)
            return ok(done, camera=parts.vision.camera_status(), detection=parts.vision.detection_status())
        view.__name__ = name
        return view

    for name, done in (("start_camera", "camera started"), ("stop_camera", "camera stopped"),
                       ("start_detection", "detection started"), ("stop_detection", "detection stopped")):
        app.post(f"/api/{name}")(action(name, done))


# ---------------------------------------------------------------------- health


def health_json(parts: AgentParts, fresh: bool = False) -> dict[str, Any]:
    """The last health snapshot (or a new one), JSON-ready."""
    snapshot = parts.health.last if parts.health.last and not fresh else parts.health.check(queue=fresh)
    return {"overall": snapshot.overall.value,
            "checked_at": snapshot.checked_at.isoformat(timespec="seconds"),
            "components": [{"component": c.component, "status": c.status.value, "message": c.message,
                            "details": c.details} for c in snapshot.components],
            "system_info": snapshot.system_info}


def _register_health(app: Flask, parts: AgentParts) -> None:
    @app.get("/api/health_status")
    def health_status():
        return ok("last health check", health=health_json(parts))

    @app.post("/api/run_health_check")
    def run_health_check():
        return ok("health check done", health=health_json(parts, fresh=True))


# ---------------------------------------------------------------------- pages and images


def _register_pages(app: Flask, parts: AgentParts) -> None:
    for path, name in PAGES.items():
        app.add_url_rule(path, f"page_{name}", lambda name=name: render_page(name))

    @app.get("/api/detections")
    def detections():
        limit = _int_arg("limit", 20, 1, MAX_LIMIT)
        rows = [asdict(row) for row in parts.outbox.recent(limit)]
        return ok(f"{len(rows)} recent detections", detections=rows)

    @app.get("/images/<event_id>/<which>.jpg")
    def image(event_id: str, which: str):
        if which not in ("scene", "plate"):
            raise ApiError(400, "image must be 'scene' or 'plate'")
        try:
            event_id = str(uuid.UUID(event_id))
        except ValueError:
            raise ApiError(400, "event id must be a UUID") from None
        path = parts.outbox.image_path(event_id, which)
        # Only files the agent stored itself (an outside row's pictures are copied in at adoption).
        if path is None or not inside(path, [parts.outbox.config.image_dir]) or not path.is_file():
            abort(404, "no such image (never stored, or pruned)")
        return send_file(path.resolve(), mimetype="image/jpeg", max_age=3600)
