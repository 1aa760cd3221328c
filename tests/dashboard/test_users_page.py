"""The users page: admins add, change roles, disable, reset passwords and end logins; nobody else can."""

from __future__ import annotations

import re

import pytest

from dashboard.users import Role, add_user, get_user_by_name, list_users
from fleet_store.audit import entries
from tests.dashboard.conftest import ADMIN_PASSWORD, VIEWER_PASSWORD, csrf_token, login


def _token(client) -> str:
    return csrf_token(client.get("/users").get_data(as_text=True))


def _user_id(engine, name: str) -> int:
    return get_user_by_name(engine, name).id


def _flash(client, answer) -> str:
    return " ".join(re.findall(r'class="flash \w+">([^<]*)<', client.get(answer.location).get_data(as_text=True)))


def test_admin_adds_a_user_who_can_log_in(app, admin, sqlite_engine):
    """A new editor logs in and may correct; the addition is audited."""
    answer = admin.post("/users", data={"csrf_token": _token(admin), "username": "ed", "password": "editor-pass-1",
                                        "role": "editor"})
    assert answer.status_code == 302 and "User ed added." in _flash(admin, answer)
    assert get_user_by_name(sqlite_engine, "ed").role is Role.EDITOR
    assert login(app.test_client(), "ed", "editor-pass-1").status_code == 302
    assert ("boss", "user.add", "user:ed") in [(e.actor, e.action, e.subject) for e in entries(sqlite_engine)]


@pytest.mark.parametrize(("form", "why"), [
    ({"username": "bad name", "password": "long-enough", "role": "viewer"}, "invalid username"),
    ({"username": "x" * 65, "password": "long-enough", "role": "viewer"}, "Enter a user name"),
    ({"username": "ok", "password": "short", "role": "viewer"}, "too short"),
    ({"username": "ok", "password": "long-enough", "role": "superuser"}, "Enter a user name"),
    ({"username": "eve", "password": "long-enough", "role": "viewer"}, "already exists"),
    ({"username": "", "password": "long-enough", "role": "viewer"}, "Enter a user name")])
def test_bad_new_users_are_refused(admin, sqlite_engine, form, why):
    """Bad names, short passwords, unknown roles and taken names add nobody and say why."""
    answer = admin.post("/users", data={"csrf_token": _token(admin), **form})
    assert why in _flash(admin, answer)
    assert sorted(u.username for u in list_users(sqlite_engine)) == ["boss", "eve"]


def test_disable_ends_logins_and_enable_restores(app, admin, viewer, sqlite_engine):
    """A disabled user's open session stops working and their password no longer logs in."""
    eve = _user_id(sqlite_engine, "eve")
    assert viewer.get("/").status_code == 200
    admin.post(f"/users/{eve}/disable", data={"csrf_token": _token(admin)})
    assert viewer.get("/").status_code == 302
    assert login(app.test_client(), "eve", VIEWER_PASSWORD).status_code == 401
    assert 'data-user="eve"' in (page := admin.get("/users").get_data(as_text=True))
    assert re.search(r'data-user="eve".*?class="state">disabled<', page, re.S)
    admin.post(f"/users/{eve}/enable", data={"csrf_token": _token(admin)})
    assert login(app.test_client(), "eve", VIEWER_PASSWORD).status_code == 302
    assert [e.action for e in entries(sqlite_engine) if e.action.startswith("user.")] == ["user.enable", "user.disable"]


def test_reset_password_and_force_logout(app, admin, viewer, sqlite_engine):
    """A reset password ends the user's logins and works at once; 'log out everywhere' ends them too."""
    eve = _user_id(sqlite_engine, "eve")
    admin.post(f"/users/{eve}/password", data={"csrf_token": _token(admin), "password": "new-pass-456"})
    assert viewer.get("/").status_code == 302
    fresh = app.test_client()
    assert login(fresh, "eve", "new-pass-456").status_code == 302 and fresh.get("/").status_code == 200
    admin.post(f"/users/{eve}/logout", data={"csrf_token": _token(admin)})
    assert fresh.get("/").status_code == 302
    short = admin.post(f"/users/{eve}/password", data={"csrf_token": _token(admin), "password": "short"})
    assert "too short" in _flash(admin, short)


def test_the_last_admin_stays(admin, sqlite_engine):
    """The only admin cannot be demoted or disabled, not even by themselves."""
    boss = _user_id(sqlite_engine, "boss")
    demote = admin.post(f"/users/{boss}/role", data={"csrf_token": _token(admin), "role": "viewer"})
    assert "last admin" in _flash(admin, demote)
    disable = admin.post(f"/users/{boss}/disable", data={"csrf_token": _token(admin)})
    assert "last admin" in _flash(admin, disable)
    assert get_user_by_name(sqlite_engine, "boss").role is Role.ADMIN
    eve = _user_id(sqlite_engine, "eve")
    admin.post(f"/users/{eve}/role", data={"csrf_token": _token(admin), "role": "editor"})
    assert get_user_by_name(sqlite_engine, "eve").role is Role.EDITOR


def test_nobody_but_admins_reaches_it(app, viewer, sqlite_engine):
    """Viewers and editors get 403 on the page and every action, even with a valid CSRF token; anonymous
    requests go to the login page; without a CSRF token an admin's POST is refused."""
    add_user(sqlite_engine, "ed", "editor-pass-1", Role.EDITOR)
    editor = app.test_client()
    login(editor, "ed", "editor-pass-1")
    boss = _user_id(sqlite_engine, "boss")
    for client in (viewer, editor):
        token = csrf_token(client.get("/").get_data(as_text=True))
        assert client.get("/users").status_code == 403
        assert 'href="/users"' not in client.get("/").get_data(as_text=True)
        for path, form in (("/users", {"username": "mallory", "password": "long-enough", "role": "admin"}),
                           (f"/users/{boss}/role", {"role": "viewer"}), (f"/users/{boss}/disable", {}),
                           (f"/users/{boss}/password", {"password": "hijacked-123"}), (f"/users/{boss}/logout", {})):
            assert client.post(path, data={"csrf_token": token, **form}).status_code == 403, path
    assert get_user_by_name(sqlite_engine, "mallory") is None
    assert get_user_by_name(sqlite_engine, "boss").session_version == 1
    anonymous = app.test_client()
    assert anonymous.get("/users").status_code == 302
    assert anonymous.post(f"/users/{boss}/disable").status_code in (302, 400)
    admin = app.test_client()
    login(admin, "boss", ADMIN_PASSWORD)
    assert admin.post(f"/users/{_user_id(sqlite_engine, 'eve')}/disable").status_code == 400
    assert admin.post("/users/999/disable", data={"csrf_token": _token(admin)}).status_code == 404
    assert not get_user_by_name(sqlite_engine, "eve").disabled
