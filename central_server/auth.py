"""The checkpoint registry: per-checkpoint ingest tokens and what operators say about each gate.

Tokens are issued once, stored as SHA-256 and bound to one checkpoint id.

Tokens are 256-bit random strings, so a plain SHA-256 (no salt/KDF) is enough:
nothing useful can be brute-forced from the hash. Lookup is by hash; the final
comparison uses ``hmac.compare_digest`` so timing says nothing about the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from fleet_protocol import valid_checkpoint_id
from fleet_store.schema import checkpoints

from .errors import CheckpointExists, UnknownCheckpoint

TOKEN_PREFIX = "cpt_"


def hash_token(token: str) -> str:
    """SHA-256 hex of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (shown once, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class CheckpointDetails:
    """What an operator sets on a checkpoint; ``None`` leaves a field as it is."""

    name: str | None = None
    site: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    heartbeat_seconds: int | None = None

    def __post_init__(self) -> None:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both a latitude and a longitude, or neither")
        if self.latitude is not None and not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError("latitude must be within ±90 and longitude within ±180")

    def values(self) -> dict:
        """The column values to write (only the fields that were given)."""
        given = {"name": self.name, "site": self.site, "latitude": self.latitude, "longitude": self.longitude,
                 "heartbeat_seconds": self.heartbeat_seconds}
        return {column: value for column, value in given.items() if value is not None}


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """A registered checkpoint as listings show it."""

    checkpoint_id: str
    name: str
    site: str
    token_hint: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    status: str
    connected: bool
    latitude: float | None
    longitude: float | None
    anonymous_allowed: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def add_checkpoint(engine: Engine, checkpoint_id: str, details: CheckpointDetails = CheckpointDetails()) -> str:
    """Register ``checkpoint_id`` (or re-key a revoked one) with ``details``; return its new token.

    Raises :class:`CheckpointExists` when it already has a live token (use rotate), and
    ValueError for an id the protocol would refuse. A tokened id no longer takes anonymous senders.
    """
    _check_id(checkpoint_id)
    token = new_token()
    values = {"token_hash": hash_token(token), "token_hint": token[:10], "revoked_at": None,
              "anonymous_allowed": False, **details.values()}
    with engine.begin() as conn:
        row = conn.execute(select(checkpoints.c.token_hash, checkpoints.c.revoked_at)
                           .where(checkpoints.c.checkpoint_id == checkpoint_id)).first()
        if row is None:
            conn.execute(insert(checkpoints).values(checkpoint_id=checkpoint_id, created_at=_now(), **values))
        elif row.token_hash is not None and row.revoked_at is None:
            raise CheckpointExists(f"checkpoint {checkpoint_id!r} already has a token; "
                                   f"use 'checkpoints rotate {checkpoint_id}' for a new one")
        else:
            conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id).values(**values))
    return token


def allow_anonymous(engine: Engine, checkpoint_id: str, details: CheckpointDetails = CheckpointDetails()) -> None:
    """Let tokenless senders write as ``checkpoint_id`` (only while ``INGEST_ALLOW_ANONYMOUS=1``).

    Raises :class:`CheckpointExists` for an id that has, or ever had, a token: a
    tokened checkpoint is never impersonated by a sender without its token.
    """
    _check_id(checkpoint_id)
    with engine.begin() as conn:
        row = conn.execute(select(checkpoints.c.token_hint).where(checkpoints.c.checkpoint_id == checkpoint_id)).first()
        if row is None:
            conn.execute(insert(checkpoints).values(checkpoint_id=checkpoint_id, created_at=_now(),
                                                    anonymous_allowed=True, **details.values()))
        elif row.token_hint:
            raise CheckpointExists(f"checkpoint {checkpoint_id!r} has or had a token; it cannot go anonymous")
        else:
            conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id)
                         .values(anonymous_allowed=True, **details.values()))


def anonymous_allowed(engine: Engine, checkpoint_id: str) -> bool:
    """True when an operator allowed tokenless senders for this id and it never had a token."""
    with engine.connect() as conn:
        row = conn.execute(select(checkpoints.c.anonymous_allowed, checkpoints.c.token_hint)
                           .where(checkpoints.c.checkpoint_id == checkpoint_id)).first()
    return row is not None and bool(row.anonymous_allowed) and not row.token_hint


def _check_id(checkpoint_id: str) -> None:
    if not valid_checkpoint_id(checkpoint_id):
        raise ValueError(f"invalid checkpoint id {checkpoint_id!r}: use 1-64 letters, digits, '.', '_' or '-' "
                         "(starting with a letter or digit)")


def update_checkpoint(engine: Engine, checkpoint_id: str, details: CheckpointDetails) -> bool:
    """Set a registered checkpoint's name, site, position or heartbeat (its token is untouched).

    Returns False when it already had those values (so a deploy can report "unchanged").
    """
    values = details.values()
    if not values:
        raise ValueError("nothing to set: give --name, --site, --lat/--lon or --heartbeat")
    with engine.begin() as conn:
        current = conn.execute(select(*(checkpoints.c[name] for name in values))
                               .where(checkpoints.c.checkpoint_id == checkpoint_id)).first()
        if current is None:
            raise UnknownCheckpoint(f"no checkpoint {checkpoint_id!r}")
        if dict(current._mapping) == values:
            return False
        conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id).values(**values))
    return True


def rotate_token(engine: Engine, checkpoint_id: str) -> str:
    """Replace a checkpoint's token; the old one stops working at once. Returns the new token."""
    token = new_token()
    with engine.begin() as conn:
        result = conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id)
                              .values(token_hash=hash_token(token), token_hint=token[:10], revoked_at=None))
    if result.rowcount == 0:
        raise UnknownCheckpoint(f"no checkpoint {checkpoint_id!r}")
    return token


def revoke_checkpoint(engine: Engine, checkpoint_id: str) -> None:
    """Revoke a checkpoint's token (its rows stay; it can be re-added later)."""
    with engine.begin() as conn:
        result = conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id)
                              .values(revoked_at=_now(), token_hash=None))
    if result.rowcount == 0:
        raise UnknownCheckpoint(f"no checkpoint {checkpoint_id!r}")


def list_checkpoints(engine: Engine) -> list[CheckpointInfo]:
    """Every registered checkpoint, by id."""
    cols = [checkpoints.c[name] for name in CheckpointInfo.__slots__]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).order_by(checkpoints.c.checkpoint_id)).all()
    return [CheckpointInfo(*row) for row in rows]


def checkpoint_for_token(engine: Engine, token: str) -> str | None:
    """The checkpoint id a live token is bound to, or None (unknown or revoked)."""
    digest = hash_token(token)
    with engine.connect() as conn:
        row = conn.execute(select(checkpoints.c.checkpoint_id, checkpoints.c.token_hash)
                           .where(checkpoints.c.token_hash == digest,
                                  checkpoints.c.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.checkpoint_id


def token_still_valid(engine: Engine, checkpoint_id: str, token_hash: str) -> bool:
    """True while ``checkpoint_id`` still has the token with this hash (not revoked or rotated)."""
    with engine.connect() as conn:
        current = conn.execute(select(checkpoints.c.token_hash)
                               .where(checkpoints.c.checkpoint_id == checkpoint_id)).scalar()
    return current is not None and hmac.compare_digest(current, token_hash)
