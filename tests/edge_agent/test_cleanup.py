"""Disk bounds: age and cap pruning of answered rows; unsent rows are never deleted, only reported."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edge_agent.cleanup import CapWatch, CleanupPolicy, prune_by_age, prune_to_cap, run_cleanup
from edge_agent.delivery import Kind, Outcome, Result
from edge_agent.outbox import Pruned
from tests.edge_agent.conftest import make_event, make_jpeg, outside_sql

DAY = 86400.0


def deliver(outbox, count: int) -> None:
    outbox.apply([Outcome(c.kind, c.row_id, Result.DELIVERED, record_id=1) for c in outbox.claim(count)])


def rows(outbox) -> list:
    return outside_sql(outbox, "SELECT license_plate, delivery, image_path, images_pruned FROM detection_results "
                               "ORDER BY id")


def fill(outbox, delivered: int, unsent: int) -> None:
    scene = make_jpeg(640, 480, quality=95)
    for i in range(delivered):
        outbox.submit(make_event(f"D{i}", scene=scene))
    deliver(outbox, delivered)
    for i in range(unsent):
        outbox.submit(make_event(f"U{i}", scene=scene))


def test_age_prunes_answered_rows_and_their_images_only(outbox):
    """Delivered rows past retention go with their files; unsent rows of any age stay."""
    fill(outbox, delivered=3, unsent=2)
    files = [Path(r["image_path"]) for r in rows(outbox)]
    assert prune_by_age(outbox, cutoff=time.time() + DAY) == Pruned(rows=3, images=6)
    assert [r["license_plate"] for r in rows(outbox)] == ["U0", "U1"]
    assert [f.exists() for f in files] == [False, False, False, True, True]


def test_cap_frees_delivered_images_first_oldest_first(outbox):
    """Over the cap, images of the oldest delivered rows go first and the rows stay."""
    fill(outbox, delivered=6, unsent=2)
    use = outbox.storage_use()
    per_row = use.unsent_bytes // 2
    pruned = prune_to_cap(outbox, use.total_bytes - 2 * per_row, batch_size=1)
    state = rows(outbox)
    assert pruned.rows == 0 and pruned.images >= 4 and outbox.storage_use().total_bytes <= use.total_bytes
    pruned = [r["images_pruned"] for r in state]
    assert pruned == sorted(pruned, reverse=True) and pruned[:2] == [1, 1]  # oldest first
    assert pruned[5:] == [0, 0, 0]  # the newest delivered row and both unsent rows keep their images
    assert all(Path(r["image_path"]).exists() for r in state if r["delivery"] == "pending")


def test_unsent_data_over_cap_is_kept_reported_and_logged_once(outbox, caplog):
    """When unsent data alone exceeds the cap nothing unsent is deleted; over_cap is logged once."""
    fill(outbox, delivered=2, unsent=3)
    watch = CapWatch()
    policy = CleanupPolicy(retention_s=30 * DAY, cap_bytes=1000)
    with caplog.at_level(logging.INFO, logger="edge_agent.cleanup"):
        for _ in range(3):
            watch.update(run_cleanup(outbox, policy))
        over = watch.last.over_cap
        watch.update(run_cleanup(outbox, CleanupPolicy(30 * DAY, 10**12)))
    assert over
    assert [r["license_plate"] for r in rows(outbox)] == ["U0", "U1", "U2"]
    assert all(Path(r["image_path"]).exists() for r in rows(outbox))
    assert sum("over its cap" in m for m in caplog.messages) == 1
    assert outbox.backlog(Kind.DETECTION).pending == 3
    assert "back under its cap" in caplog.messages[-1]


def test_outside_program_files_are_never_deleted(outbox, tmp_path):
    """An image an outside program owns (already small, kept in place) survives pruning."""
    photo = tmp_path / "theirs.jpg"
    photo.write_bytes(make_jpeg(320, 240))
    outside_sql(outbox, "INSERT INTO detection_results (license_plate, confidence, timestamp, image_path) "
                        "VALUES ('OUT', 80, '2025-01-01T00:00:00', ?)", (str(photo),))
    outbox.prepare_outside_rows()
    deliver(outbox, 1)
    assert prune_by_age(outbox, cutoff=time.time() + DAY) == Pruned(rows=1, images=0)
    assert photo.exists()
