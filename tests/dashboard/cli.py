"""Run ``python -m dashboard`` as a real process against a test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_dashboard(db_url: str, *args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """The finished process (text output) of ``python -m dashboard ARGS`` on ``db_url``."""
    full_env = {**os.environ, "CENTRAL_DB_URL": db_url, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "dashboard", *args], input=stdin, capture_output=True,
                          text=True, env=full_env, cwd=REPO, timeout=60)
