"""The security review's attacks, run together against one set of real processes (``make chaos``).

One ingest (SQLite, ``INGEST_ALLOW_ANONYMOUS=1``), one dashboard (gunicorn) and one edge agent
(default control-API settings) on 127.0.0.1, plus an ingest on a private PostgreSQL for the
outage row. Attackers connect from 127.0.0.2; each attack prints one row: what was sent, what
must happen, what happened. The same attacks are regression tests in ``tests/security/``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from central_server import auth
from chaos.pg import PostgresUnavailable, private_postgres
from fleet_store import db
from tests.dashboard.stack import ADMIN_PASSWORD, dashboard_env, dashboard_process, free_port
from tests.edge_agent.harness import agent_process, edge_settings
from tests.security.support import ATTACKER, log_in, refused_status, slow_clients, timed_get, trickle, web_client
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_process, ingest_settings
from tests.support.messages import detection, dumps
from tests.support.processes import wait_http

JPEG = scene_jpeg(320, 240)


@dataclass(frozen=True)
class AttackResult:
    """One row of the attack table."""

    attack: str
    expected: str
    observed: str
    ok: bool


@dataclass
class Stack:
    ingest_url: str
    db_url: str
    dashboard: str
    dashboard_port: int
    edge: str
    edge_port: int
    edge_db: Path
    incoming: Path


@contextlib.contextmanager
def stack(workdir: Path) -> Iterator[Stack]:
    """Ingest + dashboard + edge agent processes on one machine."""
    settings = ingest_settings(f"sqlite:///{workdir / 'central.db'}", workdir / "central",
                               ingest_allow_anonymous=True, ingest_token_recheck_seconds=1)
    with ingest_process(settings, log_path=workdir / "ingest.log") as ingest:
        token = ingest.add_checkpoint("1")
        env = dashboard_env(settings.central_db_url, settings.image_dir, free_port(), workdir)
        with dashboard_process(env, workdir / "dashboard.log") as dash:
            incoming = workdir / "incoming"
            incoming.mkdir()
            edge_port = free_port()
            edge = edge_settings(workdir, ingest.url, token, edge_api_port=edge_port, edge_ack_timeout_s=3,
                                 edge_outside_image_dirs=(incoming,))
            with agent_process(edge, workdir / "agent.log"):
                wait_http(f"http://127.0.0.1:{edge_port}/api/websocket_status")
                yield Stack(ingest.url, settings.central_db_url, dash.url, dash.port,
                            f"http://127.0.0.1:{edge_port}", edge_port, edge.db_path, incoming)


def socketio_flood(s: Stack) -> AttackResult:
    with concurrent.futures.ThreadPoolExecutor(65) as pool:
        statuses = list(pool.map(lambda _: refused_status(s.dashboard, timeout=4), range(65)))
    status, seconds = timed_get(s.dashboard + "/login")
    opened = statuses.count(None)
    return AttackResult("65 anonymous Socket.IO WebSockets, then GET /login", "none opens; /login 200",
                        f"{statuses.count(401)}x 401, {opened} opened; /login {status} in {seconds:.2f} s",
                        opened == 0 and status == 200)


def open_redirect(s: Stack) -> AttackResult:
    response = log_in(web_client(), s.dashboard, "admin", ADMIN_PASSWORD, next_="/%09/evil.example")
    location = response.headers.get("Location")
    return AttackResult("log in with next=/%09/evil.example", "302 to /", f"{response.status_code} to {location}",
                        location == "/")


def password_guessing(s: Stack) -> AttackResult:
    client = web_client(ATTACKER)
    statuses = [log_in(client, s.dashboard, "admin", f"guess-{i}").status_code for i in range(30)]
    right = log_in(client, s.dashboard, "admin", ADMIN_PASSWORD).status_code
    return AttackResult("30 wrong passwords for admin, then the right one (one address)",
                        "429 after 5 (1 s apart: 401); the right one 429", f"{statuses.count(401)}x 401, "
                        f"{statuses.count(429)}x 429; right password {right}",
                        statuses[:5] == [401] * 5 and statuses.count(429) >= 20 and right == 429)


def replayed_cookie(s: Stack) -> AttackResult:
    client = web_client()
    log_in(client, s.dashboard, "admin", ADMIN_PASSWORD)
    saved = client.cookies.get_dict()
    page = client.get(s.dashboard + "/").text
    token = page.split('name="csrf_token"')[1].split('value="')[1].split('"')[0]
    client.post(s.dashboard + "/logout", data={"csrf_token": token}, allow_redirects=False)
    status = web_client().get(s.dashboard + "/detections.csv", cookies=saved, allow_redirects=False).status_code
    return AttackResult("replay a session cookie after logout (GET /detections.csv)", "302 to /login",
                        str(status), status == 302)


def slowloris(s: Stack) -> AttackResult:
    with slow_clients(s.dashboard_port, 80) as sockets:
        time.sleep(1.5)
        trickle(sockets)
        status, seconds = timed_get(s.dashboard + "/login")
        alive = trickle(sockets)
    return AttackResult("80 half-sent requests from one address, then GET /login", "/login 200",
                        f"/login {status} in {seconds:.2f} s; {alive} slow connections kept",
                        status == 200)


def rebinding(s: Stack) -> AttackResult:
    foreign = {"Host": f"rebind.evil.example:{s.edge_port}", "Origin": f"http://rebind.evil.example:{s.edge_port}"}
    answer = requests.post(s.edge + "/api/stop_websocket_sender", headers=foreign, timeout=5)
    state = requests.get(s.edge + "/api/websocket_status", timeout=5).json()["websocket"]["state"]
    return AttackResult("edge API: POST stop_websocket_sender with Host rebind.evil.example", "400; uplink running",
                        f"{answer.status_code}; uplink {state}", answer.status_code == 400 and state != "stopped")


def reflected_token(s: Stack) -> AttackResult:
    markup = '"><img src=x onerror=alert(1)>'
    page = requests.get(s.edge + "/", params={"token": markup}, timeout=5)
    policy = page.headers.get("Content-Security-Policy", "")
    safe = markup not in page.text and "<script>" not in page.text and "script-src 'self'" in policy
    return AttackResult("edge page /?token=<markup>", "not reflected; no inline script; CSP script-src 'self'",
                        f"reflected={markup in page.text}; CSP={'yes' if policy else 'none'}", safe)


def fifo_row(s: Stack) -> AttackResult:
    fifo = s.incoming / "pipe.jpg"
    os.mkfifo(fifo)
    with contextlib.closing(sqlite3.connect(s.edge_db, timeout=10)) as con, con:
        for plate, path in (("FIFO1", str(fifo)), ("AFTER1", None)):
            con.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, image_path) "
                        "VALUES (?, 80, '2026-11-30T10:00:00', ?)", (plate, path))
    started = time.monotonic()
    state = ""
    while time.monotonic() - started < 15 and state != "delivered":
        time.sleep(0.2)
        with contextlib.closing(sqlite3.connect(s.edge_db, timeout=10)) as con:
            state = con.execute("SELECT delivery FROM detection_results WHERE license_plate = 'AFTER1'").fetchone()[0]
    return AttackResult("outside row with a FIFO as image_path, then a normal row", "the normal row delivered",
                        f"AFTER1 {state} after {time.monotonic() - started:.1f} s", state == "delivered")


def anonymous_impersonation(s: Stack) -> AttackResult:
    async def attack() -> tuple[str, int]:
        async with connect(s.ingest_url) as ws:
            await ws.send(dumps(detection(JPEG, "1")))
            code = json.loads(await asyncio.wait_for(ws.recv(), 10)).get("code")
        for i in range(20):
            async with connect(s.ingest_url) as ws:
                await ws.send(dumps(detection(JPEG, f"fake-{i}")))
                await asyncio.wait_for(ws.recv(), 10)
        engine = db.make_engine(s.db_url)
        try:
            invented = sum(1 for cp in auth.list_checkpoints(engine) if cp.checkpoint_id.startswith("fake-"))
        finally:
            engine.dispose()
        return code, invented

    code, invented = asyncio.run(attack())
    return AttackResult("tokenless sender as tokened checkpoint 1, then 20 invented ids",
                        "checkpoint_mismatch; 0 checkpoints created", f"{code}; {invented} created",
                        code == "checkpoint_mismatch" and invented == 0)


def connections_per_token(s: Stack) -> AttackResult:
    async def attack() -> str:
        engine = db.make_engine(s.db_url)
        token = auth.add_checkpoint(engine, "many")
        engine.dispose()
        headers = {"Authorization": f"Bearer {token}"}
        held = [await connect(s.ingest_url, additional_headers=headers) for _ in range(2)]
        try:
            await connect(s.ingest_url, additional_headers=headers)
            return "opened"
        except InvalidStatus as exc:
            return str(exc.response.status_code)
        finally:
            await asyncio.gather(*(ws.close() for ws in held))

    third = asyncio.run(attack())
    return AttackResult("3 connections with one checkpoint token", "third refused 429", f"third {third}",
                        third == "429")


def revoke_after_outage(workdir: Path) -> AttackResult:
    """The review's finding 4 on a real PostgreSQL: stop it, start it, revoke: the connection must close."""
    name = "revoke gate-9 after a 3 s PostgreSQL outage"
    try:
        with private_postgres() as pg:
            settings = ingest_settings(pg.url, workdir / "pg-ingest", ingest_token_recheck_seconds=1,
                                       ingest_token_recheck_grace=10)
            with ingest_process(settings, log_path=workdir / "pg-ingest.log") as ingest:
                token = ingest.add_checkpoint("gate-9")
                observed = asyncio.run(_revoke_after_outage(ingest, pg, token))
    except PostgresUnavailable as exc:
        return AttackResult(name, "closed 1008", f"skipped: {exc}", True)
    return AttackResult(name, "connection closed 1008 within 5 s", observed, observed.startswith("closed 1008"))


async def _revoke_after_outage(ingest, pg, token: str) -> str:
    async with connect(ingest.url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await asyncio.to_thread(pg.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(pg.start)
        await asyncio.sleep(1)
        engine = ingest.engine()
        await asyncio.to_thread(auth.revoke_checkpoint, engine, "gate-9")
        engine.dispose()
        started = time.monotonic()
        try:
            while time.monotonic() - started < 5:
                await ws.send(dumps(detection(JPEG, "gate-9")))
                await asyncio.wait_for(ws.recv(), 5)
                await asyncio.sleep(0.2)
        except ConnectionClosed as exc:
            return f"closed {exc.rcvd.code if exc.rcvd else '?'} after {time.monotonic() - started:.1f} s"
    return "still open 5 s after revocation"


ATTACKS: list[Callable[[Stack], AttackResult]] = [
    socketio_flood, open_redirect, replayed_cookie, slowloris, password_guessing, rebinding, reflected_token,
    fifo_row, anonymous_impersonation, connections_per_token]


def run(workdir: Path) -> list[AttackResult]:
    """Every attack against one stack, then the PostgreSQL outage row; one result each."""
    results = []
    with stack(workdir) as s:
        for attack in ATTACKS:
            try:
                results.append(attack(s))
            except Exception as exc:  # an attack that breaks the harness is a failed row, not a crash
                results.append(AttackResult(attack.__name__, "-", f"error: {type(exc).__name__}: {exc}", False))
    results.append(revoke_after_outage(workdir))
    return results


def table(results: list[AttackResult]) -> str:
    """A markdown table of attack results."""
    lines = ["| attack | expected | observed | result |", "|---|---|---|---|"]
    lines += [f"| {r.attack} | {r.expected} | {r.observed} | {'ok' if r.ok else 'FAILED'} |" for r in results]
    return "\n".join(lines)
