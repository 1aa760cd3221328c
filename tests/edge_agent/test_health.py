"""The health monitor: components, vision absent, cap failure, transitions logged once."""

from __future__ import annotations

import logging
from pathlib import Path

from edge_agent.cleanup import CapWatch, CleanupReport
from edge_agent.delivery import Kind
from edge_agent.events import Status
from edge_agent.health import HealthConfig, HealthMonitor
from edge_agent.outbox_reader import StorageUse
from edge_agent.uplink import LinkState, UplinkStatus
from fleet_protocol import Metric
from tests.edge_agent.conftest import make_event
from tests.edge_agent.fakes import FakeVision


def monitor(outbox, tmp_path, vision=None, state=LinkState.CONNECTED, watch=None, detector="auto"):
    status = UplinkStatus(state, "ws://x", running=True, last_error="refused")
    config = HealthConfig(detector=detector, hailo_device=tmp_path / "hailo0",
                          thermal_zone=tmp_path / "temp")
    return HealthMonitor(outbox, lambda: status, vision, watch or CapWatch(), config)


def by_name(snapshot) -> dict:
    return {c.component: c for c in snapshot.components}


def test_all_components_reported_and_queued(outbox, tmp_path):
    """A check covers system, disk, temperature, vision, hailo, outbox, uplink and queues rows."""
    (tmp_path / "temp").write_text("51234\n")
    snap = monitor(outbox, tmp_path, FakeVision()).check()
    comps = by_name(snap)
    assert set(comps) == {"system", "disk", "temperature", "camera", "detector", "hailo", "outbox", "uplink"}
    assert comps["temperature"].message.startswith("SoC at 51.2")
    assert comps["uplink"].status is Status.PASS and snap.system_info["memory_usage"].endswith("%")
    assert outbox.backlog(Kind.HEALTH).pending == len(comps)


def test_system_info_carries_every_declared_metric_as_a_number(outbox, tmp_path):
    """system_info holds a number under each fleet_protocol Metric key, plus the old percent strings."""
    (tmp_path / "temp").write_text("61500\n")
    outbox.submit(make_event())
    info = monitor(outbox, tmp_path, FakeVision()).check(queue=False).system_info
    numbers = {metric: info[metric.value] for metric in Metric}
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers.values())
    assert numbers[Metric.TEMPERATURE_C] == 61.5 and numbers[Metric.OUTBOX_BACKLOG] == 1
    assert all(0 <= numbers[m] <= 100 for m in (Metric.CPU_PERCENT, Metric.MEMORY_PERCENT, Metric.DISK_PERCENT))
    assert numbers[Metric.UPTIME_S] > 0
    assert info["memory_usage"] == f"{numbers[Metric.MEMORY_PERCENT]:.0f}%" and info["cpu_usage"].endswith("%")


def test_metrics_reach_the_wire_through_the_outbox(outbox, tmp_path):
    """The queued health row's message carries the metrics as numbers (what the central server reads)."""
    (tmp_path / "temp").write_text("48250\n")
    monitor(outbox, tmp_path, FakeVision()).check()
    message = outbox.claim(1)[0].message
    assert message.system_info[Metric.TEMPERATURE_C.value] == 48.25
    assert isinstance(message.system_info[Metric.MEMORY_PERCENT.value], float)


def test_vision_absent_is_warn_and_hailo_required_is_fail(outbox, tmp_path):
    """No vision package: camera/detector WARN; DETECTOR=hailo without the device: FAIL."""
    comps = by_name(monitor(outbox, tmp_path, None, detector="hailo").check(queue=False))
    assert comps["camera"].status is Status.WARN and "not installed" in comps["detector"].message
    assert comps["hailo"].status is Status.FAIL
    (tmp_path / "hailo0").touch()
    assert by_name(monitor(outbox, tmp_path, None).check(queue=False))["hailo"].status is Status.PASS


def test_over_cap_and_lost_uplink_are_fail(outbox, tmp_path):
    """The outbox is FAIL while over its cap; a retrying uplink is FAIL with its last error."""
    watch = CapWatch()
    watch.last = CleanupReport(0, 0, StorageUse(5_000_000, 4_000_000), 1_000_000)
    comps = by_name(monitor(outbox, tmp_path, state=LinkState.RETRYING, watch=watch).check(queue=False))
    assert comps["outbox"].status is Status.FAIL and "never deleted" in comps["outbox"].message
    assert comps["uplink"].status is Status.FAIL and "refused" in comps["uplink"].message


def test_transitions_logged_once(outbox, tmp_path, caplog):
    """Repeating the same state logs nothing new; a change logs one line."""
    vision = FakeVision()
    mon = monitor(outbox, tmp_path, vision)
    with caplog.at_level(logging.INFO, logger="edge_agent.health"):
        mon.check(queue=False)
        first = [m for m in caplog.messages if "health camera" in m]
        mon.check(queue=False)
        vision.start_camera()
        mon.check(queue=False)
        mon.check(queue=False)
    camera = [m for m in caplog.messages if "health camera" in m]
    assert len(first) == 1 and len(camera) == 2 and "WARN -> PASS" in camera[1]
    assert Path(outbox.config.db_path).exists()
