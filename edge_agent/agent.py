"""The agent process: wires the outbox, uplink, vision, health, jobs and control API.

:class:`Agent` is built from :class:`~edge_agent.config.AgentSettings` (read
once in ``__main__``) and runs until its stop event is set (SIGTERM/SIGINT
in ``__main__``). Shutdown drains: the control API and jobs stop, vision stops
submitting, the uplink waits briefly for answers and returns anything still in
flight to pending, and the outbox closes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from waitress.server import BaseWSGIServer, create_server

from .api import AgentParts, create_app
from .cleanup import CapWatch, CleanupPolicy
from .config import AgentSettings, EdgeSettings
from .events import PlateEvent, VisionService
from .gate import AllowListCache, AllowListSync, Gate, GpioRelay, HttpTrigger
from .health import VISION_DISABLED, HealthConfig, HealthMonitor
from .images import ImageLimits
from .jobs import start_scheduler
from .outbox import Identity, Outbox, OutboxConfig
from .uplink import Uplink, UplinkConfig
from .window import WindowConfig

log = logging.getLogger(__name__)


class NotifyingSink:
    """The :class:`~edge_agent.events.EventSink` vision gets: the gate decides, the outbox stores, the uplink wakes."""

    def __init__(self, outbox: Outbox, uplink: Uplink, gate: Gate | None = None):
        self.outbox = outbox
        self.uplink = uplink
        self.gate = gate

    def submit(self, event: PlateEvent) -> None:
        """Open the gate if the plate is allowed (the decision goes with the event), commit the event to the
        outbox (raises on failure), then nudge the uplink."""
        if self.gate is not None:
            event = replace(event, gate=self.gate.handle(event.license_plate, event.province, event.confidence))
        self.outbox.submit(event)
        self.uplink.wake()


def make_gate(s: AgentSettings) -> tuple[Gate | None, AllowListSync | None]:
    """The gate and its allow-list refresher, or (None, None) when EDGE_GATE_OUTPUT=off."""
    if s.edge_gate_output == "off":
        return None, None
    cache = AllowListCache(s.db_path.parent / "allowlist.json")
    output = (GpioRelay(s.edge_gate_gpio_pin, s.edge_gate_pulse_s, not s.edge_gate_active_low)
              if s.edge_gate_output == "gpio" else HttpTrigger(s.edge_gate_http_url, s.checkpoint_id))
    token = s.checkpoint_token.get_secret_value() if s.checkpoint_token else None
    sync = AllowListSync(s.websocket_server_url, token, cache, s.edge_gate_sync_s) if token else None
    if sync is None:
        log.warning("gate: no CHECKPOINT_TOKEN, so the allow-list is never refreshed (%d entries kept)",
                    len(cache.entries))
    return Gate(cache, output, s.edge_gate_min_confidence), sync


def outbox_config(s: AgentSettings) -> OutboxConfig:
    """The outbox part of the settings."""
    limits = ImageLimits(s.edge_image_max_width, s.edge_image_max_height, s.edge_image_quality)
    return OutboxConfig(s.db_path, s.image_dir, limits, s.edge_db_synchronous, local_tz=s.tz,
                        outside_image_dirs=s.outside_image_dirs,
                        max_outside_image_bytes=int(s.edge_outside_image_max_mb * 1024 * 1024))


def identity(s: AgentSettings) -> Identity:
    """Who this checkpoint is on the wire."""
    return Identity(s.checkpoint_id, s.edge_hostname, s.edge_latitude, s.edge_longitude)


def uplink_config(s: AgentSettings) -> UplinkConfig:
    """The uplink part of the settings."""
    window = WindowConfig(s.edge_window, s.edge_ack_timeout_s, s.edge_retry_base_s, s.edge_retry_max_s)
    token = s.checkpoint_token.get_secret_value() if s.checkpoint_token else None
    return UplinkConfig(s.websocket_server_url, token, window, reconnect_min=s.edge_reconnect_min_s,
                        reconnect_max=s.edge_reconnect_max_s)


VisionLoader = Callable[[AgentSettings, NotifyingSink], tuple[VisionService | None, str]]


def vision_loader(edge: EdgeSettings) -> VisionLoader:
    """How the agent gets its vision service: disabled (EDGE_VISION=0), or built from ``edge.vision``."""
    if not edge.agent.edge_vision:
        return lambda _settings, _sink: (None, VISION_DISABLED)
    return lambda _settings, sink: load_vision(edge, sink)


def load_vision(edge: EdgeSettings, sink: NotifyingSink) -> tuple[VisionService | None, str]:
    """Build the vision service; on failure (no camera driver, bad model) (None, why).

    A failure is reported rather than raised, so the agent still delivers what is already in
    the outbox; health shows camera and detector FAIL with the reason.
    """
    from .vision import build_vision  # numpy, OpenCV: loaded once the agent runs, not for --help

    try:
        return build_vision(edge.vision, sink), ""
    except Exception as exc:  # any driver/model failure: report it, keep delivering
        log.exception("vision service could not start")
        return None, f"vision service failed to start: {exc}"


@dataclass
class Running:
    """Handles the agent holds while running (for shutdown and tests)."""

    parts: AgentParts
    api_server: BaseWSGIServer
    api_thread: threading.Thread
    scheduler: Any


class Agent:
    """One edge agent; ``run`` until ``stop`` is set."""

    def __init__(self, settings: AgentSettings, vision_loader: VisionLoader):
        self.settings = settings
        self.vision_loader = vision_loader
        self.running: Running | None = None
        self.api_port: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, wait for ``stop``, then shut down in reverse order."""
        s = self.settings
        outbox = Outbox.open(outbox_config(s), identity(s))
        uplink = Uplink(outbox, uplink_config(s), s.tz)
        uplink.bind(asyncio.get_running_loop())
        await uplink.start_async()
        gate, sync = make_gate(s)
        if sync is not None:
            sync.start()
        vision, why = await asyncio.to_thread(self.vision_loader, s, NotifyingSink(outbox, uplink, gate))
        if vision is None:
            log.warning("camera and detection unavailable (%s); delivering the outbox only", why)
        else:
            await asyncio.to_thread(_start_vision, vision)
        try:
            self.running = self._start_services(outbox, uplink, vision, why)
            await stop.wait()
        finally:
            await self._shutdown(outbox, uplink, vision)
            if sync is not None:
                await asyncio.to_thread(sync.stop)
            if gate is not None:
                gate.close()

    def _start_services(self, outbox: Outbox, uplink: Uplink, vision: VisionService | None,
                        why: str) -> Running:
        s = self.settings
        watch = CapWatch()
        health = HealthMonitor(outbox, uplink.status, vision, watch, HealthConfig(detector=s.detector),
                               vision_error=why)
        parts = AgentParts(outbox, uplink, health, vision, why)
        policy = CleanupPolicy(s.edge_retention_days * 86400, int(s.edge_disk_cap_mb * 1e6))
        scheduler = start_scheduler(outbox, policy, watch, health, s.edge_cleanup_interval_s,
                                    s.edge_health_interval_s)
        token = s.edge_api_token.get_secret_value() if s.edge_api_token else None
        # waitress: a production WSGI server (werkzeug's is for development), bounded threads and buffers
        server = create_server(create_app(parts, token, s.api_hosts), host=s.edge_api_host, port=s.edge_api_port,
                               threads=4, channel_timeout=60)
        self.api_port = server.effective_port
        thread = threading.Thread(target=server.run, name="control-api", daemon=True)
        thread.start()
        log.info("control API on http://%s:%d/%s", s.edge_api_host, server.effective_port,
                 " (token required)" if token else "")
        return Running(parts, server, thread, scheduler)

    async def _shutdown(self, outbox: Outbox, uplink: Uplink, vision: VisionService | None) -> None:
        log.info("shutting down")
        if self.running is not None:
            _stop_api(self.running.api_server)
            self.running.scheduler.shutdown(wait=True)
        if vision is not None:
            await asyncio.to_thread(_close_vision, vision)
        await uplink.stop_async()
        outbox.close()
        log.info("stopped cleanly")


def _stop_api(server: BaseWSGIServer) -> None:
    """Close waitress from its own loop (closing from here races its select) and stop its threads."""
    server.trigger.pull_trigger(server.close)
    server.task_dispatcher.shutdown(timeout=5)


def _start_vision(vision: VisionService) -> None:
    try:
        vision.start_camera()
        vision.start_detection()
    except Exception:  # reported by health; the control API can retry
        log.exception("could not start camera/detection")


def _close_vision(vision: VisionService) -> None:
    try:
        vision.stop_detection()
        vision.close()
    except Exception:
        log.exception("vision did not close cleanly")
