"""``python -m dashboard``: --help and the users subcommands, run as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "CENTRAL_DB_URL": db_url, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "dashboard", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)


def test_help_names_the_settings():
    """--help lists the commands and the environment variables."""
    out = _run("sqlite://", "--help").stdout
    assert "users" in out and "DASHBOARD_PORT" in out and "CENTRAL_DB_URL" in out


@pytest.mark.slow
def test_users_lifecycle(sqlite_url):
    """Add, list, change password and remove users; mistakes exit 1 with a message and change nothing."""
    assert _run(sqlite_url, "users", "add", "ops", "--role", "admin", "--password-stdin",
                stdin="long-enough-1\n").returncode == 0
    assert _run(sqlite_url, "users", "add", "guard", "--password-stdin", stdin="long-enough-2\n").returncode == 0
    listing = _run(sqlite_url, "users", "list").stdout
    assert "ops" in listing and "admin" in listing and "guard" in listing and "viewer" in listing
    short = _run(sqlite_url, "users", "passwd", "guard", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "too short" in short.stderr
    assert _run(sqlite_url, "users", "passwd", "guard", "--password-stdin", stdin="long-enough-3\n").returncode == 0
    last_admin = _run(sqlite_url, "users", "remove", "ops")
    assert last_admin.returncode == 1 and "last admin" in last_admin.stderr
    assert _run(sqlite_url, "users", "remove", "guard").returncode == 0
    duplicate = _run(sqlite_url, "users", "add", "ops", "--password-stdin", stdin="long-enough-1\n")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    assert "guard" not in _run(sqlite_url, "users", "list").stdout


def test_invalid_settings_are_reported(sqlite_url):
    """A bad setting exits 2 naming the variable."""
    env = {**os.environ, "CENTRAL_DB_URL": sqlite_url, "DASHBOARD_PORT": "99999", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "dashboard", "users", "list"], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=60)
    assert result.returncode == 2 and "DASHBOARD_PORT" in result.stderr


@pytest.mark.slow
def test_serve_runs_gunicorn_and_stops_on_sigterm(tmp_path):
    """``python -m dashboard`` answers through gunicorn (not Werkzeug's dev server) and exits 0 on SIGTERM."""
    from tests.dashboard.stack import dashboard_env, free_port, wait_http

    port = free_port()
    env = dashboard_env(f"sqlite:///{tmp_path / 'central.db'}", tmp_path / "images", port, tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "dashboard"], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/login")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            assert response.headers["Server"].startswith("gunicorn")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
