"""Login, roles, CSRF, escaping and Socket.IO authentication."""

from __future__ import annotations

import re

import pytest

from dashboard.extensions import socketio
from tests.dashboard.conftest import ADMIN_PASSWORD, login
from tests.dashboard.support import add_checkpoint, add_detection

PAGES = ["/", "/live", "/checkpoints/cp1", "/detections", "/detections/1", "/detections/1/image",
         "/detections.csv", "/statistics", "/watchlist"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_login(app, path):
    """An anonymous request is redirected to the login page and gets no data."""
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_wrong_password_is_refused(app):
    """A wrong password leaves the user logged out with a 401 and a message."""
    client = app.test_client()
    response = login(client, "boss", "wrong-password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_refuses_a_foreign_next_url(app):
    """After login only same-site paths are followed (no open redirect)."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login?next=//evil.example/x", data={
        "username": "boss", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_forms_need_a_csrf_token(app):
    """A login or watchlist POST without the CSRF token is refused (400) and changes nothing."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    assert client.post("/login", data={"username": "boss", "password": ADMIN_PASSWORD}).status_code == 400
    login(client, "boss", ADMIN_PASSWORD)
    assert client.post("/watchlist", data={"pattern": "ABC*"}).status_code == 400
    assert "ABC*" not in client.get("/watchlist").get_data(as_text=True)


def test_viewers_cannot_change_the_watchlist(viewer):
    """A viewer gets 403 when adding to the watchlist."""
    page = viewer.get("/watchlist").get_data(as_text=True)
    assert 'id="watch-form"' not in page
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert viewer.post("/watchlist", data={"pattern": "X1", "csrf_token": token}).status_code == 403


def test_plate_html_is_rendered_as_text(admin, sqlite_engine):
    """A plate containing markup is escaped on every page that shows it."""
    add_checkpoint(sqlite_engine, "cp1")
    evil = '<img src=x onerror=alert(1)>'
    detection_id = add_detection(sqlite_engine, evil)
    for path in ("/live", f"/detections/{detection_id}", "/detections?plate=img", "/checkpoints/cp1"):
        body = admin.get(path).get_data(as_text=True)
        assert evil not in body, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in body, path


def test_pages_send_a_strict_content_security_policy(admin):
    """Scripts may only come from the dashboard itself (no inline script, no CDN)."""
    policy = admin.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_csv_cells_cannot_become_formulas(admin, sqlite_engine):
    """A plate that starts like a spreadsheet formula is exported with a leading quote."""
    add_detection(sqlite_engine, "=HYPERLINK(1)")
    body = admin.get("/detections.csv").get_data(as_text=True)
    assert ",'=HYPERLINK(1)," in body


def test_socketio_refuses_anonymous_connections(app):
    """A Socket.IO connection without a login session is rejected."""
    client = socketio.test_client(app, flask_test_client=app.test_client())
    assert not client.is_connected()


def test_socketio_accepts_logged_in_users(app, admin):
    """A logged-in browser session may open the Socket.IO connection and receives events."""
    client = socketio.test_client(app, flask_test_client=admin)
    assert client.is_connected()
    socketio.emit("detection", {"id": 1, "license_plate": "X"}, namespace="/")
    received = client.get_received()
    assert [r["name"] for r in received] == ["detection"]
    client.disconnect()


def test_socketio_origin_list_is_explicit(settings, sqlite_engine):
    """DASHBOARD_ALLOWED_ORIGINS becomes Socket.IO's allowed origins; unset means same origin only."""
    from dashboard import create_app

    create_app(settings.model_copy(update={"dashboard_allowed_origins": ["https://ops.example"]}),
               engine=sqlite_engine, start_live=False)
    assert socketio.server.eio.cors_allowed_origins == ["https://ops.example"]
    create_app(settings, engine=sqlite_engine, start_live=False)
    assert socketio.server.eio.cors_allowed_origins is None


def test_secure_cookies_behind_tls(settings, sqlite_engine):
    """DASHBOARD_SECURE_COOKIES=1 marks the session cookie Secure."""
    from dashboard import create_app

    app = create_app(settings.model_copy(update={"dashboard_secure_cookies": True}), engine=sqlite_engine,
                     start_live=False, migrate=False)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    response = app.test_client().get("/login")
    assert "Secure" in response.headers["Set-Cookie"]
