"""Bounded disk: prune delivered data by age and by a size cap; never drop unsent data.

Each job is a plain function taking the outbox and a cutoff (the scheduler
module only wires them); the outbox's named methods do the deleting, this
module decides what goes and in which order. The policy, also in docs/edge.md:

1. Rows the server has answered (delivered or rejected) older than the
   retention period are deleted with their images.
2. While the outbox (database pages in use + WAL + images it owns) is over the
   cap, images of answered rows go first, oldest first, then the answered rows
   themselves.
3. Rows not yet delivered and their images are never deleted. If they alone
   exceed the cap, the report says ``over_cap``; :class:`CapWatch` logs that
   once (and the recovery once) and the health monitor shows FAIL until it
   clears. New detections keep being stored as long as the disk has room.

Only image files inside the outbox's image folder are deleted (the outbox
enforces that): a file an outside program points at stays that program's business.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .outbox import Outbox, Pruned
from .outbox_reader import StorageUse

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CleanupPolicy:
    """How long answered data is kept and how large the outbox may grow."""

    retention_s: float
    cap_bytes: int


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


def prune_by_age(outbox: Outbox, cutoff: float) -> Pruned:
    """Delete answered rows created before ``cutoff`` (Unix time) and their images."""
    rows = images = 0
    while (pruned := outbox.prune_answered(before=cutoff)).rows:
        rows, images = rows + pruned.rows, images + pruned.images
    return Pruned(rows, images)


def prune_to_cap(outbox: Outbox, cap_bytes: int, batch_size: int = 50) -> Pruned:
    """Free space from answered rows, oldest first (``batch_size`` at a time) until under ``cap_bytes``.

    Images go first (the rows stay, marked ``images_pruned``), then the rows themselves.
    """
    rows = images = 0
    while outbox.storage_use().total_bytes > cap_bytes:
        stripped = outbox.prune_answered_images(batch_size)
        images += stripped.images
        if stripped.rows:
            continue
        deleted = outbox.prune_answered()
        if not deleted.rows:
            break  # only unsent data is left: never deleted (policy step 3)
        rows, images = rows + deleted.rows, images + deleted.images
    return Pruned(rows, images)


def run_cleanup(outbox: Outbox, policy: CleanupPolicy, now: float | None = None) -> CleanupReport:
    """The scheduled job: age first, then the cap; report where the outbox stands."""
    now = time.time() if now is None else now
    by_age = prune_by_age(outbox, now - policy.retention_s)
    by_cap = prune_to_cap(outbox, policy.cap_bytes)
    report = CleanupReport(by_age.rows + by_cap.rows, by_age.images + by_cap.images, outbox.storage_use(),
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
