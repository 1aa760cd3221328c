"""Bounded disk: prune delivered data by age and by a size cap; never drop unsent data.

Each job is a plain function taking the outbox and a cutoff (the scheduler
module only wires them). The policy, also in docs/edge.md:

1. Rows the server has answered (delivered or rejected) older than the
   retention period are deleted with their images.
2. While the outbox (database pages in use + WAL + images it owns) is over the
   cap, images of answered rows go first, oldest first, then the answered rows
   themselves.
3. Rows not yet delivered and their images are never deleted. If they alone
   exceed the cap, the report says ``over_cap``; :class:`CapWatch` logs that
   once (and the recovery once) and the health monitor shows FAIL until it
   clears. New detections keep being stored as long as the disk has room.

Only image files inside the outbox's image folder are deleted: a file an
outside program points at stays that program's business.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .outbox import Outbox

log = logging.getLogger(__name__)

_ANSWERED = "delivery IN ('delivered', 'rejected')"
_UNSENT = "delivery IN ('pending', 'in_flight')"
_BATCH = 500


@dataclass(frozen=True, slots=True)
class CleanupPolicy:
    """How long answered data is kept and how large the outbox may grow."""

    retention_s: float
    cap_bytes: int


@dataclass(frozen=True, slots=True)
class StorageUse:
    """Bytes the outbox uses, and how much of it is not yet delivered."""

    total_bytes: int
    unsent_bytes: int


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What one cleanup run did and where it left the outbox."""

    deleted_rows: int
    deleted_images: int
    use: StorageUse
    cap_bytes: int

    @property
    def over_cap(self) -> bool:
        """True when even after pruning the outbox is over the cap (only unsent data is left)."""
        return self.use.total_bytes > self.cap_bytes


def storage_use(outbox: Outbox) -> StorageUse:
    """Database pages in use + WAL + owned images; unsent = their images + a row estimate."""
    pages = outbox.query("SELECT (SELECT page_count FROM pragma_page_count()) - "
                         "(SELECT freelist_count FROM pragma_freelist_count()) AS used, "
                         "(SELECT page_size FROM pragma_page_size()) AS size")[0]
    wal = Path(f"{outbox.config.db_path}-wal")
    db_bytes = pages["used"] * pages["size"] + (wal.stat().st_size if wal.exists() else 0)
    images = outbox.query("SELECT coalesce(sum(image_bytes), 0) AS total, coalesce(sum(CASE WHEN "
                          f"{_UNSENT} THEN image_bytes + 512 ELSE 0 END), 0) AS unsent "
                          "FROM detection_results WHERE images_pruned = 0")[0]
    return StorageUse(db_bytes + images["total"], images["unsent"])


def prune_by_age(outbox: Outbox, cutoff: float) -> tuple[int, int]:
    """Delete answered rows created before ``cutoff`` (Unix time) and their images."""
    rows = images = 0
    while True:
        batch = outbox.query(f"SELECT id, image_path, plate_image_path, images_pruned FROM detection_results "
                             f"WHERE {_ANSWERED} AND created_at < ? ORDER BY id LIMIT ?", (cutoff, _BATCH))
        if not batch:
            break
        images += sum(_delete_images(outbox, r) for r in batch if not r["images_pruned"])
        rows += outbox.execute("DELETE FROM detection_results WHERE id = ?", [(r["id"],) for r in batch],
                               many=True)
    rows += outbox.execute(f"DELETE FROM health_checks WHERE {_ANSWERED} AND created_at < ?", (cutoff,))
    return rows, images


def prune_to_cap(outbox: Outbox, cap_bytes: int, batch_size: int = 50) -> tuple[int, int]:
    """Free space from answered rows, oldest first (``batch_size`` at a time) until under ``cap_bytes``."""
    rows = images = 0
    while storage_use(outbox).total_bytes > cap_bytes:
        batch = outbox.query(f"SELECT id, image_path, plate_image_path FROM detection_results WHERE "
                             f"{_ANSWERED} AND images_pruned = 0 AND image_bytes > 0 ORDER BY id LIMIT ?",
                             (batch_size,))
        if batch:
            images += sum(_delete_images(outbox, r) for r in batch)
            outbox.execute("UPDATE detection_results SET images_pruned = 1 WHERE id = ?",
                           [(r["id"],) for r in batch], many=True)
            continue
        deleted = _delete_oldest_answered_rows(outbox)
        if not deleted:
            break  # only unsent data is left: never deleted (policy step 3)
        rows += deleted
    return rows, images


def _delete_oldest_answered_rows(outbox: Outbox) -> int:
    deleted = 0
    for table in ("health_checks", "detection_results"):
        deleted += outbox.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                                  f"WHERE {_ANSWERED} ORDER BY id LIMIT ?)", (_BATCH,))
    return deleted


def _delete_images(outbox: Outbox, row: dict) -> int:
    """Delete a row's image files that live in the outbox's image folder; return how many."""
    count = 0
    root = outbox.config.image_dir.resolve()
    for key in ("image_path", "plate_image_path"):
        if not row.get(key):
            continue
        path = Path(row[key]).resolve()
        if path.is_relative_to(root):
            path.unlink(missing_ok=True)
            count += 1
    return count


def run_cleanup(outbox: Outbox, policy: CleanupPolicy, now: float | None = None) -> CleanupReport:
    """The scheduled job: age first, then the cap; report where the outbox stands."""
    now = time.time() if now is None else now
    age_rows, age_images = prune_by_age(outbox, now - policy.retention_s)
    cap_rows, cap_images = prune_to_cap(outbox, policy.cap_bytes)
    report = CleanupReport(age_rows + cap_rows, age_images + cap_images, storage_use(outbox),
                           policy.cap_bytes)
    if report.deleted_rows or report.deleted_images:
        log.info("cleanup deleted %d answered rows and %d images; outbox now %.1f MB",
                 report.deleted_rows, report.deleted_images, report.use.total_bytes / 1e6)
    return report


class CapWatch:
    """Remembers whether the outbox is over its cap; logs the change once each way."""

    def __init__(self) -> None:
        self.last: CleanupReport | None = None

    def update(self, report: CleanupReport) -> None:
        """Take a new report; log only when over-cap starts or ends."""
        was_over = self.last is not None and self.last.over_cap
        self.last = report
        if report.over_cap and not was_over:
            log.error("outbox is over its cap (%.1f MB > %.1f MB) with %.1f MB not yet delivered; "
                      "unsent data is kept, never deleted: restore the uplink or raise EDGE_DISK_CAP_MB",
                      report.use.total_bytes / 1e6, report.cap_bytes / 1e6, report.use.unsent_bytes / 1e6)
        elif was_over and not report.over_cap:
            log.info("outbox is back under its cap (%.1f MB)", report.use.total_bytes / 1e6)
