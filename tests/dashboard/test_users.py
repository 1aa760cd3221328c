"""User store: hashed passwords, authentication, roles, bootstrap admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.errors import UserError
from dashboard.users import Role, add_user, authenticate, ensure_admin, list_users, set_locale
from fleet_store.schema import users as users_table


def test_passwords_are_hashed_and_checked(sqlite_engine):
    """The clear password is never stored; only the right one authenticates."""
    add_user(sqlite_engine, "ops", "correct-horse", Role.ADMIN)
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(users_table.c.password_hash)).scalar_one()
    assert "correct-horse" not in stored
    assert authenticate(sqlite_engine, "ops", "correct-horse").role is Role.ADMIN
    assert authenticate(sqlite_engine, "ops", "wrong-horse") is None
    assert authenticate(sqlite_engine, "nobody", "correct-horse") is None


@pytest.mark.parametrize(("name", "password"), [("bad name", "long-enough"), ("", "long-enough"), ("ok", "short")])
def test_bad_users_are_refused(sqlite_engine, name, password):
    """Invalid names and short passwords raise UserError and store nothing."""
    with pytest.raises(UserError):
        add_user(sqlite_engine, name, password)
    assert list_users(sqlite_engine) == []


def test_admin_bootstrap_only_on_an_empty_table(sqlite_engine):
    """DASHBOARD_ADMIN_PASSWORD creates 'admin' once, only when there are no users."""
    assert ensure_admin(sqlite_engine, "first-password")
    assert not ensure_admin(sqlite_engine, "second-password")
    assert authenticate(sqlite_engine, "admin", "first-password") is not None
    assert not ensure_admin(sqlite_engine, None)


def test_locale_choice_is_validated(sqlite_engine):
    """Only th, en or None may be stored as a user's language."""
    user = add_user(sqlite_engine, "ops", "long-enough")
    set_locale(sqlite_engine, user.id, "th")
    assert list_users(sqlite_engine)[0].locale == "th"
    with pytest.raises(UserError):
        set_locale(sqlite_engine, user.id, "fr")
