"""``python -m central_server doctor``: one screen of checks, each with what to fix.

The old system's troubleshooting guide as a command. Every check is a small
function returning a :class:`Check`; the exit status is 1 when any FAILs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from fleet_store import db

from .config import IngestSettings

MIN_FREE_BYTES = 1024**3


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: str  # OK | WARN | FAIL
    detail: str
    fix: str = ""


def check_config(s: IngestSettings) -> Check:
    anonymous = " ANONYMOUS senders allowed (INGEST_ALLOW_ANONYMOUS=1)" if s.ingest_allow_anonymous else ""
    status = "WARN" if anonymous else "OK"
    return Check("config", status, f"ingest {s.ingest_host}:{s.ingest_port}, timezone {s.fleet_timezone}, "
                 f"retention {s.retention_days} d.{anonymous}",
                 "set INGEST_ALLOW_ANONYMOUS=0 once every checkpoint has a token" if anonymous else "")


def check_database(s: IngestSettings) -> Check:
    safe_url = s.central_db_url.split("@")[-1]
    try:
        engine = db.make_engine(s.central_db_url)
        current = db.current_revision(engine)
        engine.dispose()
    except Exception as exc:
        return Check("database", "FAIL", f"cannot open {safe_url}: {str(exc).splitlines()[0]}",
                     "check CENTRAL_DB_URL; for PostgreSQL check the server runs and the user may connect")
    head = db.head_revision()
    if current != head:
        return Check("database", "WARN", f"{safe_url}: schema at {current or 'nothing'}, code expects {head}",
                     "run: python -m central_server migrate (the server also migrates at start)")
    return Check("database", "OK", f"{safe_url}: schema at revision {current}")


def check_image_dir(s: IngestSettings) -> Check:
    path = s.image_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".doctor-probe"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        return Check("image dir", "FAIL", f"{path} is not writable: {exc}",
                     f"create it and give the service user write access: chown -R <user> {path}")
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        return Check("image dir", "WARN", f"{path}: only {free / 1024**2:.0f} MiB free",
                     "free disk space or lower RETENTION_DAYS")
    return Check("image dir", "OK", f"{path}: writable, {free / 1024**3:.1f} GiB free")


def check_port(s: IngestSettings) -> Check:
    host = "127.0.0.1" if s.ingest_host in ("0.0.0.0", "::", "") else s.ingest_host
    try:
        with urllib.request.urlopen(f"http://{host}:{s.ingest_port}/healthz", timeout=2) as response:
            body = json.loads(response.read())
        return Check("ingest port", "OK", f"an ingest answers on {host}:{s.ingest_port}: {body.get('status')}, "
                     f"{body.get('connections')} connections")
    except OSError:
        pass
    with socket.socket() as sock:
        try:
            sock.bind((s.ingest_host, s.ingest_port))
        except OSError as exc:
            return Check("ingest port", "FAIL", f"{s.ingest_host}:{s.ingest_port} is taken by another program ({exc})",
                         f"find it with: ss -ltnp 'sport = :{s.ingest_port}'; or change INGEST_PORT")
    return Check("ingest port", "WARN", f"nothing listens on {s.ingest_port} (the port is free)",
                 "start the service: systemctl start fleet-central.target (or python -m central_server)")


def check_redis(s: IngestSettings) -> Check:
    if not s.redis_url:
        return Check("redis", "OK", "not configured (single node; live events need no broker)")
    try:
        import redis

        redis.Redis.from_url(s.redis_url, socket_timeout=2).ping()
    except Exception as exc:
        return Check("redis", "FAIL", f"cannot reach {s.redis_url}: {exc}",
                     "start Redis or unset REDIS_URL for a single node")
    return Check("redis", "OK", f"{s.redis_url} answers PING")


CHECKS: list[Callable[[IngestSettings], Check]] = [check_config, check_database, check_image_dir,
                                                    check_port, check_redis]


def run_doctor(settings: IngestSettings, out=print) -> int:
    """Print every check; return 1 when any failed."""
    results = [check(settings) for check in CHECKS]
    out(f"central_server doctor (pid {os.getpid()})")
    for r in results:
        out(f"  [{r.status:<4}] {r.name:<12} {r.detail}")
        if r.fix:
            out(f"         {'':<12} fix: {r.fix}")
    failed = sum(r.status == "FAIL" for r in results)
    out("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
