"""Dashboard fixtures: a migrated database, the app, and logged-in test clients."""

from __future__ import annotations

import re
import shutil

import pytest

from dashboard import create_app, users
from dashboard.config import DashboardSettings
from dashboard.users import Role, add_user
from fleet_store import db

ADMIN_PASSWORD = "admin-pass-123"
VIEWER_PASSWORD = "viewer-pass-123"


def dashboard_settings(db_url: str, tmp_path, **overrides) -> DashboardSettings:
    """Settings for a test dashboard: temp image dir and secret, no Redis."""
    values = dict(central_db_url=db_url, image_dir=tmp_path / "images", redis_url=None,
                  dashboard_secret_key="test-secret", dashboard_port=0)
    values.update(overrides)
    return DashboardSettings(**values)


@pytest.fixture
def engine(db_url):
    """A migrated engine on SQLite and on PostgreSQL."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch):
    """Hash test passwords with few iterations (the default scrypt costs ~0.1 s each)."""
    monkeypatch.setattr(users, "HASH_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory):
    """One migrated SQLite file per session, copied by each test (migrating costs ~0.15 s)."""
    path = tmp_path_factory.mktemp("template") / "central.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(sqlite_url, _migrated_sqlite):
    """A migrated SQLite engine (for tests that need only one backend)."""
    shutil.copy(_migrated_sqlite, sqlite_url.removeprefix("sqlite:///"))
    engine = db.make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(sqlite_url, tmp_path) -> DashboardSettings:
    return dashboard_settings(sqlite_url, tmp_path)


@pytest.fixture
def app(settings, sqlite_engine):
    """The dashboard app on SQLite with an admin and a viewer (no live tail)."""
    app = create_app(settings, engine=sqlite_engine, start_live=False, migrate=False)
    app.config.update(TESTING=True)
    add_user(sqlite_engine, "boss", ADMIN_PASSWORD, Role.ADMIN)
    add_user(sqlite_engine, "eve", VIEWER_PASSWORD, Role.VIEWER)
    return app


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def login(client, username: str, password: str):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def admin(app):
    """A test client logged in as an admin."""
    client = app.test_client()
    assert login(client, "boss", ADMIN_PASSWORD).status_code == 302
    return client


@pytest.fixture
def viewer(app):
    """A test client logged in as a viewer."""
    client = app.test_client()
    assert login(client, "eve", VIEWER_PASSWORD).status_code == 302
    return client
