"""Health metrics: the numbers a health report's ``system_info`` carries, under declared keys.

The edge agent writes each figure as a number under a :class:`Metric` key
(``{"cpu_percent": 12.0, "temperature_c": 51.2, ...}``); the central side reads
them back with ``fleet_store.metrics`` and nothing else. Old senders wrote some
figures as strings under other names (``"memory_usage": "45%"``): those names
are listed in :data:`LEGACY_KEYS` so they stay readable, and the edge keeps
writing ``memory_usage``/``cpu_usage`` strings too for SQL written against the
old system.
"""

from __future__ import annotations

import enum


class Metric(str, enum.Enum):
    """A documented ``system_info`` key whose value is a number (docs/protocol.md)."""

    CPU_PERCENT = "cpu_percent"
    MEMORY_PERCENT = "memory_percent"
    DISK_PERCENT = "disk_percent"
    TEMPERATURE_C = "temperature_c"
    OUTBOX_BACKLOG = "outbox_backlog"
    UPTIME_S = "uptime_s"


# Names old senders (and this project's edge before these keys existed) used; values may be "45%".
LEGACY_KEYS: dict[Metric, tuple[str, ...]] = {
    Metric.CPU_PERCENT: ("cpu_usage",),
    Metric.MEMORY_PERCENT: ("memory_usage",),
    Metric.DISK_PERCENT: ("disk_usage",),
    Metric.TEMPERATURE_C: ("temperature", "cpu_temperature"),
    Metric.OUTBOX_BACKLOG: ("backlog",),
}
