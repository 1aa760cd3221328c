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

from fleet_protocol.settings import FleetSettings


class CommonSettings(FleetSettings):
    """Database, image store, broker and time zone (shared by ingest and dashboard).

    Built with :meth:`~fleet_protocol.settings.FleetSettings.load`: unknown names in an env file
    are errors, problems name the environment variable.
    """

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

    @property
    def tz(self) -> ZoneInfo:
        """The fleet's time zone as a tzinfo."""
        return ZoneInfo(self.fleet_timezone)
