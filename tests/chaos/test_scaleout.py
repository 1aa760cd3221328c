"""A small scale-out run: two ingest processes on PostgreSQL, two dashboards on Redis, real browsers."""

from __future__ import annotations

import os

import pytest

from chaos.scaleout import scale_out
from tests.conftest import PG_ADMIN_URL
from tests.dashboard.stack import CHROMIUM

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]


def test_every_detection_stored_once_and_seen_by_both_dashboards(tmp_path, pg_url, redis_url):
    """20 checkpoints for 5 s through two ingest processes: stored once each, seen by both dashboards."""
    outcome = scale_out(tmp_path, PG_ADMIN_URL, redis_url, checkpoints=20, total_rate=100, seconds=5)
    extra = outcome.extra
    assert extra["acked"] > 300 and not extra["errors"]
    assert extra["stored"] == extra["distinct"] == extra["acked"]
    assert extra["seen_by_both"] == extra["acked"]
