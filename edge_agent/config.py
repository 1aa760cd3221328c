"""Typed, strict settings for the edge agent and its vision pipeline, read once in ``__main__``.

Names are the environment variables (case-insensitive); the first nine are
fixed by DESIGN.md and keep the old system's names, the ``EDGE_*`` extras are
documented in docs/edge.md, the vision names in docs/vision.md. An env file
(``--env-file``) may set any of them (and ``SSL_CERT_FILE``); any other name in
it is an error, so a typo never goes unnoticed, also under systemd, whose unit
passes the file with ``--env-file``. The mechanism is the fleet's one:
:mod:`fleet_protocol.settings`. Only this module reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from fleet_protocol import valid_checkpoint_id
from fleet_protocol.settings import FleetSettings, SettingsError, read_env_file, settings_help

from .errors import ConfigError, EdgeError
from .vision.config import ENV_NAMES as VISION_ENV_NAMES
from .vision.config import VisionSettings


class AgentSettings(FleetSettings):
    """Everything the agent needs to run; see docs/edge.md for each variable."""

    websocket_server_url: str = Field(
        "ws://127.0.0.1:8765", description="Central ingest URL, ws:// or wss://")
    checkpoint_id: str = Field(description="This checkpoint's id (1-64 of A-Z a-z 0-9 . _ -)")
    checkpoint_token: SecretStr | None = Field(
        None, description="Ingest token from `central_server checkpoints add`; unset = tokenless")
    db_path: Path = Field(Path("db/lpr_data.db"), description="SQLite outbox file")
    websocket_log_file: Path | None = Field(None, description="Also log to this file")
    camera_source: str = Field("picamera2", description="picamera2, usb:N, rtsp://..., a file or folder")
    detector: Literal["auto", "hailo", "cpu"] = Field("auto", description="Plate detector backend")
    edge_api_host: str = Field("127.0.0.1", description="Control API bind address")
    edge_api_port: int = Field(8000, ge=0, le=65535, description="Control API port (0 = any free)")

    edge_vision: bool = Field(
        True, description="Run camera + detection; 0 = only deliver rows other programs write")
    edge_api_token: SecretStr | None = Field(
        None, description="Bearer token for the control API; required when bound beyond localhost")
    edge_api_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="More names the control API answers to (comma-separated), besides localhost, "
                        "127.0.0.1, ::1, EDGE_API_HOST and EDGE_HOSTNAME; any other Host header gets 400")
    edge_image_dir: Path | None = Field(None, description="Scene/plate JPEGs (default: images/ beside DB)")
    edge_outside_image_dirs: Annotated[tuple[Path, ...], NoDecode] = Field(
        (), description="Folders outside programs' rows may name images in (comma-separated); besides "
                        "EDGE_IMAGE_DIR and the outbox's folder, no other file is read")
    edge_outside_image_max_mb: float = Field(20.0, gt=0, le=512, description="Largest image file an outside "
                                                                             "row may name")
    edge_image_max_width: int = Field(640, ge=16, le=8192, description="Resize scenes to at most this")
    edge_image_max_height: int = Field(480, ge=16, le=8192, description="Resize scenes to at most this")
    edge_image_quality: int = Field(75, ge=10, le=95, description="JPEG quality when re-encoding")
    edge_retention_days: float = Field(7.0, gt=0, description="Delivered rows/images older are pruned")
    edge_disk_cap_mb: float = Field(2048.0, gt=0, description="Outbox DB + images size cap")
    edge_cleanup_interval_s: float = Field(600.0, gt=0, description="How often cleanup runs")
    edge_health_interval_s: float = Field(60.0, gt=0, description="How often health is checked")
    edge_window: int = Field(64, ge=1, le=1024, description="Messages in flight without an answer")
    edge_ack_timeout_s: float = Field(30.0, gt=0, description="No answer this long = dead link")
    edge_retry_base_s: float = Field(2.0, gt=0, description="First back-off after a retryable refusal")
    edge_retry_max_s: float = Field(300.0, gt=0, description="Longest back-off after refusals")
    edge_reconnect_min_s: float = Field(3.1, gt=0, description="Shortest wait before reconnecting")
    edge_reconnect_max_s: float = Field(90.0, gt=0, description="Longest wait before reconnecting")
    edge_db_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite synchronous mode: FULL survives power loss")
    fleet_timezone: str = Field(
        "Asia/Bangkok", description="Zone of naive timestamps on the wire and in outside rows (as central)")
    edge_hostname: str = Field(default_factory=socket.gethostname, description="Hostname sent")
    edge_gate_output: Literal["off", "gpio", "http"] = Field(
        "off", description="gate control: off, gpio (a relay on EDGE_GATE_GPIO_PIN) or http (EDGE_GATE_HTTP_URL)")
    edge_gate_min_confidence: float = Field(
        90.0, ge=0, le=100, description="an allowed plate opens the gate only when read with at least this confidence")
    edge_gate_gpio_pin: int = Field(17, ge=0, le=53, description="BCM pin of the barrier relay")
    edge_gate_pulse_s: float = Field(1.0, gt=0, le=30, description="how long the relay is closed to open the barrier")
    edge_gate_active_low: bool = Field(False, description="1 for relay boards that switch on a low pin")
    edge_gate_http_url: str | None = Field(None, description="POST {checkpoint_id, plate, action} here to open")
    edge_gate_sync_s: float = Field(60.0, ge=5, description="how often the allow-list is fetched from the central")
    edge_latitude: float | None = Field(None, ge=-90, le=90, description="Checkpoint latitude")
    edge_longitude: float | None = Field(None, ge=-180, le=180, description="Checkpoint longitude")

    @field_validator("websocket_server_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("fleet_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Bangkok)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The fleet time zone as an object."""
        return ZoneInfo(self.fleet_timezone)

    @field_validator("edge_outside_image_dirs", mode="before")
    @classmethod
    def _folder_list(cls, value):
        if isinstance(value, str):
            return tuple(Path(item.strip()) for item in value.split(",") if item.strip())
        return value

    @field_validator("edge_api_allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value):
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("checkpoint_id")
    @classmethod
    def _checkpoint_id(cls, value: str) -> str:
        if not valid_checkpoint_id(value):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
        return value

    @model_validator(mode="after")
    def _gate_output_complete(self) -> AgentSettings:
        if self.edge_gate_output == "http" and not self.edge_gate_http_url:
            raise ValueError("EDGE_GATE_OUTPUT=http needs EDGE_GATE_HTTP_URL")
        return self

    @model_validator(mode="after")
    def _token_beyond_localhost(self) -> AgentSettings:
        if not is_loopback(self.edge_api_host) and not self.edge_api_token:
            raise ValueError(f"EDGE_API_HOST={self.edge_api_host} is beyond localhost: set "
                             "EDGE_API_TOKEN so the control API requires a token")
        return self

    @property
    def image_dir(self) -> Path:
        """Where scene and plate JPEGs live."""
        return self.edge_image_dir or self.db_path.parent / "images"

    @property
    def outside_image_dirs(self) -> tuple[Path, ...]:
        """Folders outside rows may name images in, besides the image folder: the outbox's and the listed ones."""
        return (self.db_path.parent, *self.edge_outside_image_dirs)

    @property
    def api_hosts(self) -> tuple[str, ...]:
        """Host names the control API answers to, besides the loopback names."""
        bound = () if self.edge_api_host in ("0.0.0.0", "::", "") else (self.edge_api_host,)
        return (*bound, self.edge_hostname, *self.edge_api_allowed_hosts)

    @property
    def api_requires_token(self) -> bool:
        """True when control API requests must carry the token."""
        return self.edge_api_token is not None


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1 (names other than 'localhost' are not resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class EdgeSettings:
    """The agent's and the vision pipeline's settings, built together once."""

    agent: AgentSettings
    vision: VisionSettings


def load_settings(env_file: Path | None = None, also_known: Iterable[str] = (),
                  environ: Mapping[str, str] | None = None, **overrides: object) -> AgentSettings:
    """The agent's settings from the environment over ``env_file``; raise :class:`ConfigError` if bad.

    Precedence: ``overrides`` > environment > env file. A name in the env file that is not an
    agent or vision setting (or in ``also_known``) is an error.
    """
    try:
        return AgentSettings.load(env_file, {*VISION_ENV_NAMES, *also_known}, environ, **overrides)
    except SettingsError as exc:
        raise ConfigError(_indented("invalid edge agent settings:", str(exc))) from None


def load_edge_settings(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> EdgeSettings:
    """Agent and vision settings from one environment and env file; raise :class:`ConfigError` if bad."""
    environ = os.environ if environ is None else environ
    agent = load_settings(env_file, environ=environ)
    names = {*AgentSettings.env_names(), *VISION_ENV_NAMES}
    values = {**read_env_file(env_file, names), **environ}
    vision_env = {**values, "CAMERA_SOURCE": agent.camera_source, "DETECTOR": agent.detector}
    try:
        return EdgeSettings(agent, VisionSettings.from_env(vision_env))
    except EdgeError as exc:
        raise ConfigError(_indented("invalid vision settings:", str(exc).removeprefix("bad vision settings: ")
                                    .replace("; ", "\n"))) from None


def help_settings() -> str:
    """Every variable the agent reads, with its default and description (``--help-settings``)."""
    fields = {field: name for name, field in VISION_ENV_NAMES.items() if name not in ("CAMERA_SOURCE", "DETECTOR")}
    return settings_help(("edge agent (docs/edge.md)", AgentSettings, None),
                         ("vision (docs/vision.md)", VisionSettings, fields))


def _indented(title: str, lines: str) -> str:
    return "\n  ".join([title, *lines.splitlines()])
