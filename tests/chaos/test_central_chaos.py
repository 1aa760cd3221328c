"""Fast variants of the central chaos scenarios (the full sizes run in ``make chaos``)."""

from __future__ import annotations

import pytest

from chaos.central import postgres_restart, wire_fuzz
from chaos.pg import PostgresUnavailable

pytestmark = pytest.mark.slow


def test_wire_fuzz_stores_nothing_answers_everything_and_keeps_valid_traffic(sqlite_url, tmp_path):
    """1,000 hostile frames: each gets an error answer, nothing of them is stored, valid rows all are."""
    outcome = wire_fuzz(tmp_path, sqlite_url, total=1000, connections=2)
    extra = outcome.extra
    assert extra["alive"]
    assert sum(extra["counts"].values()) == outcome.sent and "success" not in extra["counts"]
    assert extra["stored"] == extra["valid"] == extra["images"]
    assert len(extra["counts"]) >= 10  # many distinct refusal codes were exercised


def test_postgres_restart_loses_nothing_acknowledged(tmp_path):
    """PostgreSQL stopped twice under load: errors are answered, connections kept, every row stored once."""
    try:
        outcome = postgres_restart(tmp_path, checkpoints=2, per_checkpoint=200, down_seconds=1.5)
    except PostgresUnavailable as exc:
        pytest.skip(f"no private PostgreSQL possible here: {exc}")
    assert outcome.ok and outcome.stored == outcome.sent
    assert outcome.extra["refusals"]["unavailable"] > 0 and outcome.extra["reconnects"] == 0
    assert "degraded" in outcome.extra["health"]
