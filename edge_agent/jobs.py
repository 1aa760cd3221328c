"""The one place that wires APScheduler: periodic cleanup and health checks.

The jobs themselves are plain functions (:func:`edge_agent.cleanup.run_cleanup`,
:meth:`edge_agent.health.HealthMonitor.check`) tested without a scheduler.
Both run once at start-up, then every interval; a job never overlaps itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from .cleanup import CapWatch, CleanupPolicy, run_cleanup
from .health import HealthMonitor
from .outbox import Outbox

log = logging.getLogger(__name__)


def cleanup_job(outbox: Outbox, policy: CleanupPolicy, watch: CapWatch) -> Callable[[], None]:
    """The cleanup job: prune, then let the watch log an over-cap change once."""
    def job() -> None:
        watch.update(run_cleanup(outbox, policy))
    return job


def start_scheduler(outbox: Outbox, policy: CleanupPolicy, watch: CapWatch, health: HealthMonitor,
                    cleanup_interval_s: float, health_interval_s: float) -> BackgroundScheduler:
    """Start a background scheduler running cleanup and health checks; caller shuts it down."""
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    now = datetime.now(UTC)
    scheduler.add_job(cleanup_job(outbox, policy, watch), "interval", seconds=cleanup_interval_s,
                      id="cleanup", next_run_time=now)
    scheduler.add_job(health.check, "interval", seconds=health_interval_s, id="health",
                      next_run_time=now)
    scheduler.start()
    log.info("scheduled cleanup every %.0f s and health checks every %.0f s",
             cleanup_interval_s, health_interval_s)
    return scheduler
