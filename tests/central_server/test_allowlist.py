"""``GET /v1/allowlist`` on the ingest port: each checkpoint gets the entries that apply to it, by its token."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from central_server import auth
from fleet_store.lists import EntryFields, ListKind, add_entry
from tests.support.ingest import ingest_settings, running_ingest


def get(port: int, token: str | None, etag: str | None = None) -> tuple[int, dict | None, str | None]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if etag:
        headers["If-None-Match"] = etag
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/allowlist", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers["ETag"]
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, None, exc.headers.get("ETag")


async def test_each_checkpoint_gets_its_entries(sqlite_url, tmp_path):
    """Fleet-wide entries, its site's and its own; not another site's, not expired ones; 304 when unchanged."""
    async with running_ingest(ingest_settings(sqlite_url, tmp_path)) as server:
        engine = server.engine()
        a = auth.add_checkpoint(engine, "gate-1", auth.CheckpointDetails(site="Village A"))
        b = auth.add_checkpoint(engine, "gate-2", auth.CheckpointDetails(site="Village B"))
        for pattern, site, checkpoint, expires in (("AA1", "", "", None), ("BB2", "Village A", "", None),
                                                   ("CC3", "", "gate-2", None), ("EE5", "Village A", "gate-2", None),
                                                   ("DD4", "", "", datetime.now(UTC) - timedelta(days=1))):
            add_entry(engine, ListKind.ALLOW, EntryFields(pattern, note="secret note", site=site,
                                                          checkpoint_id=checkpoint, expires_at=expires), "t")
        status, body, tag = await asyncio.to_thread(get, server.port, a)
        assert status == 200 and [e["pattern"] for e in body["entries"]] == ["AA1", "BB2"]
        assert body["checkpoint_id"] == "gate-1" and "secret note" not in json.dumps(body)
        status, body, _ = await asyncio.to_thread(get, server.port, b)
        assert [e["pattern"] for e in body["entries"]] == ["AA1", "CC3"]
        assert (await asyncio.to_thread(get, server.port, a, tag))[0] == 304
        add_entry(engine, ListKind.ALLOW, EntryFields("FF6"), "t")
        status, body, new_tag = await asyncio.to_thread(get, server.port, a, tag)
        assert status == 200 and new_tag != tag and "FF6" in [e["pattern"] for e in body["entries"]]
        engine.dispose()


@pytest.mark.parametrize("token", [None, "cpt_unknown", "x" * 300])
async def test_no_list_without_a_live_token(token, sqlite_url, tmp_path):
    """No token, an unknown one, an oversized one and a revoked one get 401."""
    async with running_ingest(ingest_settings(sqlite_url, tmp_path)) as server:
        live = server.add_checkpoint("gate-1")
        assert (await asyncio.to_thread(get, server.port, token))[0] == 401
        engine = server.engine()
        auth.revoke_checkpoint(engine, "gate-1")
        engine.dispose()
        assert (await asyncio.to_thread(get, server.port, live))[0] == 401
