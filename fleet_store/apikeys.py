"""API keys for programs that use the dashboard's REST API (``api_keys``).

A key is ``ak_`` + 43 random URL-safe characters, shown once when created;
only its SHA-256 is stored (a key is random, so a fast hash is enough: there
is nothing to guess from a dictionary). A key has a role like a user
(``viewer`` reads, ``admin`` may also change things) and can be revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from .schema import api_keys

ROLES = ("viewer", "admin")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ApiKeyError(ValueError):
    """A key that cannot be created or changed; the message says why."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the key itself)."""

    id: int
    name: str
    role: str
    key_hint: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key(row) -> ApiKey:
    return ApiKey(row.id, row.name, row.role, row.key_hint, row.created_at, row.revoked_at, row.last_used_at)


def create(engine: Engine, name: str, role: str = "viewer") -> tuple[ApiKey, str]:
    """Store a new key for ``name``; return it and the secret (shown once). Raises :class:`ApiKeyError`."""
    if not _NAME.fullmatch(name):
        raise ApiKeyError("a key name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise ApiKeyError(f"role must be one of {', '.join(ROLES)}")
    secret = "ak_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            key_id = conn.execute(insert(api_keys).values(name=name, key_hash=_hash(secret), key_hint=secret[:7],
                                                          role=role, created_at=now)).inserted_primary_key[0]
    except IntegrityError:
        raise ApiKeyError(f"a key named {name!r} exists already (revoke it, or choose another name)") from None
    return ApiKey(key_id, name, role, secret[:7], now), secret


def verify(engine: Engine, secret: str, now: datetime | None = None) -> ApiKey | None:
    """The key ``secret`` belongs to, unless unknown or revoked; notes its use (at most once a minute)."""
    if not secret.startswith("ak_") or len(secret) > 128:
        return None
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_hash == _hash(secret),
                                                  api_keys.c.revoked_at.is_(None))).first()
    if row is None:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        with engine.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now))
    return _key(row)


def revoke(engine: Engine, name: str) -> bool:
    """Revoke the key called ``name``; False if there is no such live key."""
    with engine.begin() as conn:
        return bool(conn.execute(update(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                                 .values(revoked_at=datetime.now(UTC))).rowcount)


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key by name (revoked ones included)."""
    with engine.connect() as conn:
        return [_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.name))]
