"""The audit log: who did what to whose data, when and from where (``audit_log``).

Writers call :func:`record` for every search, export, detail view, correction,
list change, user change and login (the dashboard, its API and the admin
CLIs); nothing updates or deletes rows except retention of the log itself and a
PDPA erasure, which records itself. ``plate`` is set when the action concerned
a registration, so everything held about a plate can be found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from .schema import audit_log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record."""

    actor: str
    action: str
    subject: str = ""
    plate: str | None = None
    remote: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    id: int | None = None


def record(target: Engine | Connection, entry: AuditEntry) -> None:
    """Write ``entry`` (in ``target``'s transaction when given a connection)."""
    values = {"at": entry.at or datetime.now(UTC), "actor": entry.actor[:64], "action": entry.action[:64],
              "subject": entry.subject[:255], "plate": entry.plate[:32] if entry.plate else None,
              "remote": entry.remote[:64], "detail": dict(entry.detail) or None}
    if isinstance(target, Connection):
        target.execute(insert(audit_log).values(**values))
        return
    with target.begin() as conn:
        conn.execute(insert(audit_log).values(**values))


def entries(engine: Engine, since: datetime | None = None, plate: str | None = None,
            limit: int = 1000) -> list[AuditEntry]:
    """Audit records, newest first; only those since ``since`` and about ``plate`` when given."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if plate is not None:
        query = query.where(audit_log.c.plate == plate)
    with engine.connect() as conn:
        return [AuditEntry(r.actor, r.action, r.subject, r.plate, r.remote, r.detail or {}, r.at, r.id)
                for r in conn.execute(query)]
