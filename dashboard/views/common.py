"""Helpers shared by the views: role checks, the audit record, time formatting, template globals."""

from __future__ import annotations

import functools
from datetime import datetime

from flask import Flask, abort, g, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from fleet_protocol import THAI_PROVINCES, VehicleType
from fleet_store.alerts import count_open
from fleet_store.audit import AuditEntry, record
from fleet_store.schema import checkpoints

from ..context import fleet


def admin_required(view):
    """Refuse (403) a logged-in user who is not an admin."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated or not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def editor_required(view):
    """Refuse (403) a logged-in user who may not correct reads (neither admin nor editor)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated or not current_user.can_correct:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def visible_checkpoints() -> frozenset[str] | None:
    """Ids of the checkpoints the current user may see, or None for every one (admins and users not
    limited to sites). Every view that shows detections, health or checkpoints filters with it."""
    sites = current_user.limited_to if current_user.is_authenticated else frozenset()
    if sites is None:
        return None
    if "visible_checkpoints" not in g:
        with fleet().engine.connect() as conn:
            g.visible_checkpoints = frozenset(conn.execute(
                select(checkpoints.c.checkpoint_id).where(checkpoints.c.site.in_(sorted(sites)))).scalars())
    return g.visible_checkpoints


def require_visible(checkpoint_id: str) -> None:
    """404 (as if it did not exist) when the current user may not see ``checkpoint_id``."""
    scope = visible_checkpoints()
    if scope is not None and checkpoint_id not in scope:
        abort(404)


def audit(action: str, subject: str = "", plate: str | None = None, actor: str | None = None, **detail) -> None:
    """Record that the current user did ``action`` from this request's client address (fleet_store.audit)."""
    if actor is None:
        actor = current_user.username if current_user.is_authenticated else "-"
    record(fleet().engine, AuditEntry(actor, action, subject, plate or None, request.remote_addr or "", detail))


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An aware UTC time as text in the fleet's zone ("" for None)."""
    if value is None:
        return ""
    return value.astimezone(fleet().settings.tz).strftime(fmt)


def rule_labels() -> dict[str, str]:
    """Each alert rule's name for people (pages, and the browser's live banners)."""
    return {"watchlist": _("Watchlist plate seen"), "offline": _("Checkpoint offline"),
            "silent": _("No detections"), "health_fail": _("Component failing"), "clock_skew": _("Clock off")}


def vehicle_label(code: str | None) -> str:
    """A checkpoint's ``vehicle_type`` for people: the Thai reader's types by name (what the plate's
    format and colours say, docs/vision.md "Vehicle type"); any other sender's value as it came."""
    labels = {VehicleType.PRIVATE: _("Private car"), VehicleType.VAN: _("Van (over 7 seats)"),
              VehicleType.PICKUP: _("Pickup (private truck)"), VehicleType.TAXI: _("Taxi or vehicle for hire"),
              VehicleType.COMMERCIAL: _("Commercial vehicle"), VehicleType.MOTORCYCLE: _("Motorcycle")}
    return labels.get(code or "", code or "")


def register_template_helpers(app: Flask) -> None:
    """Filters and globals every template may use."""
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(vehicle_label, "vehicle")

    @app.context_processor
    def _globals():
        authenticated = current_user.is_authenticated
        return {"fleet_tz": fleet().settings.fleet_timezone, "locale": str(get_locale()),
                "open_alerts": count_open(fleet().engine, visible_checkpoints()) if authenticated else 0,
                "alert_labels": rule_labels() if authenticated else {}, "provinces": THAI_PROVINCES}

    tiles = fleet_settings(app).tiles_origin
    policy = ("default-src 'self'; img-src 'self' data:" + (f" {tiles}" if tiles else "") + "; "
              "style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; script-src 'self'; "
              "object-src 'none'; frame-ancestors 'none'")

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", policy)
        return response


def fleet_settings(app: Flask):
    """The settings an app was built with."""
    return app.extensions["fleet"].settings
