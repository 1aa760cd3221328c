"""The one reader of health metrics: numbers from a health row's ``system_info``.

Figures travel as numbers under the keys ``fleet_protocol.Metric`` declares
(docs/protocol.md, "Health metrics"). Old senders wrote some as strings under
other names (``"memory_usage": "45%"``); :data:`fleet_protocol.LEGACY_KEYS`
lists those, and their leading number is read. Nothing parses human messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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
