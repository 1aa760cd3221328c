"""The OpenAPI 3.1 document of the REST API (``GET /api/v1/openapi.json``), kept beside the code it describes.

``tests/dashboard/test_api.py`` checks that its paths are exactly the API's
routes and validates live answers against its schemas.
"""

from __future__ import annotations

from typing import Any

_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_NNUM = {"type": ["number", "null"]}
_NSTR = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message"], "additionalProperties": False,
              "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
    "Detection": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "checkpoint_id", "license_plate", "province", "confidence", "timestamp", "received_at"],
        "properties": {
            "id": {"type": "integer"}, "checkpoint_id": {"type": "string"}, "event_id": _NSTR,
            "license_plate": {"type": "string"}, "province": {"type": "string", "description": "'' when not read"},
            "confidence": {"type": "number"}, "timestamp": _TIME, "received_at": _TIME,
            "hostname": {"type": "string"}, "vehicle_type": {"type": "string"}, "latitude": _NNUM,
            "longitude": _NNUM, "has_image": {"type": "boolean"}, "has_plate_image": {"type": "boolean"}}},
    "DetectionPage": {
        "type": "object", "required": ["items", "next_before_id"], "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Detection"}},
                       "next_before_id": {"type": ["integer", "null"],
                                          "description": "pass as before_id for older results; null: no more"}}},
    "Checkpoint": {
        "type": "object", "additionalProperties": False,
        "required": ["checkpoint_id", "name", "status", "connected", "last_seen_at"],
        "properties": {
            "checkpoint_id": {"type": "string"}, "name": {"type": "string"},
            "status": {"enum": ["never", "online", "offline"]}, "connected": {"type": "boolean"},
            "last_seen_at": _NTIME, "latitude": _NNUM, "longitude": _NNUM,
            "detections_last_hour": {"type": "integer"}, "worst": {"enum": ["PASS", "WARN", "FAIL", None]},
            "backlog": _NNUM}},
    "HealthStatus": {
        "type": "object", "additionalProperties": False,
        "required": ["checkpoint_id", "component", "status", "message", "timestamp"],
        "properties": {"checkpoint_id": {"type": "string"}, "component": {"type": "string"},
                       "status": {"enum": ["PASS", "WARN", "FAIL"]}, "message": {"type": "string"},
                       "timestamp": _TIME}},
    "Alert": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "rule", "subject", "state", "text", "opened_at", "occurrences", "detail"],
        "properties": {
            "id": {"type": "integer"},
            "rule": {"enum": ["watchlist", "offline", "silent", "health_fail", "clock_skew"]},
            "subject": {"type": "string"}, "checkpoint_id": _NSTR,
            "state": {"enum": ["open", "acknowledged", "closed"]}, "text": {"type": "string"},
            "opened_at": _TIME, "last_at": _TIME, "occurrences": {"type": "integer"},
            "acknowledged_by": _NSTR, "acknowledged_at": _NTIME, "closed_at": _NTIME,
            "detail": {"type": "object", "description": "per rule, see docs/alerts.md"}}},
    "NewWatchEntry": {
        "type": "object", "required": ["pattern"],
        "properties": {"pattern": {"type": "string", "description": "a plate, or a pattern with * and ?"},
                       "province": {"type": "string"}, "note": {"type": "string", "maxLength": 255},
                       "expires_at": {"type": "string", "description": "a date (2027-01-31) or an ISO time"},
                       "tolerance": {"enum": [0, 1]}}},
    "WatchEntry": {
        "type": "object", "additionalProperties": False, "required": ["id", "pattern", "province"],
        "properties": {"id": {"type": "integer"}, "pattern": {"type": "string"}, "province": {"type": "string"},
                       "note": {"type": "string"}, "tolerance": {"enum": [0, 1]}, "expires_at": _NTIME,
                       "created_by": {"type": "string"}, "created_at": _TIME}},
}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items"], "additionalProperties": False,
            "properties": {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}}}


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{schema}"}}}}


def _param(name: str, schema: dict, description: str, where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


_ERRORS = {"400": _json("Error", "a parameter is wrong"), "401": _json("Error", "missing, unknown or revoked key")}
_ID = _param("detection_id", {"type": "integer"}, "the detection's id", "path")
_LIMIT = _param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size")
_BEFORE = _param("before_id", {"type": "integer", "minimum": 1}, "only older than this id (paging)")


def _get(summary: str, response: dict, parameters: list | None = None, **extra) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": parameters or [],
                    "responses": {"200": response, **_ERRORS, **extra}}}


_WRITE_ERRORS = {"401": _json("Error", "missing, unknown or revoked key"),
                 "403": _json("Error", "the key is not an admin key")}


def _write(method: str, summary: str, responses: dict, parameters: list | None = None,
           body: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary + " (admin key)", "parameters": parameters or [],
                                 "responses": {**responses, **_WRITE_ERRORS}}
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{body}"}}}}
    return {method: operation}


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    schemas = dict(SCHEMAS, CheckpointList=_list_of("Checkpoint"), HealthList=_list_of("HealthStatus"),
                   AlertList=_list_of("Alert"), WatchList=_list_of("WatchEntry"))
    not_found = {"404": _json("Error", "no such detection or image")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "AI Camera Fleet API", "version": "1",
                 "description": "Access for other programs. Keys: `python -m dashboard apikeys add NAME --role "
                                "viewer|admin`; any key reads, admin keys acknowledge alerts and change the "
                                "watchlist. Times are ISO 8601; naive times are in the fleet's zone."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}, "schemas": schemas},
        "paths": {
            "/openapi.json": {"get": {"summary": "this document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/detections": _get("search detections, newest first", _json("DetectionPage"), [
                _param("plate", {"type": "string"}, "part of the registration (Thai or Latin)"),
                _param("province", {"type": "string"}, "exact Thai province name"),
                _param("checkpoint", {"type": "string"}, "checkpoint id"),
                _param("since", {"type": "string", "format": "date-time"}, "from this time (inclusive)"),
                _param("until", {"type": "string", "format": "date-time"}, "before this time"),
                _param("min_confidence", {"type": "number", "minimum": 0, "maximum": 100}, "lowest confidence"),
                _BEFORE, _LIMIT]),
            "/detections/{detection_id}": _get("one detection", _json("Detection"), [_ID], **not_found),
            "/detections/{detection_id}/image": _get(
                "the scene or the plate crop", {"description": "JPEG", "content": {"image/jpeg": {}}},
                [_ID, _param("which", {"enum": ["scene", "plate"]}, "scene (default) or plate")], **not_found),
            "/checkpoints": _get("every checkpoint with its state", _json("CheckpointList")),
            "/health": _get("latest report of each component (last 24 h)", _json("HealthList")),
            "/alerts": _get("alerts, newest first", _json("AlertList"), [
                _param("state", {"enum": ["open", "acknowledged", "closed"]}, "only this state"), _BEFORE, _LIMIT]),
            "/alerts/{alert_id}/acknowledge": _write("post", "acknowledge an open alert", {
                "200": _json("Alert", "acknowledged (a watchlist hit is closed too)"),
                "404": _json("Error", "no such alert"), "409": _json("Error", "already acknowledged or closed")},
                [_param("alert_id", {"type": "integer"}, "the alert's id", "path")]),
            "/watchlist": _get("watchlist entries", _json("WatchList")) | _write(
                "post", "add a watchlist entry", {"201": _json("WatchEntry", "added"),
                                                  "400": _json("Error", "the entry is not valid"),
                                                  "409": _json("Error", "already listed")}, body="NewWatchEntry"),
            "/watchlist/{entry_id}": _write("delete", "remove a watchlist entry", {
                "204": {"description": "removed"}, "404": _json("Error", "no such entry")},
                [_param("entry_id", {"type": "integer"}, "the entry's id", "path")]),
        },
    }
