"""Dashboard users: names, hashed passwords (werkzeug scrypt), roles, preferred language.

Used by the login view and by ``python -m dashboard users ...``. Passwords are
never stored or logged in clear.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from fleet_store.schema import users

from .errors import UserError

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8
LOCALES = ("th", "en")
HASH_METHOD = "scrypt"  # werkzeug's default; tests lower the cost
# A fixed hash to compare against when the user does not exist, so a wrong name
# costs as much time as a wrong password (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class Role(enum.StrEnum):
    """What a user may do: admins manage the watchlist and users; viewers only look."""

    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class User:
    """A dashboard user as the app sees it (no password hash)."""

    id: int
    username: str
    role: Role
    locale: str | None
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _user(row) -> User:
    return User(row.id, row.username, Role(row.role), row.locale, row.created_at)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password too short: at least {MIN_PASSWORD} characters")


def add_user(engine: Engine, username: str, password: str, role: Role = Role.VIEWER) -> User:
    """Create a user; raises :class:`UserError` for a bad name, short password or a taken name."""
    if not USERNAME.match(username):
        raise UserError(f"invalid username {username!r}: use 1-64 letters, digits, _ . @ -")
    _check_password(password)
    values = dict(username=username, password_hash=generate_password_hash(password, method=HASH_METHOD),
                  role=Role(role).value, created_at=datetime.now(UTC))
    try:
        with engine.begin() as conn:
            new_id = conn.execute(insert(users).values(**values)).inserted_primary_key[0]
    except IntegrityError:
        raise UserError(f"user {username!r} already exists") from None
    return User(new_id, username, Role(role), None, values["created_at"])


def list_users(engine: Engine) -> list[User]:
    """All users, by name."""
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(users).order_by(users.c.username))]


def get_user(engine: Engine, user_id: int) -> User | None:
    """The user with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(row) if row else None


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user if ``password`` is right, else None (same cost either way)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return _user(row) if check_password_hash(row.password_hash, password) else None


def set_password(engine: Engine, username: str, password: str) -> None:
    """Change a user's password; raises :class:`UserError` if unknown or too short."""
    _check_password(password)
    with engine.begin() as conn:
        done = conn.execute(update(users).where(users.c.username == username)
                            .values(password_hash=generate_password_hash(password, method=HASH_METHOD)))
    if not done.rowcount:
        raise UserError(f"no such user {username!r}")


def set_locale(engine: Engine, user_id: int, locale: str | None) -> None:
    """Remember a user's language (``th``, ``en``, or None to follow the browser)."""
    if locale is not None and locale not in LOCALES:
        raise UserError(f"unsupported language {locale!r}")
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(locale=locale))


def remove_user(engine: Engine, username: str) -> None:
    """Delete a user; refuses to delete the last admin."""
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise UserError(f"no such user {username!r}")
        admins = conn.execute(select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value))
        if row.role == Role.ADMIN.value and admins.scalar_one() <= 1:
            raise UserError("refusing to remove the last admin")
        conn.execute(delete(users).where(users.c.id == row.id))


def ensure_admin(engine: Engine, password: str | None) -> bool:
    """Create ``admin`` with ``password`` when no user exists yet (DASHBOARD_ADMIN_PASSWORD)."""
    if not password:
        return False
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(users)).scalar_one():
            return False
    add_user(engine, "admin", password, Role.ADMIN)
    return True
