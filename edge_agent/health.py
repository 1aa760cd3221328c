"""The health monitor: one list of component statuses, periodic and on demand.

Components: ``system`` (CPU, memory), ``disk`` (free space where the outbox
lives), ``temperature`` (SoC, where the kernel exposes it), ``camera`` and
``detector`` (from the vision service, WARN when it is not installed),
``hailo`` (device presence), ``outbox`` (depth, age of the oldest unsent row,
the disk cap) and ``uplink`` (link state, last successful delivery). Each is
PASS/WARN/FAIL with a message. Transitions are logged once; each check is also
queued in the outbox as ``health_checks`` rows for the central server.

The figures travel as numbers in ``system_info`` under the keys
:class:`fleet_protocol.Metric` declares (``cpu_percent``, ``memory_percent``,
``disk_percent``, ``temperature_c``, ``outbox_backlog``, ``uptime_s``); the
old ``memory_usage``/``cpu_usage`` strings (``"45%"``) stay beside them for
SQL written against the old system. Messages are for humans only.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from fleet_protocol import Metric

from .cleanup import CapWatch
from .delivery import Kind
from .events import ComponentStatus, Status, VisionService
from .outbox import Outbox
from .uplink import LinkState, UplinkStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Thresholds and where to look for hardware."""

    detector: str = "auto"
    stale_unsent_s: float = 300.0
    disk_warn_free_bytes: int = 1 << 30
    disk_fail_free_bytes: int = 200 << 20
    temp_warn_c: float = 75.0
    temp_fail_c: float = 85.0
    hailo_device: Path = Path("/dev/hailo0")
    thermal_zone: Path = Path("/sys/class/thermal/thermal_zone0/temp")


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """One run of every check."""

    checked_at: datetime
    components: tuple[ComponentStatus, ...]
    system_info: dict[str, Any]

    @property
    def overall(self) -> Status:
        """The worst status of any component."""
        order = [Status.PASS, Status.WARN, Status.FAIL]
        return max((c.status for c in self.components), key=order.index, default=Status.PASS)


class HealthMonitor:
    """Runs the checks; thread-safe; remembers the last snapshot."""

    def __init__(self, outbox: Outbox, uplink_status: Callable[[], UplinkStatus],
                 vision: VisionService | None, cap_watch: CapWatch, config: HealthConfig,
                 vision_error: str = ""):
        self.outbox = outbox
        self.uplink_status = uplink_status
        self.vision = vision
        self.vision_error = vision_error
        self.cap_watch = cap_watch
        self.config = config
        self._lock = threading.Lock()
        self._previous: dict[str, Status] = {}
        self.last: HealthSnapshot | None = None

    def check(self, queue: bool = True) -> HealthSnapshot:
        """Run every check, log transitions, and (if ``queue``) queue the rows for delivery."""
        with self._lock:
            system_info = self._system_info()
            components = (self._system(system_info), self._disk(), *self._temperature(),
                          *self._vision(), self._hailo(), self._outbox(), self._uplink())
            system_info = {**system_info, **fleet_metrics(components)}
            snapshot = HealthSnapshot(datetime.now(UTC), components, system_info)
            self._log_transitions(components)
            self.last = snapshot
        if queue:
            self.outbox.add_health(list(components), system_info, snapshot.checked_at)
        return snapshot

    def _log_transitions(self, components: tuple[ComponentStatus, ...]) -> None:
        for c in components:
            before = self._previous.get(c.component)
            if before is c.status or (before is None and c.status is Status.PASS):
                continue
            level = logging.INFO if c.status is Status.PASS else logging.WARNING
            log.log(level, "health %s: %s -> %s (%s)", c.component,
                    before.value if before else "unknown", c.status.value, c.message)
            self._previous[c.component] = c.status
        for c in components:
            self._previous.setdefault(c.component, c.status)

    # ------------------------------------------------------------------ checks

    @staticmethod
    def _system_info() -> dict[str, Any]:
        memory = psutil.virtual_memory().percent
        cpu = psutil.cpu_percent(interval=None)
        return {"python_version": platform.python_version(), "platform": sys.platform,
                Metric.CPU_PERCENT.value: cpu, Metric.MEMORY_PERCENT.value: memory,
                Metric.UPTIME_S.value: round(uptime_s()),
                "memory_usage": f"{memory:.0f}%", "cpu_usage": f"{cpu:.0f}%",
                "load_average": [round(x, 2) for x in psutil.getloadavg()]}

    @staticmethod
    def _system(info: dict[str, Any]) -> ComponentStatus:
        cpu, memory = info[Metric.CPU_PERCENT.value], info[Metric.MEMORY_PERCENT.value]
        status = Status.FAIL if memory >= 95 else Status.WARN if memory >= 85 else Status.PASS
        return ComponentStatus("system", status, f"CPU {cpu:.0f}%, memory {memory:.0f}%",
                               {"cpu_percent": cpu, "memory_percent": memory})

    def _disk(self) -> ComponentStatus:
        usage = psutil.disk_usage(str(self.outbox.config.db_path.parent))
        free_mb = usage.free / 1e6
        details = {"free_bytes": usage.free, "percent": usage.percent}
        if usage.free < self.config.disk_fail_free_bytes:
            return ComponentStatus("disk", Status.FAIL, f"only {free_mb:.0f} MB free", details)
        status = Status.WARN if usage.free < self.config.disk_warn_free_bytes else Status.PASS
        return ComponentStatus("disk", status, f"{free_mb:.0f} MB free ({usage.percent:.0f}% used)", details)

    def _temperature(self) -> list[ComponentStatus]:
        celsius = read_soc_temperature(self.config.thermal_zone)
        if celsius is None:
            return []  # not a Pi (or no sensor exposed): nothing to say
        status = (Status.FAIL if celsius >= self.config.temp_fail_c
                  else Status.WARN if celsius >= self.config.temp_warn_c else Status.PASS)
        return [ComponentStatus("temperature", status, f"SoC at {celsius:.1f} °C", {"celsius": celsius})]

    def _vision(self) -> list[ComponentStatus]:
        if self.vision is None:
            why = self.vision_error or "vision package not installed"
            return [ComponentStatus("camera", Status.WARN, f"camera unavailable: {why}"),
                    ComponentStatus("detector", Status.WARN, f"detection unavailable: {why}")]
        try:
            return list(self.vision.health())
        except Exception as exc:  # a broken vision service must not take health down with it
            return [ComponentStatus("detector", Status.FAIL, f"vision health failed: {exc}")]

    def _hailo(self) -> ComponentStatus:
        present = self.config.hailo_device.exists()
        if present:
            return ComponentStatus("hailo", Status.PASS, f"{self.config.hailo_device} present")
        if self.config.detector == "hailo":
            return ComponentStatus("hailo", Status.FAIL,
                                   f"DETECTOR=hailo but {self.config.hailo_device} is absent")
        if self.config.detector == "cpu":
            return ComponentStatus("hailo", Status.PASS, "not used (DETECTOR=cpu)")
        return ComponentStatus("hailo", Status.WARN, "no Hailo device: using the CPU detector")

    def _outbox(self) -> ComponentStatus:
        detections, health = self.outbox.backlog(Kind.DETECTION), self.outbox.backlog(Kind.HEALTH)
        details = {"unsent_detections": detections.unsent, "unsent_health": health.unsent,
                   "rejected": detections.rejected, "oldest_unsent_age_s": detections.oldest_unsent_age_s}
        report = self.cap_watch.last
        if report is not None and report.over_cap:
            return ComponentStatus("outbox", Status.FAIL, (
                f"over the disk cap: {report.use.total_bytes / 1e6:.0f} MB > "
                f"{report.cap_bytes / 1e6:.0f} MB, "
                f"{detections.unsent} detections unsent (kept, never deleted)"), details)
        age = detections.oldest_unsent_age_s
        if age is not None and age > self.config.stale_unsent_s:
            return ComponentStatus("outbox", Status.WARN,
                                   f"{detections.unsent} unsent, oldest {age:.0f} s old", details)
        return ComponentStatus("outbox", Status.PASS, f"{detections.unsent} detections unsent", details)

    def _uplink(self) -> ComponentStatus:
        s = self.uplink_status()
        last = (datetime.fromtimestamp(s.last_delivery_at, UTC).isoformat(timespec="seconds")
                if s.last_delivery_at else "never")
        details = {"state": s.state.value, "last_delivery": last, "delivered": s.delivered}
        if s.state is LinkState.CONNECTED:
            return ComponentStatus("uplink", Status.PASS, f"connected; last delivery {last}", details)
        if s.state is LinkState.STOPPED:
            return ComponentStatus("uplink", Status.WARN, "stopped by the operator", details)
        if s.state is LinkState.CONNECTING:
            return ComponentStatus("uplink", Status.WARN, f"connecting to {s.url}", details)
        return ComponentStatus("uplink", Status.FAIL, f"{s.state.value}: {s.last_error or 'not connected'}; "
                               f"last delivery {last}", details)


# Which component detail becomes which metric: (component, detail key, metric).
_COMPONENT_METRICS = (("disk", "percent", Metric.DISK_PERCENT), ("temperature", "celsius", Metric.TEMPERATURE_C),
                      ("outbox", "unsent_detections", Metric.OUTBOX_BACKLOG))


def fleet_metrics(components) -> dict[str, float | int]:
    """The components' figures as numbers under their :class:`~fleet_protocol.Metric` keys (those present)."""
    details = {c.component: c.details for c in components}
    return {metric.value: details[component][key] for component, key, metric in _COMPONENT_METRICS
            if details.get(component, {}).get(key) is not None}


def read_soc_temperature(zone: Path) -> float | None:
    """The SoC temperature in °C from the kernel's thermal zone, or None if there is none."""
    try:
        return int(zone.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def uptime_s() -> float:
    """Seconds since boot (``system_info["uptime_s"]``)."""
    return time.time() - psutil.boot_time()
