"""Threat model, ingest: a stolen or revoked token, tokenless senders, resource exhaustion, hostile input,
and a commit whose outcome is unknown (findings 4, 7, 12, 13, 18).

The ingest runs for real on 127.0.0.1 (``central_server.server.run`` in this event loop,
or ``python -m central_server``); database faults are injected where the real fault
(a PostgreSQL restart, an fsync error after COMMIT) cannot be produced on demand.
Every test here failed on main at b009fd5.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from central_server import auth
from central_server.errors import StorageUnavailable
from central_server.images import ImageStore
from central_server.store import GroupCommitWriter
from fleet_protocol import Detection
from fleet_store import db
from fleet_store.schema import checkpoints, lpr_detections
from tests.support.images import scene_jpeg
from tests.support.ingest import REPO, ingest_env, running_ingest
from tests.support.ingest import ingest_settings as _settings
from tests.support.messages import detection, dumps

JPEG = scene_jpeg(320, 240)


def ingest_settings(sqlite_url, tmp_path, **overrides):
    return _settings(sqlite_url, tmp_path, ingest_token_recheck_seconds=0.2, **overrides)


async def ask(ws, message) -> dict:
    await ws.send(message if isinstance(message, str) else dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(server, checkpoint_id: str, anonymous: bool = False) -> str | None:
    engine = server.engine()
    try:
        if anonymous:
            return auth.allow_anonymous(engine, checkpoint_id)
        return auth.add_checkpoint(engine, checkpoint_id)
    finally:
        engine.dispose()


def stored(server, *columns):
    engine = server.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(select(*columns)).all()
    finally:
        engine.dispose()


class Outage:
    """``auth.token_still_valid`` raising like a database that went away, while ``down`` is set."""

    def __init__(self, monkeypatch):
        self.down = True
        real = auth.token_still_valid

        def token_still_valid(*args):
            if self.down:
                raise OperationalError("SELECT token_hash", {}, Exception("connection refused"))
            return real(*args)

        monkeypatch.setattr(auth, "token_still_valid", token_still_valid)


async def test_revoked_token_is_cut_off_after_a_database_outage(sqlite_url, tmp_path, monkeypatch):
    """Finding 4: after the watcher met database errors, revoking a token still closes its connection (1008)."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_token_recheck_grace=1000)
    async with running_ingest(settings) as server:
        token = register(server, "gate-9")
        async with connect(server.url, additional_headers=bearer(token)) as ws:
            assert (await ask(ws, detection(JPEG, "gate-9")))["status"] == "success"
            outage = Outage(monkeypatch)
            await asyncio.sleep(1.0)  # several rounds fail
            outage.down = False
            register_engine = server.engine()
            auth.revoke_checkpoint(register_engine, "gate-9")
            register_engine.dispose()
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(30):
                    await ask(ws, detection(JPEG, "gate-9"))
                    await asyncio.sleep(0.1)
            assert closed.value.rcvd.code == 1008


async def test_connections_that_cannot_be_rechecked_are_closed(sqlite_url, tmp_path, monkeypatch):
    """Finding 4: while tokens cannot be re-checked, open connections are closed after the grace rounds."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_token_recheck_grace=3)
    async with running_ingest(settings) as server:
        token = register(server, "gate-8")
        async with connect(server.url, additional_headers=bearer(token)) as ws:
            Outage(monkeypatch)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 1013


async def test_anonymous_sender_cannot_write_as_a_tokened_checkpoint(sqlite_url, tmp_path):
    """Finding 7: a tokenless sender naming a checkpoint that has a token is refused; nothing is stored."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_allow_anonymous=True)
    async with running_ingest(settings) as server:
        register(server, "gate-1")
        async with connect(server.url) as ws:
            answer = await ask(ws, detection(JPEG, "gate-1"))
            health = await ask(ws, {"table": "health_monitor", "action": "insert", "data": {
                "checkpoint_id": "gate-1", "timestamp": "2026-11-30T10:00:00", "component": "camera",
                "status": "FAIL"}})
        assert answer["code"] == "checkpoint_mismatch" and health["code"] == "checkpoint_mismatch"
        assert stored(server, lpr_detections.c.id) == []


async def test_anonymous_senders_cannot_invent_checkpoints(sqlite_url, tmp_path):
    """Finding 7: 20 tokenless senders with made-up ids create nothing; an id allowed by an operator works."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_allow_anonymous=True)
    async with running_ingest(settings) as server:
        register(server, "legacy-1", anonymous=True)
        for i in range(20):
            async with connect(server.url) as ws:
                assert (await ask(ws, detection(JPEG, f"fake-{i:03d}")))["status"] == "error"
        async with connect(server.url) as ws:
            assert (await ask(ws, detection(JPEG, "legacy-1")))["status"] == "success"
        assert [row.checkpoint_id for row in stored(server, checkpoints.c.checkpoint_id)] == ["legacy-1"]


async def test_one_token_gets_at_most_two_connections(sqlite_url, tmp_path):
    """Finding 13: a third connection with the same token is refused (429); a freed slot is usable again."""
    async with running_ingest(ingest_settings(sqlite_url, tmp_path)) as server:
        token = register(server, "gate-1")
        async with connect(server.url, additional_headers=bearer(token)) as first, \
                connect(server.url, additional_headers=bearer(token)):
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.url, additional_headers=bearer(token))
            assert refused.value.response.status_code == 429
            await first.close()
            await asyncio.sleep(0.2)
            async with connect(server.url, additional_headers=bearer(token)) as again:
                assert (await ask(again, detection(JPEG, "gate-1")))["status"] == "success"


async def test_connections_in_all_are_capped(sqlite_url, tmp_path):
    """Finding 13: past INGEST_MAX_CONNECTIONS a handshake gets 503 instead of memory."""
    async with running_ingest(ingest_settings(sqlite_url, tmp_path, ingest_max_connections=3)) as server:
        tokens = [register(server, f"gate-{i}") for i in range(4)]
        held = [await connect(server.url, additional_headers=bearer(t)) for t in tokens[:3]]
        try:
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.url, additional_headers=bearer(tokens[3]))
            assert refused.value.response.status_code == 503
        finally:
            await asyncio.gather(*(ws.close() for ws in held))


async def test_validation_nits_are_closed(sqlite_url, tmp_path):
    """Finding 18: ids with a trailing newline are refused, deep JSON is a permanent refusal, not a retry."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_allow_anonymous=True)
    async with running_ingest(settings) as server:
        token = register(server, "gate-1")
        register(server, "legacy-1", anonymous=True)
        deep = dumps(detection(JPEG, "gate-1", deep="DEEP")).replace('"DEEP"', '{"k":' * 990 + "{}" + "}" * 990)
        async with connect(server.url, additional_headers=bearer(token)) as ws:
            assert (await ask(ws, detection(JPEG, "gate-1\n")))["code"] == "invalid_field"
            assert (await ask(ws, detection(JPEG, "gate-1", hostname="edge\n")))["code"] == "invalid_field"
            nested = await ask(ws, deep)
            assert (nested["code"], nested["retryable"]) == ("field_too_long", False)
        async with connect(server.url) as ws:
            assert (await ask(ws, detection(JPEG, "legacy-1\n")))["code"] == "invalid_field"
        assert len(stored(server, checkpoints.c.checkpoint_id)) == 2


async def test_healthz_does_not_leak_database_errors(sqlite_url, tmp_path):
    """Finding 18: an anonymous /healthz during a storage failure shows a code, not the driver's message."""
    async with running_ingest(ingest_settings(sqlite_url, tmp_path)) as server:
        token = register(server, "gate-1")
        engine = server.engine()
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE lpr_detections RENAME TO moved"))
        async with connect(server.url, additional_headers=bearer(token)) as ws:
            assert (await ask(ws, detection(JPEG, "gate-1")))["code"] == "unavailable"
        with pytest.raises(urllib.error.HTTPError) as answer:
            await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{server.port}/healthz")
        body = answer.value.read().decode()
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE moved RENAME TO lpr_detections"))
        engine.dispose()
        assert json.loads(body)["store_error"] == "storage_unavailable"
        assert "lpr_detections" not in body and "Error" not in body


def test_checkpoints_add_refuses_ids_the_protocol_would_refuse(sqlite_url, tmp_path):
    """Finding 18: ``checkpoints add '../x y<b>'`` is an error, not a token that can never be used."""
    env = ingest_env(_settings(sqlite_url, tmp_path), 1)
    done = subprocess.run([sys.executable, "-m", "central_server", "checkpoints", "add", "../x y<b>"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "invalid checkpoint id" in done.stderr and "cpt_" not in done.stdout


async def test_ambiguous_commit_never_deletes_the_images_of_stored_rows(sqlite_url, tmp_path):
    """Finding 12: COMMIT succeeds but reports an error; the row's image survives and the resend is a duplicate."""
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    writer = GroupCommitWriter(engine, ImageStore(tmp_path / "images"))
    real_commit = engine.dialect.do_commit
    faults = [sqlite3.OperationalError("disk I/O error (after COMMIT)")]

    def do_commit(dbapi_connection):
        real_commit(dbapi_connection)
        if faults:
            raise faults.pop()

    engine.dialect.do_commit = do_commit
    writer.start()
    message = Detection(checkpoint_id="gate-1", license_plate="AMB1", confidence=90.0,
                        timestamp=lpr_timestamp(), image=JPEG, event_id="6799f4a2-1111-4222-8333-444455556666")
    try:
        with pytest.raises(StorageUnavailable):
            await writer.submit(message)
        again = await writer.submit(message)
    finally:
        writer.stop()
    with engine.connect() as conn:
        path = conn.execute(select(lpr_detections.c.image_path)).scalar_one()
    engine.dispose()
    assert again.duplicate and (tmp_path / "images" / path).is_file()


def lpr_timestamp():
    from datetime import UTC, datetime

    return datetime.now(UTC)
