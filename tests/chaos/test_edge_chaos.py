"""Fast variants of the edge chaos scenarios with the real processes (full sizes: ``make chaos``)."""

from __future__ import annotations

import pytest

from chaos.edge import central_killed, disk_nearly_full, edge_killed, partition

pytestmark = pytest.mark.slow


def test_central_killed_under_load_loses_and_duplicates_nothing(tmp_path):
    """Three edges stream while the central is SIGKILLed twice: every event stored once, images intact."""
    outcome = central_killed(tmp_path, edges=3, total=900, kills=2, seconds=5, deadline=120)
    assert (outcome.sent, outcome.stored, outcome.duplicates, outcome.lost) == (900, 900, 0, 0)
    assert outcome.extra == {"bad_images": 0, "unexpected": 0}


def test_edge_killed_mid_send_loses_and_duplicates_nothing(tmp_path):
    """An edge SIGKILLed three times mid-send delivers its whole backlog exactly once."""
    outcome = edge_killed(tmp_path, backlog=600, kills=3, deadline=120)
    assert (outcome.sent, outcome.stored, outcome.duplicates, outcome.lost) == (600, 600, 0, 0)
    assert outcome.extra == {"bad_images": 0, "unexpected": 0}


def test_partition_drains_the_backlog_and_shows_offline_then_online(tmp_path):
    """A 20 s partition (edge in its own netns): marked offline, back online after healing, nothing lost."""
    from chaos.netns import NetnsUnavailable

    try:
        outcome = partition(tmp_path, seconds=20, heartbeat=8, deadline=90)
    except NetnsUnavailable as exc:
        pytest.skip(str(exc))
    assert (outcome.duplicates, outcome.lost, outcome.stored) == (0, 0, outcome.sent)
    assert outcome.extra["went_offline"] is not None and outcome.extra["back_online"] is not None
    history = outcome.extra["history"]
    assert history[0] == "connected" and "offline" in history
    after = history[history.index("offline") + 1:]
    assert "online" in after or "connected" in after  # the same link resumed, or a new one was made


def test_disk_nearly_full_keeps_unsent_rows_and_says_so(tmp_path):
    """Unsent data over the cap on a nearly full disk: nothing deleted, FAIL + log line; pruning after delivery."""
    try:
        outcome = disk_nearly_full(tmp_path, disk_mb=40, cap_mb=8, detections=400)
    except PermissionError as exc:
        pytest.skip(str(exc))
    extra = outcome.extra
    assert outcome.ok and outcome.stored == outcome.sent == extra["kept"]
    assert extra["fail_seen"] and extra["error_logged"] and extra["pass_again"] and extra["pruned"] > 0
