"""The REST API for other programs: ``/api/v1/...`` with ``Authorization: Bearer <API key>``.

Keys come from ``python -m dashboard apikeys add NAME --role viewer|admin``
(``fleet_store.apikeys``); browser sessions do not open the API, and the API
key does not open pages. Any key reads; only an ``admin`` key acknowledges
alerts and changes the watchlist (403 otherwise). Every answer is JSON (images
excepted); errors are ``{"error": code, "message": text}`` with 400, 401, 403,
404 or 409. The document at
``/api/v1/openapi.json`` (:mod:`dashboard.openapi`) describes exactly these
routes (a test compares it with the app's URL map and validates live answers
against it). Detection searches, detail reads and image reads are audited as
``apikey:NAME``. Payloads come from their one author: ``fleet_store.records``
for detections, ``fleet_store.alerts`` for alerts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from fleet_store import alerts as alert_store
from fleet_store import apikeys
from fleet_store.audit import AuditEntry, record
from fleet_store.imagefiles import stored_image
from fleet_store.lists import EntryFields, ListError, ListKind, add_entry, list_entries, parse_expiry, remove_entry
from fleet_store.records import StoredDetection

from . import queries
from .context import fleet
from .extensions import socketio
from .openapi import document
from .search import SearchError, SearchQuery, search

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 500


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    response = jsonify(error=exc.code, message=exc.message)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="aicamera-api"'
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _api_error(ApiError(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description or exc.name))


@bp.before_request
def _authenticate():
    if request.endpoint == "api.openapi":
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    key = apikeys.verify(fleet().engine, secret.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <API key>' with a valid, unrevoked key")
    g.api_key = key


def _admin() -> None:
    if not g.api_key.is_admin:
        raise ApiError(403, "forbidden", "this needs an admin key (python -m dashboard apikeys add NAME --role admin)")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_body", "send a JSON object (Content-Type: application/json)")
    return body


def _audit(action: str, subject: str = "", plate: str | None = None, detail: dict | None = None) -> None:
    record(fleet().engine, AuditEntry(f"apikey:{g.api_key.name}", action, subject, plate,
                                      request.remote_addr or "", detail or {}))


def _int(name: str, default: int | None = None, low: int = 1, high: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, "bad_parameter", f"{name} must be between {low} and {high}")
    return value


def _time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=fleet().settings.tz)


def _float(name: str) -> float | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be a number") from None


def _detection(row) -> dict[str, Any]:
    return StoredDetection.from_row(row).live_event().payload


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/detections")
def detections():
    try:
        query = SearchQuery(request.args.get("plate", "")[:32], request.args.get("province", "")[:64],
                            request.args.get("checkpoint", "")[:64], _time("since"), _time("until"),
                            _float("min_confidence"), _int("before_id"))
    except SearchError as exc:
        raise ApiError(400, "bad_parameter", str(exc)) from None
    page = search(fleet().engine, query, _int("limit", 50, 1, MAX_LIMIT))
    _audit("api.search", "detections", query.plate_part or None,
           {k: v[:64] for k, v in request.args.items() if k != "before_id"})
    return jsonify(items=[_detection(r) for r in page.rows], next_before_id=page.next_before)


@bp.get("/detections/<int:detection_id>")
def one_detection(detection_id: int):
    row = queries.detection(fleet().engine, detection_id)
    if row is None:
        raise ApiError(404, "not_found", f"no detection {detection_id}")
    _audit("api.view", f"detection:{detection_id}", row.license_plate)
    return jsonify(_detection(row))


@bp.get("/detections/<int:detection_id>/image")
def image(detection_id: int):
    row = queries.detection(fleet().engine, detection_id)
    which = request.args.get("which", "scene")
    if which not in ("scene", "plate"):
        raise ApiError(400, "bad_parameter", "which is 'scene' or 'plate'")
    path = stored_image(fleet().settings.image_dir, getattr(row, "image_path" if which == "scene"
                                                                  else "plate_image_path", None)) if row else None
    if path is None:
        raise ApiError(404, "not_found", f"no {which} image for detection {detection_id}")
    _audit("api.image", f"detection:{detection_id}", row.license_plate, {"which": which})
    response = send_file(path, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/checkpoints")
def checkpoint_list():
    items = [{"checkpoint_id": c.checkpoint_id, "name": c.name, "status": c.status, "connected": c.connected,
              "last_seen_at": _iso(c.last_seen_at), "latitude": c.latitude, "longitude": c.longitude,
              "detections_last_hour": c.detections_last_hour, "worst": c.worst, "backlog": c.backlog}
             for c in queries.fleet_overview(fleet().engine)]
    return jsonify(items=items)


@bp.get("/health")
def health():
    items = [{"checkpoint_id": c.checkpoint_id, "component": h.component, "status": h.status,
              "message": h.message, "timestamp": _iso(h.timestamp)}
             for c in queries.fleet_overview(fleet().engine) for h in c.components]
    return jsonify(items=items)


@bp.get("/alerts")
def alert_list():
    state = request.args.get("state") or None
    if state is not None and state not in {s.value for s in alert_store.AlertState}:
        raise ApiError(400, "bad_parameter", "state is open, acknowledged or closed")
    rows = alert_store.list_alerts(fleet().engine, alert_store.AlertState(state) if state else None,
                                   _int("limit", 100, 1, MAX_LIMIT), _int("before_id"))
    return jsonify(items=[a.payload() for a in rows])


@bp.post("/alerts/<int:alert_id>/acknowledge")
def acknowledge(alert_id: int):
    _admin()
    engine = fleet().engine
    alert = alert_store.acknowledge(engine, alert_id, f"apikey:{g.api_key.name}")
    if alert is None:
        if alert_store.get_alert(engine, alert_id) is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        raise ApiError(409, "conflict", f"alert {alert_id} was already acknowledged or closed")
    _audit("alert.acknowledge", f"alert:{alert_id}", (alert.detail or {}).get("license_plate"),
           {"rule": alert.rule.value, "subject": alert.subject})
    event = alert.live_event()
    socketio.emit(event.name, event.payload, namespace="/")
    return jsonify(alert.payload())


def _entry_json(e) -> dict[str, Any]:
    return {"id": e.id, "pattern": e.pattern, "province": e.province, "note": e.note,
            "tolerance": e.fields.tolerance, "expires_at": _iso(e.fields.expires_at),
            "created_by": e.created_by, "created_at": _iso(e.created_at)}


@bp.get("/watchlist")
def watchlist():
    return jsonify(items=[_entry_json(e) for e in list_entries(fleet().engine, ListKind.WATCH)])


@bp.post("/watchlist")
def add_to_watchlist():
    _admin()
    body = _body()
    try:
        fields = EntryFields(str(body.get("pattern", "")), str(body.get("province") or ""),
                             str(body.get("note") or ""),
                             expires_at=parse_expiry(str(body.get("expires_at") or ""), fleet().settings.tz),
                             tolerance=int(body.get("tolerance") or 0))
        entry = add_entry(fleet().engine, ListKind.WATCH, fields, f"apikey:{g.api_key.name}")
    except (ListError, ValueError, TypeError) as exc:
        raise ApiError(409 if "already on" in str(exc) else 400, "bad_entry", str(exc)) from None
    _audit("list.add", f"watchlist:{entry.id}", entry.pattern)
    response = jsonify(_entry_json(entry))
    response.status_code = 201
    return response


@bp.delete("/watchlist/<int:entry_id>")
def remove_from_watchlist(entry_id: int):
    _admin()
    if not remove_entry(fleet().engine, ListKind.WATCH, entry_id):
        raise ApiError(404, "not_found", f"no watchlist entry {entry_id}")
    _audit("list.remove", f"watchlist:{entry_id}")
    return "", 204


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
