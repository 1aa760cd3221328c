"""Settings of ``python -m central_server`` (the ingest and its jobs), read once in ``__main__``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fleet_store.config import CommonSettings
from fleet_store.monitoring import parse_networks


class IngestSettings(CommonSettings):
    """Settings of ``python -m central_server`` (the ingest and its jobs)."""

    ingest_host: str = Field("0.0.0.0", description="address the WebSocket ingest listens on")
    ingest_port: int = Field(8765, ge=0, le=65535, description="port of the ingest and /healthz")
    ingest_allow_anonymous: bool = Field(
        False, description="1 accepts tokenless old senders for ids registered with 'checkpoints add ID "
                           "--anonymous' (never an id with a token; migration only)")
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
    ingest_token_recheck_grace: int = Field(
        3, ge=1, description="rounds a connection may go unchecked (database down) before it is closed")
    ingest_max_inflight_bytes: int = Field(
        4 * 1024 * 1024, ge=64 * 1024, description="bytes of unanswered messages per connection before reading "
                                                   "pauses (bounds memory when frames are large)")
    ingest_max_inflight_bytes_total: int = Field(
        64 * 1024 * 1024, ge=1024 * 1024, description="bytes of unanswered messages in all connections before "
                                                      "busy connections pause (each may still have one)")
    ingest_max_queue: int = Field(
        0, ge=0, le=64, description="complete frames queued per connection beyond the one being handled")
    ingest_max_connections: int = Field(4000, ge=1, description="open connections in all (more get HTTP 503)")
    ingest_max_connections_per_checkpoint: int = Field(
        2, ge=1, description="open connections per checkpoint id (more get HTTP 429; 2 lets a reconnect "
                             "overlap a dying connection)")
    ingest_metrics_allow: str = Field(
        "127.0.0.1/32,::1/128", description="client networks (comma-separated CIDR) that may read GET /metrics")
    retention_days: int = Field(30, ge=1, description="age after which detections and health rows are deleted")
    image_retention_days: int | None = Field(
        None, ge=1, description="age after which a detection's image files go (the row stays); "
                                "unset: RETENTION_DAYS")
    health_retention_days: int | None = Field(None, ge=1,
                                              description="age after which health rows go; unset: RETENTION_DAYS")
    connection_events_retention_days: int | None = Field(
        None, ge=1, description="age after which connection events go; unset: RETENTION_DAYS")
    offline_after_seconds: int = Field(120, ge=10,
                                       description="default silence before a checkpoint is marked offline")

    # alerts (docs/alerts.md): condition rules (0 turns a rule off) and delivery channels
    alert_offline_minutes: float = Field(10, ge=0, description="alert when a checkpoint is offline this long (0: off)")
    alert_silent_hours: float = Field(6, ge=0,
                                      description="alert when a checkpoint is online but has sent no detections "
                                                  "for this long (camera blocked or misaimed; 0: off)")
    alert_health_fail_minutes: float = Field(15, ge=0,
                                             description="alert when a component reports FAIL this long (0: off)")
    alert_clock_skew_seconds: float = Field(30, ge=0,
                                            description="alert when a checkpoint's clock is off by more (0: off)")
    alert_check_seconds: float = Field(60, gt=0, description="how often the condition rules are checked")
    alert_retry_base_seconds: float = Field(5, gt=0, description="first retry delay of a failed delivery (doubles)")
    alert_retry_max_seconds: float = Field(1800, gt=0, description="longest delay between delivery attempts")
    alert_webhook_url: str | None = Field(None, description="POST every alert as JSON here (unset: no webhook)")
    alert_webhook_secret: str | None = Field(None, description="HMAC-SHA256 key for X-Aicamera-Signature")
    alert_line_token: str | None = Field(None, description="LINE Messaging API channel access token (unset: no LINE)")
    alert_line_to: str | None = Field(None, description="LINE user, group or room id to push alerts to")
    alert_line_api_url: str = Field("https://api.line.me", description="LINE Messaging API base URL")
    alert_smtp_host: str | None = Field(None, description="SMTP server for alert e-mail (unset: no e-mail)")
    alert_smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port")
    alert_smtp_starttls: bool = Field(True, description="1: STARTTLS before sending (0 for a local relay)")
    alert_smtp_user: str | None = Field(None, description="SMTP login (unset: no login)")
    alert_smtp_password: str | None = Field(None, description="SMTP password")
    alert_email_from: str = Field("aicamera@localhost", description="From: address of alert e-mail")
    alert_email_to: str | None = Field(None, description="comma-separated recipients of alert e-mail")
    alert_mqtt_url: str | None = Field(None, description="mqtt://[user:password@]host[:port] (unset: no MQTT)")
    alert_mqtt_prefix: str = Field("aicamera", description="MQTT topic prefix (alerts on PREFIX/alert)")
    alert_mqtt_discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix")

    @model_validator(mode="after")
    def _channels_complete(self):
        pairs = ((self.alert_webhook_url, self.alert_webhook_secret, "ALERT_WEBHOOK_SECRET", "ALERT_WEBHOOK_URL"),
                 (self.alert_line_token, self.alert_line_to, "ALERT_LINE_TO", "ALERT_LINE_TOKEN"),
                 (self.alert_smtp_host, self.alert_email_to, "ALERT_EMAIL_TO", "ALERT_SMTP_HOST"))
        for first, second, missing, given in pairs:
            if first and not second:
                raise ValueError(f"{missing} is needed when {given} is set")
        return self

    @field_validator("ingest_metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("alert_webhook_url", "alert_webhook_secret", "alert_line_token", "alert_line_to",
                     "alert_smtp_host", "alert_smtp_user", "alert_smtp_password", "alert_email_to",
                     "alert_mqtt_url", mode="before")
    @classmethod
    def _alert_empty_is_none(cls, value):
        return value or None

    @property
    def alert_channels(self) -> tuple[str, ...]:
        """The delivery channels configured, in ``fleet_store.alerts.CHANNELS`` order."""
        on = {"webhook": self.alert_webhook_url, "line": self.alert_line_token, "email": self.alert_smtp_host,
              "mqtt": self.alert_mqtt_url}
        return tuple(name for name, value in on.items() if value)
