"""Settings of ``python -m central_server`` (the ingest and its jobs), read once in ``__main__``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleet_store.config import CommonSettings


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
