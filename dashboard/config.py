"""Settings of ``python -m dashboard``, read once in ``__main__`` and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from fleet_store.config import CommonSettings
from fleet_store.monitoring import parse_networks


class DashboardSettings(CommonSettings):
    """Dashboard settings (environment variables of the same name, upper case)."""

    dashboard_host: str = Field("127.0.0.1", description="address the dashboard listens on")
    dashboard_port: int = Field(8080, ge=0, le=65535, description="HTTP port of the dashboard")
    dashboard_admin_password: str | None = Field(
        None, description="if set and no user exists yet, creates user 'admin' with this password")
    dashboard_secret_key: str | None = Field(
        None, description="signs session cookies; unset: a random key kept in DASHBOARD_SECRET_FILE")
    dashboard_secret_file: Path = Field(Path("var/dashboard-secret.key"),
                                        description="where the generated session key is kept (mode 0600)")
    dashboard_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins allowed to open the Socket.IO connection (comma-separated); "
                    "empty: only the dashboard's own origin")
    dashboard_threads: int = Field(64, ge=4, le=1000,
                                   description="gunicorn threads (each open browser tab holds one)")
    dashboard_poll_interval: float = Field(0.05, gt=0, le=5,
                                           description="seconds between database polls for live events without Redis")
    dashboard_map_tiles_url: str | None = Field(
        None, description="optional map tiles, e.g. http://tiles.local/{z}/{x}/{y}.png (or a path on this "
                          "server); unset: the map is a grid that needs no network")
    dashboard_secure_cookies: bool = Field(
        False, description="1 when served over https (behind the TLS proxy): cookies are sent only over TLS")
    dashboard_session_hours: int = Field(12, ge=1, description="how long a login lasts")
    dashboard_session_recheck_seconds: float = Field(
        5, gt=0, le=300, description="how often open Socket.IO connections re-check their login "
                                     "(a removed user or ended session is disconnected)")
    dashboard_trusted_proxies: int = Field(
        0, ge=0, le=5, description="reverse proxies in front (1 behind nginx): client addresses come from "
                                   "X-Forwarded-For; 0 = exposed directly")
    dashboard_sockets_per_user: int = Field(8, ge=1, description="open Socket.IO connections per login")
    dashboard_sockets_per_ip: int = Field(16, ge=1, description="open Socket.IO connections per client address")
    dashboard_login_free_failures: int = Field(
        5, ge=1, description="wrong passwords per account (and 4x that per address) before logins are slowed")
    dashboard_login_window_seconds: int = Field(
        900, ge=60, description="failed logins are remembered this long; also the longest back-off")
    dashboard_header_timeout: float = Field(
        10, gt=0, le=120, description="seconds a client may take to send request headers (slowloris)")
    dashboard_pending_per_ip: int = Field(
        8, ge=1, description="connections per address still sending headers (exposed directly only)")
    dashboard_metrics_allow: str = Field(
        "127.0.0.1/32,::1/128", description="client networks (comma-separated CIDR) that may read GET /metrics")

    @field_validator("dashboard_metrics_allow")
    @classmethod
    def _metrics_networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def socket_capacity(self) -> int:
        """Socket.IO connections the process takes in all; the other threads stay free for pages."""
        return max(1, self.dashboard_threads - max(4, self.dashboard_threads // 4))

    @field_validator("dashboard_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value):
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("dashboard_map_tiles_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not all(part in value for part in ("{z}", "{x}", "{y}")) or \
                not value.startswith(("http://", "https://", "/")):
            raise ValueError("must be an http(s) URL or a path containing {z}, {x} and {y}")
        return value

    @property
    def tiles_origin(self) -> str | None:
        """The tile server's origin, to allow its images (None: this server or no tiles)."""
        if not self.dashboard_map_tiles_url or self.dashboard_map_tiles_url.startswith("/"):
            return None
        scheme, rest = self.dashboard_map_tiles_url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @field_validator("dashboard_admin_password", "dashboard_secret_key", "dashboard_map_tiles_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return value or None
