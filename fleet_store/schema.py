"""The central database schema (SQLAlchemy Core), shared by ingest, jobs and dashboard.

Table names ``lpr_detections`` and ``health_monitors`` are fixed (users query
them). Times are stored as naive UTC and read back as aware UTC through
:class:`UTCDateTime`. Changes to this module need an Alembic revision in
``fleet_store/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit id.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as naive UTC; returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


checkpoints = Table(
    "checkpoints",
    metadata,
    Column("checkpoint_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False, server_default=""),
    Column("token_hash", String(64), unique=True, nullable=True,
           comment="sha256 hex of the ingest token; NULL for anonymous legacy senders"),
    Column("token_hint", String(16), nullable=False, server_default="",
           comment="first characters of the token, to tell tokens apart in listings"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_seen_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False, server_default="never",
           comment="never | online | offline"),
    Column("connected", Boolean, nullable=False, server_default="0"),
    Column("hostname", String(255), nullable=False, server_default=""),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("heartbeat_seconds", Integer, nullable=True,
           comment="silence longer than this marks the checkpoint offline; NULL: OFFLINE_AFTER_SECONDS"),
    Column("site", String(64), nullable=False, server_default="", comment="the site the gate belongs to"),
    Column("anonymous_allowed", Boolean, nullable=False, server_default="0",
           comment="1: a tokenless sender may write as this id (INGEST_ALLOW_ANONYMOUS=1; revision 0004)"),
)

lpr_detections = Table(
    "lpr_detections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("checkpoint_id", String(64), nullable=False),
    Column("event_id", String(36), nullable=True),
    Column("license_plate", String(32), nullable=False),
    Column("province", String(64), nullable=False, server_default="",
           comment="Thai province name; empty when not read"),
    Column("province_confidence", Float, nullable=True),
    Column("plate_raw", String(64), nullable=False, server_default=""),
    Column("confidence", Float, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("hostname", String(255), nullable=False, server_default=""),
    Column("vehicle_type", String(64), nullable=False, server_default=""),
    Column("vehicle_color", String(64), nullable=False, server_default=""),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("image_path", String(512), nullable=True, comment="relative to IMAGE_DIR"),
    Column("image_sha256", String(64), nullable=True),
    Column("image_size", Integer, nullable=True),
    Column("plate_image_path", String(512), nullable=True, comment="plate crop, relative to IMAGE_DIR"),
    Column("plate_image_sha256", String(64), nullable=True),
    Column("plate_image_size", Integer, nullable=True),
    Column("exposure_time", Float, nullable=True),
    Column("analog_gain", Float, nullable=True),
    Column("lux", Float, nullable=True),
    Column("extra", JSON, nullable=True, comment="fields a sender added beyond v1"),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("checkpoint_id", "event_id", name="uq_lpr_detections_event"),
    Index("ix_lpr_detections_checkpoint_time", "checkpoint_id", "timestamp"),
    Index("ix_lpr_detections_timestamp", "timestamp"),
    Index("ix_lpr_detections_received_at", "received_at"),
    Index("ix_lpr_detections_plate", "license_plate"),
    Index("ix_lpr_detections_province", "province"),
)

health_monitors = Table(
    "health_monitors",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("checkpoint_id", String(64), nullable=False),
    Column("event_id", String(36), nullable=True),
    Column("hostname", String(255), nullable=False, server_default=""),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("component", String(64), nullable=False),
    Column("status", String(8), nullable=False, comment="PASS | WARN | FAIL"),
    Column("message", Text, nullable=False, server_default=""),
    Column("system_info", JSON, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("checkpoint_id", "event_id", name="uq_health_monitors_event"),
    Index("ix_health_monitors_checkpoint_time", "checkpoint_id", "timestamp"),
    Index("ix_health_monitors_received_at", "received_at"),
)

connection_events = Table(
    "connection_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("checkpoint_id", String(64), ForeignKey("checkpoints.checkpoint_id", ondelete="CASCADE"),
           nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(16), nullable=False,
           comment="connected | disconnected | online | offline | refused"),
    Column("remote", String(64), nullable=False, server_default=""),
    Column("detail", String(255), nullable=False, server_default=""),
    Column("status", String(16), nullable=True, comment="the checkpoint's status right after the event"),
    Column("connected", Boolean, nullable=True, comment="whether it had an open connection right after"),
    Index("ix_connection_events_checkpoint_at", "checkpoint_id", "at"),
)

# --------------------------------------------------------------------------- dashboard (revision 0002)
# The overview's "latest report per component" is a GROUP BY on this covering index.
Index("ix_health_monitors_latest", health_monitors.c.checkpoint_id, health_monitors.c.component,
      health_monitors.c.id)

# Dashboard users and the watchlist. Plate search indexes are dialect-specific
# and live only in the migration: SQLite gets an FTS5 trigram table
# ``lpr_detections_plate_fts`` kept in step by triggers; PostgreSQL a pg_trgm
# GIN index on ``lpr_detections.license_plate``.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False, comment="werkzeug scrypt hash"),
    Column("role", String(16), nullable=False, server_default="viewer", comment="admin | editor | viewer (0007)"),
    Column("locale", String(8), nullable=True, comment="th | en; NULL follows the browser"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("session_version", Integer, nullable=False, server_default="1",
           comment="bumped on logout, password change and 'users logout': older logins stop working (0004)"),
    Column("disabled", Boolean, nullable=False, server_default="0",
           comment="1: cannot log in; existing logins ended (0007)"),
    Column("sites", String(600), nullable=False, server_default="",
           comment="comma-separated sites a viewer or editor may see; empty: every site (0007)"),
)


def _plate_list(name: str, *unique: str) -> Table:
    """A plate list (``fleet_store.lists``): the watchlist and the allow-list share this shape."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("pattern", String(64), nullable=False,
               comment="plate, or a pattern with * and ?; compared without spaces/dashes, case-insensitively"),
        Column("province", String(64), nullable=False, server_default="", comment="empty: any province"),
        Column("note", String(255), nullable=False, server_default=""),
        Column("tags", String(300), nullable=False, server_default="", comment="comma-separated, lower case"),
        Column("expires_at", UTCDateTime, nullable=True, comment="NULL: never"),
        Column("tolerance", Integer, nullable=False, server_default="0",
               comment="1: also one character of difference (watchlist only)"),
        Column("site", String(64), nullable=False, server_default="", comment="allow-list: only this site"),
        Column("checkpoint_id", String(64), nullable=False, server_default="",
               comment="allow-list: only this checkpoint"),
        Column("created_by", String(64), nullable=False, server_default=""),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=True),
        UniqueConstraint(*unique, name=f"uq_{name}_entry" if len(unique) > 2 else f"uq_{name}_pattern_province"),
    )


watchlist = _plate_list("watchlist", "pattern", "province")
allowlist = _plate_list("allowlist", "pattern", "province", "site", "checkpoint_id")

# --------------------------------------------------------------------------- audit (revision 0005)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False, comment="user name, 'apikey:NAME' or 'cli'"),
    Column("action", String(64), nullable=False, comment="e.g. search, export, view, correct, list.add, login"),
    Column("subject", String(255), nullable=False, server_default="", comment="e.g. detection:123, user:bob"),
    Column("plate", String(32), nullable=True, comment="the registration the action was about, if any"),
    Column("remote", String(64), nullable=False, server_default="", comment="client address"),
    Column("detail", JSON, nullable=True),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_plate", "plate"),
    Index("ix_audit_log_actor_at", "actor", "at"),
    Index("ix_audit_log_action_id", "action", "id"),
)

# --------------------------------------------------------------------------- alerts (revision 0006)
# fleet_store.alerts owns both tables. The database keeps one open alert per rule and subject
# (a partial unique index), so concurrent ingest processes cannot open the same alert twice.

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", String(32), nullable=False,
           comment="watchlist | offline | silent | health_fail | clock_skew"),
    Column("subject", String(160), nullable=False,
           comment="what it is about: plate:ABC1234, checkpoint:ID, checkpoint:ID/component"),
    Column("checkpoint_id", String(64), nullable=True, comment="the checkpoint concerned (the latest, for hits)"),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False, comment="the latest occurrence while open"),
    Column("occurrences", Integer, nullable=False, server_default="1",
           comment="hits or checks that found the condition while the alert was open"),
    Column("acknowledged_by", String(64), nullable=True),
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True, comment="NULL: open"),
    Column("detail", JSON, nullable=True, comment="rule-specific facts (docs/alerts.md)"),
    Index("uq_alerts_open", "rule", "subject", unique=True,
          sqlite_where=text("closed_at IS NULL"), postgresql_where=text("closed_at IS NULL")),
    Index("ix_alerts_opened_at", "opened_at"),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False, comment="webhook | line | email | mqtt"),
    Column("event", String(16), nullable=False, comment="opened | closed"),
    Column("idempotency_key", String(96), nullable=False, unique=True,
           comment="alert-<id>-<event>-<channel>: sent with every attempt so receivers can drop repeats"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False,
           comment="due time; a claimed delivery is pushed ahead by the lease"),
    Column("last_error", String(500), nullable=False, server_default=""),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("failed_at", UTCDateTime, nullable=True, comment="set when the receiver refused it for good"),
    Index("ix_alert_deliveries_due", "delivered_at", "failed_at", "next_attempt_at"),
    Index("ix_alert_deliveries_alert", "alert_id"),
)

# --------------------------------------------------------------------------- API keys (revision 0006)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True, comment="who uses it, e.g. 'grafana', 'parking-system'"),
    Column("key_hash", String(64), nullable=False, unique=True, comment="sha256 hex of the key; the key is shown once"),
    Column("key_hint", String(16), nullable=False, server_default="", comment="first characters, to tell keys apart"),
    Column("role", String(16), nullable=False, server_default="viewer", comment="viewer | admin"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True, comment="updated at most once a minute"),
)
# --------------------------------------------------------------------------- operator's console (revision 0007)

detection_corrections = Table(
    "detection_corrections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("detection_id", BigId, ForeignKey("lpr_detections.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False, comment="the user who corrected the read"),
    Column("before_plate", String(32), nullable=False),
    Column("before_province", String(64), nullable=False, server_default=""),
    Column("after_plate", String(32), nullable=False),
    Column("after_province", String(64), nullable=False, server_default=""),
    Column("note", String(255), nullable=False, server_default=""),
    Index("ix_detection_corrections_detection", "detection_id", "id"),
    Index("ix_detection_corrections_before_plate", "before_plate"),
)
"""Misread corrections (``fleet_store.corrections``): ``lpr_detections`` holds the corrected read;
the first correction's ``before_*`` is what the checkpoint read."""

plate_holds = Table(
    "plate_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plate", String(32), nullable=False, comment="normalised (fleet_store.lists.normalise)"),
    Column("province", String(64), nullable=False, server_default="", comment="empty: every province"),
    Column("reason", String(255), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("plate", "province", name="uq_plate_holds_plate_province"),
)
"""Legal holds (``fleet_store.pdpa``): a registration under hold cannot be erased."""
