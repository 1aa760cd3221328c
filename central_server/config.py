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
    retention_days: int = Field(30, ge=1, description="age after which detections and health rows are deleted")
    offline_after_seconds: int = Field(120, ge=10,
                                       description="default silence before a checkpoint is marked offline")
