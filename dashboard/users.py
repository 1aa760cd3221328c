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

USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # used with fullmatch: no trailing newline
MIN_PASSWORD = 8
LOCALES = ("th", "en")
HASH_METHOD = "scrypt"  # werkzeug's default; tests lower the cost
# A fixed hash to compare against when the user does not exist, so a wrong name
# costs as much time as a wrong password (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class Role(enum.StrEnum):
    """What a user may do: admins manage lists, users and the audit log; editors also correct
    misread plates; viewers only look."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class User:
    """A dashboard user as the app sees it (no password hash)."""

    id: int
    username: str
    role: Role
    locale: str | None
    created_at: datetime
    session_version: int = 1
    disabled: bool = False
    sites: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def limited_to(self) -> frozenset[str] | None:
        """The sites this user may see, or None for every site (admins always see the whole fleet)."""
        return None if self.is_admin or not self.sites else frozenset(self.sites)

    @property
    def can_correct(self) -> bool:
        """Whether this user may correct a detection's read (admins and editors)."""
        return self.role in (Role.ADMIN, Role.EDITOR)


def _user(row) -> User:
    return User(row.id, row.username, Role(row.role), row.locale, row.created_at, row.session_version,
                bool(row.disabled), tuple(s for s in row.sites.split(",") if s))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password too short: at least {MIN_PASSWORD} characters")


def check_sites(sites) -> tuple[str, ...]:
    """Site names as stored (trimmed, unique, in order); raises :class:`UserError` for a bad one."""
    names = tuple(dict.fromkeys(s.strip() for s in sites if s.strip()))
    if any(len(s) > 64 or "," in s for s in names) or len(",".join(names)) > 600:
        raise UserError("sites are names of up to 64 characters without commas (600 characters in all)")
    return names


def add_user(engine: Engine, username: str, password: str, role: Role = Role.VIEWER, sites=()) -> User:
    """Create a user (limited to ``sites`` when given); raises :class:`UserError` for a bad name, short
    password, bad site or a taken name."""
    if not USERNAME.fullmatch(username):
        raise UserError(f"invalid username {username!r}: use 1-64 letters, digits, _ . @ -")
    _check_password(password)
    sites = check_sites(sites)
    values = dict(username=username, password_hash=generate_password_hash(password, method=HASH_METHOD),
                  role=Role(role).value, created_at=datetime.now(UTC), sites=",".join(sites))
    try:
        with engine.begin() as conn:
            new_id = conn.execute(insert(users).values(**values)).inserted_primary_key[0]
    except IntegrityError:
        raise UserError(f"user {username!r} already exists") from None
    return User(new_id, username, Role(role), None, values["created_at"], 1, False, sites)


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
    """The user if ``password`` is right and the account is enabled, else None (same cost either way)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return _user(row) if check_password_hash(row.password_hash, password) and not row.disabled else None


def set_password(engine: Engine, username: str, password: str) -> None:
    """Change a user's password; raises :class:`UserError` if unknown or too short."""
    _check_password(password)
    with engine.begin() as conn:
        done = conn.execute(update(users).where(users.c.username == username)
                            .values(password_hash=generate_password_hash(password, method=HASH_METHOD),
                                    session_version=users.c.session_version + 1))
    if not done.rowcount:
        raise UserError(f"no such user {username!r}")


def end_sessions(engine: Engine, user_id: int) -> None:
    """End every login of this user (logout, or an admin's ``users logout``): bump its session version."""
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id)
                     .values(session_version=users.c.session_version + 1))


def end_sessions_of(engine: Engine, username: str) -> None:
    """:func:`end_sessions` by name; raises :class:`UserError` if unknown."""
    user = _by_name(engine, username)
    if user is None:
        raise UserError(f"no such user {username!r}")
    end_sessions(engine, user.id)


def _by_name(engine: Engine, username: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    return _user(row) if row else None


def session_versions(engine: Engine, user_ids: set[int]) -> dict[int, int]:
    """Current session version of each existing user among ``user_ids`` (removed users are absent)."""
    if not user_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(users.c.id, users.c.session_version).where(users.c.id.in_(user_ids)))
        return {row.id: row.session_version for row in rows}


def set_locale(engine: Engine, user_id: int, locale: str | None) -> None:
    """Remember a user's language (``th``, ``en``, or None to follow the browser)."""
    if locale is not None and locale not in LOCALES:
        raise UserError(f"unsupported language {locale!r}")
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(locale=locale))


def get_user_by_name(engine: Engine, username: str) -> User | None:
    """The user with this name, or None."""
    return _by_name(engine, username)


def _other_admins(conn, user_id: int) -> int:
    """Enabled admins other than ``user_id``."""
    return conn.execute(select(func.count()).select_from(users).where(
        users.c.role == Role.ADMIN.value, users.c.disabled.is_(False), users.c.id != user_id)).scalar_one()


def set_role(engine: Engine, username: str, role: Role) -> User:
    """Change a user's role; refuses to demote the last enabled admin."""
    role = Role(role)
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise UserError(f"no such user {username!r}")
        if row.role == Role.ADMIN.value and role is not Role.ADMIN and not _other_admins(conn, row.id):
            raise UserError("refusing to demote the last admin")
        conn.execute(update(users).where(users.c.id == row.id).values(role=role.value))
    return _by_name(engine, username)


def set_sites(engine: Engine, username: str, sites) -> User:
    """Limit a user to ``sites`` (empty: every site); ends their logins so open pages and sockets follow."""
    sites = check_sites(sites)
    with engine.begin() as conn:
        done = conn.execute(update(users).where(users.c.username == username)
                            .values(sites=",".join(sites), session_version=users.c.session_version + 1))
    if not done.rowcount:
        raise UserError(f"no such user {username!r}")
    return _by_name(engine, username)


def set_disabled(engine: Engine, username: str, disabled: bool) -> User:
    """Disable (ending every login) or enable an account; refuses to disable the last enabled admin."""
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise UserError(f"no such user {username!r}")
        if disabled and row.role == Role.ADMIN.value and not _other_admins(conn, row.id):
            raise UserError("refusing to disable the last admin")
        values = {"disabled": disabled}
        if disabled:
            values["session_version"] = users.c.session_version + 1
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
    return _by_name(engine, username)


def remove_user(engine: Engine, username: str) -> None:
    """Delete a user; refuses to delete the last admin."""
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise UserError(f"no such user {username!r}")
        if row.role == Role.ADMIN.value and not _other_admins(conn, row.id):
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
