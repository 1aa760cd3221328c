"""Settings for the central processes, read once from the environment (and an optional env file).

``CommonSettings`` holds what the ingest and the dashboard share; each process
subclasses it. Nothing below ``__main__`` reads ``os.environ``: objects are
passed down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Database, image store, broker and time zone (shared by ingest and dashboard)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_file=None,
                                      case_sensitive=False)

    central_db_url: str = Field("sqlite:///var/central.db",
                                description="SQLAlchemy URL; postgresql+psycopg://... for scale")
    image_dir: Path = Field(Path("var/images"), description="where received images are stored")
    redis_url: str | None = Field(None, description="unset: single node; set: live events via Redis")
    fleet_timezone: str = Field("Asia/Bangkok",
                                description="zone for naive sender timestamps and for display")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_file: Path | None = Field(None, description="optional log file (rotated at 10 MB, 5 kept)")
    log_format: Literal["json", "text"] = Field("json", description="json lines, or text for a terminal")

    @field_validator("fleet_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Bangkok)") from None
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return value or None

    @classmethod
    def load(cls, env_file: Path | None = None):
        """Settings from the environment, after ``env_file`` if given (exits when it is missing)."""
        if env_file is None:
            return cls()
        if not env_file.is_file():
            raise SystemExit(f"error: env file {env_file} does not exist")
        return cls(_env_file=env_file)

    @property
    def tz(self) -> ZoneInfo:
        """The fleet's time zone as a tzinfo."""
        return ZoneInfo(self.fleet_timezone)


class IngestSettings(CommonSettings):
    """Settings of ``python -m central_server`` (the ingest and its jobs)."""

    ingest_host: str = Field("0.0.0.0", description="address the WebSocket ingest listens on")
    ingest_port: int = Field(8765, ge=0, le=65535, description="port of the ingest and /healthz")
    ingest_allow_anonymous: bool = Field(
        False, description="1 accepts tokenless old senders for any checkpoint id (insecure; migration only)")
    ingest_reuse_port: bool = Field(False, description="share the port between several ingest processes")
    ingest_image_check: Literal["structure", "decode"] = Field(
        "structure", description="structure: JPEG markers/EOI/size (µs); decode: also a 1/8-scale decode")
    ingest_max_message_bytes: int = Field(2 * 1024 * 1024, ge=64 * 1024,
                                          description="largest accepted message; larger gets message_too_large")
    ingest_max_inflight: int = Field(256, ge=1, description="unacknowledged messages per connection")
    ingest_error_budget: int = Field(100, ge=1,
                                     description="refused messages per connection per minute before it is closed")
    ingest_token_recheck_seconds: float = Field(
        15, gt=0, description="how often open connections are checked for revoked or rotated tokens")
    retention_days: int = Field(30, ge=1, description="age after which detections and health rows are deleted")
    offline_after_seconds: int = Field(120, ge=10,
                                       description="default silence before a checkpoint is marked offline")
