"""The audit log: who did what to whose data, when and from where (``audit_log``).

Writers call :func:`record` for every search, export, detail view, correction,
list change, user change and login (the dashboard, its API and the admin
CLIs); nothing updates or deletes rows except retention of the log itself and a
PDPA erasure, which records itself. ``plate`` is set when the action concerned
a registration, so everything held about a plate can be found.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from .schema import audit_log

ACTIONS = ("login", "login.failed", "login.refused", "logout", "search", "export", "view", "correct",
           "list.add", "list.remove", "list.import", "list.export", "user.add", "user.role", "user.disable",
           "user.enable", "user.password", "user.logout", "user.remove", "user.sites", "audit.view", "audit.export",
           "plates.export", "plates.erase", "plates.hold", "plates.unhold")
"""The actions the dashboard and the CLIs record (the audit page offers them as filters)."""


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


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records to read; every field is optional. ``action`` matches exactly or, ending in ``.``,
    as a prefix (``user.`` finds every user change). Times are aware; ``until`` is exclusive."""

    actor: str = ""
    action: str = ""
    plate: str = ""
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None


def _where(query, f: AuditFilter):
    c = audit_log.c
    conditions = [c.actor == f.actor if f.actor else None, c.plate == f.plate if f.plate else None,
                  c.subject == f.subject if f.subject else None,
                  c.at >= f.since if f.since else None, c.at < f.until if f.until else None,
                  c.id < f.before_id if f.before_id is not None else None]
    if f.action:
        conditions.append(c.action.startswith(f.action, autoescape=True) if f.action.endswith(".")
                          else c.action == f.action)
    return query.where(*(condition for condition in conditions if condition is not None))


def search(engine: Engine, f: AuditFilter, limit: int = 100) -> list[AuditEntry]:
    """Records matching ``f``, newest first (keyset paging: pass the last id as ``before_id``)."""
    query = _where(select(audit_log), f).order_by(audit_log.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [_entry(r) for r in conn.execute(query)]


def stream(engine: Engine, f: AuditFilter) -> Iterator[AuditEntry]:
    """Every record matching ``f``, oldest first, read in batches (for the CLI at any volume)."""
    query = _where(select(audit_log), f).order_by(audit_log.c.id)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query):
            yield _entry(row)


def _entry(r) -> AuditEntry:
    return AuditEntry(r.actor, r.action, r.subject, r.plate, r.remote, r.detail or {}, r.at, r.id)


def entries(engine: Engine, since: datetime | None = None, plate: str | None = None,
            limit: int = 1000) -> list[AuditEntry]:
    """Audit records, newest first; only those since ``since`` and about ``plate`` when given."""
    return search(engine, AuditFilter(plate=plate or "", since=since), limit)
