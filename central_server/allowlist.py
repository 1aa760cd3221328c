"""``GET /v1/allowlist`` on the ingest port: the allow-list a checkpoint's gate keeps (docs/alerts.md, "Gate").

The checkpoint authenticates with its ingest token (``Authorization: Bearer``);
it gets only the entries that apply to it (``fleet_store.lists.allowed_for``):
pattern, province and expiry, no notes. The answer carries an ``ETag``; a
request with ``If-None-Match`` of the same tag gets 304, so a Pi can poll
often for nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import http
import json
from datetime import UTC, datetime

from sqlalchemy import Engine
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from fleet_store.lists import allowed_for

from . import auth

PATH = "/v1/allowlist"


def document(engine: Engine, checkpoint_id: str, now: datetime | None = None) -> tuple[bytes, str]:
    """The JSON body for ``checkpoint_id`` and its ETag."""
    entries = [{"pattern": e.pattern, "province": e.province,
                "expires_at": e.fields.expires_at.isoformat() if e.fields.expires_at else None}
               for e in allowed_for(engine, checkpoint_id, now or datetime.now(UTC))]
    tag = '"' + hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:32] + '"'
    body = json.dumps({"checkpoint_id": checkpoint_id, "version": tag.strip('"'), "entries": entries},
                      ensure_ascii=False).encode()
    return body, tag


async def answer(connection: ServerConnection, request: Request, engine: Engine) -> Response:
    """The allow-list of the checkpoint whose token the request carries (401 without a valid one)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    checkpoint_id = None
    if scheme.lower() == "bearer" and token and len(token) <= 256:
        checkpoint_id = await asyncio.to_thread(auth.checkpoint_for_token, engine, token)
    if checkpoint_id is None:
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "a checkpoint's 'Authorization: Bearer' token\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="ingest"'
        return response
    body, tag = await asyncio.to_thread(document, engine, checkpoint_id)
    headers = Headers([("ETag", tag), ("Cache-Control", "no-store")])
    if request.headers.get("If-None-Match") == tag:
        return Response(304, "Not Modified", headers, b"")
    headers["Content-Type"] = "application/json; charset=utf-8"
    return Response(200, "OK", headers, body)
