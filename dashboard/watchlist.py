"""Watchlist: plates or patterns that raise a live alert on every page when seen.

A pattern is compared with a plate after both are normalised (spaces and
dashes removed, Latin letters upper-cased). ``*`` stands for any run of
characters and ``?`` for exactly one; anything else must match literally and
the whole plate must match. An entry that names a province catches only reads
of that province (``1กข1234 กรุงเทพมหานคร`` is not ``1กข1234 เชียงใหม่``); an
entry without one catches the plate from any province. The browser applies the
same rule to live events (``static/app.js``, ``watchMatch``); :func:`catches`
is the reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from fleet_protocol import THAI_PROVINCES
from fleet_store.schema import watchlist

from .errors import DashboardError

_STRIP = re.compile(r"[\s\-]+")
_VALID = re.compile(r"^[^\s%_\\]{1,64}$")


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One watchlist entry."""

    id: int
    pattern: str
    province: str
    note: str
    created_by: str
    created_at: datetime


def normalise(plate: str) -> str:
    """A plate as compared: no spaces or dashes, upper case."""
    return _STRIP.sub("", plate).upper()


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in normalise(pattern))
    return re.compile("".join(parts), re.DOTALL)


def matches(pattern: str, plate: str) -> bool:
    """Whether ``plate`` is caught by ``pattern`` (see module docstring)."""
    return _compiled(pattern).fullmatch(normalise(plate)) is not None


def catches(entry: WatchEntry, plate: str, province: str) -> bool:
    """Whether a read of ``plate`` in ``province`` is caught by ``entry`` (pattern and, if named, province)."""
    return (not entry.province or entry.province == province) and matches(entry.pattern, plate)


def add_entry(engine: Engine, pattern: str, note: str, created_by: str, province: str = "") -> WatchEntry:
    """Add a pattern (for one province, or any when ``province`` is empty).

    Raises :class:`DashboardError` if the pattern is empty or malformed, the
    province is not one of the 77, or the entry is already listed.
    """
    pattern = normalise(pattern)
    if not _VALID.match(pattern) or not pattern.strip("*?"):
        raise DashboardError("a watchlist pattern needs at least one plate character (max 64)")
    if province and province not in THAI_PROVINCES:
        raise DashboardError(f"{province!r} is not a Thai province")
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            new_id = conn.execute(insert(watchlist).values(
                pattern=pattern, province=province, note=note[:255], created_by=created_by,
                created_at=now)).inserted_primary_key[0]
    except IntegrityError:
        raise DashboardError(f"{pattern} {province} is already on the watchlist".replace("  ", " ")) from None
    return WatchEntry(new_id, pattern, province, note[:255], created_by, now)


def list_entries(engine: Engine) -> list[WatchEntry]:
    """Every entry, by pattern."""
    with engine.connect() as conn:
        rows = conn.execute(select(watchlist).order_by(watchlist.c.pattern, watchlist.c.province)).all()
    return [WatchEntry(r.id, r.pattern, r.province, r.note, r.created_by, r.created_at) for r in rows]


def remove_entry(engine: Engine, entry_id: int) -> bool:
    """Delete an entry; False if it did not exist."""
    with engine.begin() as conn:
        return bool(conn.execute(delete(watchlist).where(watchlist.c.id == entry_id)).rowcount)
