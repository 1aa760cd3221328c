"""The one reader of health metrics: numbers from a health row's ``system_info``.

Figures travel as numbers under the keys ``fleet_protocol.Metric`` declares
(docs/protocol.md, "Health metrics"). Old senders wrote some as strings under
other names (``"memory_usage": "45%"``); :data:`fleet_protocol.LEGACY_KEYS`
lists those, and their leading number is read. Nothing parses human messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from fleet_protocol import LEGACY_KEYS, Metric

_LEADING_NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?)")
METRIC_NAMES: tuple[str, ...] = tuple(m.value for m in Metric)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):  # an old sender's "45%" or "51.2C"
        found = _LEADING_NUMBER.match(value)
        return float(found.group(1)) if found else None
    return None


def metric(system_info: Mapping[str, Any] | None, which: Metric) -> float | None:
    """One figure from ``system_info``: the declared key first, then the old names."""
    info = system_info or {}
    for key in (which.value, *LEGACY_KEYS.get(which, ())):
        value = _number(info.get(key))
        if value is not None:
            return value
    return None


def metrics_of(system_info: Mapping[str, Any] | None) -> dict[str, float]:
    """Every figure a health row carries, keyed by :class:`~fleet_protocol.Metric` value."""
    return {m.value: value for m in Metric if (value := metric(system_info, m)) is not None}


@dataclass(frozen=True, slots=True)
class CheckpointFigures:
    """What monitoring shows per checkpoint: its state and the latest figures its health reports gave."""

    checkpoint_id: str
    site: str
    online: bool
    last_seen_at: datetime | None
    figures: Mapping[str, float]


def checkpoint_figures(engine: Engine) -> list[CheckpointFigures]:
    """Every registered (not revoked) checkpoint with the newest value of each figure it reported.

    One GROUP BY on the covering index ``ix_health_monitors_latest`` finds each
    component's newest report; a figure reported by several components takes
    the newest report's value.
    """
    from .schema import checkpoints, health_monitors

    h = health_monitors.c
    newest = select(func.max(h.id)).group_by(h.checkpoint_id, h.component).scalar_subquery()
    with engine.connect() as conn:
        reports = conn.execute(select(h.checkpoint_id, h.system_info).where(h.id.in_(newest)).order_by(h.id)).all()
        rows = conn.execute(select(checkpoints.c.checkpoint_id, checkpoints.c.site, checkpoints.c.status,
                                   checkpoints.c.last_seen_at).where(checkpoints.c.revoked_at.is_(None))
                            .order_by(checkpoints.c.checkpoint_id)).all()
    figures: dict[str, dict[str, float]] = {}
    for report in reports:
        figures.setdefault(report.checkpoint_id, {}).update(metrics_of(report.system_info))
    return [CheckpointFigures(r.checkpoint_id, r.site, r.status == "online", r.last_seen_at,
                              figures.get(r.checkpoint_id, {})) for r in rows]
