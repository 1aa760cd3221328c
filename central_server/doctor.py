"""``python -m central_server doctor [--report]``: one screen of checks, each with what to fix.

The old system's troubleshooting guide as a command. Every check is a small
function returning a :class:`Check`; the exit status is 1 when any FAILs.
``--report`` adds what a support request needs: versions, settings (secrets
hidden), the ingest's /healthz and the checkpoints' state.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from fleet_store import alerts, db

from .config import IngestSettings

MIN_FREE_BYTES = 1024**3
PACKAGES = ("websockets", "SQLAlchemy", "alembic", "psycopg", "redis", "Flask", "gunicorn", "pydantic")
_SECRET_FIELDS = re.compile(r"password|secret|token", re.I)


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
                 "start the service: systemctl start aicamera-central.target (or python -m central_server)")


def check_redis(s: IngestSettings) -> Check:
    if not s.redis_url:
        return Check("redis", "OK", "not configured (single node; live events need no broker)")
    try:
        import redis

        redis.Redis.from_url(s.redis_url, socket_timeout=2).ping()
    except Exception as exc:
        return Check("redis", "FAIL", f"cannot reach {hide_secrets('redis_url', s.redis_url)}: {exc}",
                     "start Redis or unset REDIS_URL for a single node")
    return Check("redis", "OK", f"{hide_secrets('redis_url', s.redis_url)} answers PING")


def check_alerts(s: IngestSettings) -> Check:
    """Which channels are on, and whether notifications are piling up or were refused for good."""
    channels = ", ".join(s.alert_channels) or "none (alerts are only on the dashboard)"
    try:
        engine = db.make_engine(s.central_db_url)
        _, queue = alerts.counts(engine)
        engine.dispose()
    except Exception as exc:
        return Check("alerts", "WARN", f"channels: {channels}; queue unreadable ({str(exc).splitlines()[0]})")
    pending = sum(n for (_, state), n in queue.items() if state == "pending")
    refused = {channel: n for (channel, state), n in queue.items() if state == "failed"}
    detail = f"channels: {channels}; {pending} notification(s) waiting"
    if refused:
        return Check("alerts", "WARN", detail + "; refused for good: " + ", ".join(f"{c} {n}" for c, n in
                                                                               sorted(refused.items())),
                     "see last_error in alert_deliveries (python -m central_server alerts list) and fix the "
                     "receiver's settings (docs/alerts.md)")
    return Check("alerts", "WARN" if pending > 100 else "OK", detail,
                 "a receiver is down or refuses: check the ingest log ('alerts:' lines)" if pending > 100 else "")


CHECKS: list[Callable[[IngestSettings], Check]] = [check_config, check_database, check_image_dir,
                                                    check_port, check_redis, check_alerts]


def run_doctor(settings: IngestSettings, out=print, report: bool = False) -> int:
    """Print every check (and, with ``report``, the support report); return 1 when any failed."""
    results = [check(settings) for check in CHECKS]
    out(f"central_server doctor (pid {os.getpid()})")
    for r in results:
        out(f"  [{r.status:<4}] {r.name:<12} {r.detail}")
        if r.fix:
            out(f"         {'':<12} fix: {r.fix}")
    failed = sum(r.status == "FAIL" for r in results)
    out("all checks passed" if not failed else f"{failed} check(s) failed")
    if report:
        print_report(settings, out)
    return 1 if failed else 0


# ---------------------------------------------------------------------- support report


def print_report(s: IngestSettings, out=print) -> None:
    """Versions, settings (secrets hidden), the ingest's /healthz and the checkpoints' state."""
    out("\n## support report")
    out(f"python {platform.python_version()} on {platform.platform()}")
    for name in PACKAGES:
        try:
            out(f"  {name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out(f"  {name} (not installed)")
    out("settings:")
    for key, value in s.model_dump().items():
        out(f"  {key.upper()}={hide_secrets(key, value)}")
    out(f"ingest: {_healthz(s)}")
    for line in _checkpoint_lines(s):
        out(line)


def hide_secrets(key: str, value: object) -> object:
    """``***`` for secret settings and for the password inside a database or Redis URL."""
    if value and _SECRET_FIELDS.search(key):
        return "***"
    if isinstance(value, str):
        return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", value)
    return value


def _healthz(s: IngestSettings) -> str:
    host = "127.0.0.1" if s.ingest_host in ("0.0.0.0", "::", "") else s.ingest_host
    try:
        with urllib.request.urlopen(f"http://{host}:{s.ingest_port}/healthz", timeout=2) as response:
            return response.read().decode(errors="replace").strip()
    except OSError as exc:
        return f"not answering on {host}:{s.ingest_port} ({exc})"


def _checkpoint_lines(s: IngestSettings) -> list[str]:
    try:
        engine = db.make_engine(s.central_db_url)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT checkpoint_id, status, last_seen_at, revoked_at IS NOT NULL FROM checkpoints "
                "ORDER BY checkpoint_id").fetchall()
        engine.dispose()
    except Exception as exc:
        return [f"checkpoints: unreadable ({str(exc).splitlines()[0]})"]
    lines = [f"checkpoints: {len(rows)}"]
    lines += [f"  {cid}: {status}, last seen {seen or 'never'}{', REVOKED' if revoked else ''}"
              for cid, status, seen, revoked in rows]
    return lines
