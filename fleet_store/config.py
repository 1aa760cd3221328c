"""Settings the central processes share, read once from the environment (and an optional env file).

``CommonSettings`` holds what the ingest (``central_server.config.IngestSettings``)
and the dashboard (``dashboard.config.DashboardSettings``) both need; each
process subclasses it. Nothing below ``__main__`` reads ``os.environ``: objects
are passed down.
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
