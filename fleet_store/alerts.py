"""Alerts: stored, deduplicated, acknowledged, closed, and queued for delivery (``alerts``, ``alert_deliveries``).

An alert is opened by a rule about a subject (see :class:`Rule`); while it is
open, further occurrences only count up (``occurrences``, ``last_at``): the
database holds one open alert per rule and subject (partial unique index
``uq_alerts_open``), so two ingest processes cannot both open it. Opening and
closing write the delivery rows for every configured channel in the same
transaction, so a notification is never lost between the two.

- Watchlist hits are opened as detections are stored (:class:`WatchMatcher`,
  inside the ingest's store transaction); acknowledging one also closes it, so
  the next sighting opens a new alert.
- Condition rules (offline, silent, health_fail, clock_skew) are opened and
  closed by the ingest's periodic check; acknowledging says someone is on it,
  and the alert closes when the condition clears.

Deliveries are an outbox (the SQL lifecycle of litequeue): :func:`claim_due`
moves a due row's ``next_attempt_at`` ahead by a lease and counts the attempt,
so a crashed sender's rows come back when the lease runs out; a repeat after
such a crash carries the same ``idempotency_key``. :class:`Alert.payload` is
the one author of what browsers, webhooks, LINE, e-mail and MQTT receive.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .lists import ListIndex, ListKind, list_entries, normalise
from .live import ALERT, LiveEvent
from .records import StoredDetection
from .schema import alert_deliveries, alerts, watchlist


class Rule(str, enum.Enum):
    """Why an alert exists."""

    WATCHLIST = "watchlist"      # a watchlist entry caught a stored detection
    OFFLINE = "offline"          # a checkpoint has been offline longer than ALERT_OFFLINE_MINUTES
    SILENT = "silent"            # online, but no detections for ALERT_SILENT_HOURS
    HEALTH_FAIL = "health_fail"  # a component has reported FAIL for longer than ALERT_HEALTH_FAIL_MINUTES
    CLOCK_SKEW = "clock_skew"    # the checkpoint's clock is off by more than ALERT_CLOCK_SKEW_SECONDS


class AlertState(str, enum.Enum):
    """Where an alert stands."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class DeliveryEvent(str, enum.Enum):
    """What a delivery announces."""

    OPENED = "opened"
    CLOSED = "closed"


CHANNELS = ("webhook", "line", "email", "mqtt")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class Alert:
    """One ``alerts`` row."""

    id: int
    rule: Rule
    subject: str
    checkpoint_id: str | None
    opened_at: datetime
    last_at: datetime
    occurrences: int = 1
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None
    detail: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Any) -> Alert:
        c = getattr(row, "_mapping", row)
        return cls(c["id"], Rule(c["rule"]), c["subject"], c["checkpoint_id"], c["opened_at"], c["last_at"],
                   c["occurrences"], c["acknowledged_by"], c["acknowledged_at"], c["closed_at"], c["detail"] or {})

    @property
    def state(self) -> AlertState:
        """Closed once closed (an acknowledged watchlist hit is closed); else acknowledged or open."""
        if self.closed_at is not None:
            return AlertState.CLOSED
        return AlertState.ACKNOWLEDGED if self.acknowledged_at else AlertState.OPEN

    def text(self) -> str:
        """One line for a person (LINE, e-mail subject, the dashboard)."""
        d = self.detail or {}
        where = f" at {self.checkpoint_id}" if self.checkpoint_id else ""
        if self.rule is Rule.WATCHLIST:
            plate = " ".join(p for p in (d.get("license_plate", ""), d.get("province", "")) if p)
            note = f" ({d['note']})" if d.get("note") else ""
            return f"Watchlist plate {plate}{where}{note}"
        if self.rule is Rule.OFFLINE:
            return f"Checkpoint {self.checkpoint_id} offline since {d.get('last_seen_at') or 'never seen'}"
        if self.rule is Rule.SILENT:
            return f"Checkpoint {self.checkpoint_id} online but no detections since {d.get('since')}"
        if self.rule is Rule.HEALTH_FAIL:
            return f"{d.get('component')} FAIL{where} since {d.get('since')}: {d.get('message', '')}".rstrip(": ")
        return f"Clock of checkpoint {self.checkpoint_id} off by {d.get('skew_seconds')} s"

    def payload(self, event: DeliveryEvent | None = None) -> dict[str, Any]:
        """The JSON every receiver gets (docs/alerts.md); ``event`` for pushed notifications."""
        body = {"id": self.id, "rule": self.rule.value, "subject": self.subject,
                "checkpoint_id": self.checkpoint_id, "state": self.state.value, "text": self.text(),
                "opened_at": _iso(self.opened_at), "last_at": _iso(self.last_at), "occurrences": self.occurrences,
                "acknowledged_by": self.acknowledged_by, "acknowledged_at": _iso(self.acknowledged_at),
                "closed_at": _iso(self.closed_at), "detail": dict(self.detail or {})}
        if event is not None:
            body["event"] = event.value
        return body

    def live_event(self) -> LiveEvent:
        """The ``alert`` event announcing this alert's current state to browsers."""
        return LiveEvent(ALERT, self.payload())


def _insert_ignoring_conflicts(conn: Connection, values: dict[str, Any]):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(alerts).values(**values).on_conflict_do_nothing().returning(alerts.c.id)


def raise_alert(conn: Connection, rule: Rule, subject: str, checkpoint_id: str | None,
                detail: dict[str, Any], now: datetime, channels: Sequence[str]) -> Alert | None:
    """Open an alert, or count another occurrence of the open one; return the alert only when new.

    Runs in the caller's transaction; a new alert's deliveries are queued in it too.
    """
    values = {"rule": rule.value, "subject": subject[:160], "checkpoint_id": checkpoint_id, "opened_at": now,
              "last_at": now, "occurrences": 1, "detail": detail}
    new_id = conn.execute(_insert_ignoring_conflicts(conn, values)).scalar()
    if new_id is None:
        conn.execute(update(alerts).where(alerts.c.rule == rule.value, alerts.c.subject == values["subject"],
                                          alerts.c.closed_at.is_(None))
                     .values(occurrences=alerts.c.occurrences + 1, last_at=now, checkpoint_id=checkpoint_id,
                             detail=detail))
        return None
    alert = Alert(new_id, rule, values["subject"], checkpoint_id, now, now, 1, detail=detail)
    queue_deliveries(conn, alert, DeliveryEvent.OPENED, channels, now)
    return alert


def close_alerts(conn: Connection, rule: Rule, subjects: Iterable[str], now: datetime,
                 channels: Sequence[str]) -> list[Alert]:
    """Close the open alerts of ``rule`` about these subjects (the condition cleared); return them."""
    subjects = list(subjects)
    closed: list[Alert] = []
    for start in range(0, len(subjects), 400):
        rows = conn.execute(update(alerts).where(alerts.c.rule == rule.value, alerts.c.closed_at.is_(None),
                                                 alerts.c.subject.in_(subjects[start:start + 400]))
                            .values(closed_at=now).returning(*alerts.c)).all()
        closed += [Alert.from_row(r) for r in rows]
    for alert in closed:
        queue_deliveries(conn, alert, DeliveryEvent.CLOSED, channels, now)
    return closed


def open_subjects(conn: Connection, rule: Rule) -> set[str]:
    """Subjects with an open alert of ``rule``."""
    return set(conn.execute(select(alerts.c.subject).where(alerts.c.rule == rule.value,
                                                           alerts.c.closed_at.is_(None))).scalars())


def acknowledge(engine: Engine, alert_id: int, who: str, now: datetime | None = None) -> Alert | None:
    """Mark an open, unacknowledged alert acknowledged by ``who`` (a watchlist hit also closes); None if not."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(select(alerts.c.rule).where(alerts.c.id == alert_id, alerts.c.closed_at.is_(None),
                                                       alerts.c.acknowledged_at.is_(None))).first()
        if row is None:
            return None
        values = {"acknowledged_by": who[:64], "acknowledged_at": now}
        if row.rule == Rule.WATCHLIST.value:
            values["closed_at"] = now
        done = conn.execute(update(alerts).where(alerts.c.id == alert_id, alerts.c.acknowledged_at.is_(None))
                            .values(**values).returning(*alerts.c)).first()
    return Alert.from_row(done) if done else None


def get_alert(engine: Engine, alert_id: int) -> Alert | None:
    """One alert, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    return Alert.from_row(row) if row else None


def list_alerts(engine: Engine, state: AlertState | None = None, limit: int = 200,
                before_id: int | None = None, rule: Rule | None = None,
                checkpoint_ids: frozenset[str] | None = None) -> list[Alert]:
    """Alerts newest first; only those in ``state`` (of ``rule``) when given; ``before_id`` pages on;
    ``checkpoint_ids`` (a site-limited user's gates) keeps only alerts about those checkpoints."""
    c = alerts.c
    query = select(alerts).order_by(c.id.desc()).limit(limit)
    if checkpoint_ids is not None:
        query = query.where(c.checkpoint_id.in_(sorted(checkpoint_ids)))
    if rule is not None:
        query = query.where(c.rule == rule.value)
    if state is AlertState.OPEN:
        query = query.where(c.closed_at.is_(None), c.acknowledged_at.is_(None))
    elif state is AlertState.ACKNOWLEDGED:
        query = query.where(c.closed_at.is_(None), c.acknowledged_at.is_not(None))
    elif state is AlertState.CLOSED:
        query = query.where(c.closed_at.is_not(None))
    if before_id is not None:
        query = query.where(c.id < before_id)
    with engine.connect() as conn:
        return [Alert.from_row(r) for r in conn.execute(query)]


def count_open(engine: Engine, checkpoint_ids: frozenset[str] | None = None) -> int:
    """Open alerts nobody has acknowledged (about ``checkpoint_ids`` only, when given)."""
    query = select(func.count()).select_from(alerts).where(
        alerts.c.closed_at.is_(None), alerts.c.acknowledged_at.is_(None))
    if checkpoint_ids is not None:
        query = query.where(alerts.c.checkpoint_id.in_(sorted(checkpoint_ids)))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


# --------------------------------------------------------------------------- watchlist matching


class WatchMatcher:
    """Matches stored detections against the watchlist, inside the store's transaction.

    The watchlist is kept as a :class:`~fleet_store.lists.ListIndex` and read
    again when it changed. Every batch looks up the newest entry id (one
    primary-key lookup), so a new entry counts from the next batch; edits and
    removals are found by the list's row count and newest edit, asked at most
    every ``refresh_seconds`` (that scans the list, about 2 ms at 10,000
    entries, too slow for every batch). Not thread-safe: one per writer thread.
    """

    def __init__(self, channels: Sequence[str] = (), refresh_seconds: float = 1.0):
        self.channels = tuple(channels)
        self.refresh_seconds = refresh_seconds
        self._signature: tuple | None = None
        self._checked = -float("inf")
        self._index = ListIndex(())

    def index(self, conn: Connection) -> ListIndex:
        """The current watchlist (re-read when it changed)."""
        clock = time.monotonic()
        newest = conn.execute(select(func.max(watchlist.c.id))).scalar()
        if clock - self._checked < self.refresh_seconds and self._signature and newest == self._signature[1]:
            return self._index
        signature = tuple(conn.execute(select(func.count(), func.max(watchlist.c.id),
                                              func.max(watchlist.c.updated_at))).one())
        self._checked = clock
        if signature != self._signature:
            self._index = ListIndex(list_entries(conn, ListKind.WATCH))
            self._signature = signature
        return self._index

    def match(self, conn: Connection, detections: Iterable[StoredDetection],
              now: datetime | None = None) -> dict[int, list[Alert]]:
        """Open (or count) the alerts these detections raise; return the new alerts by detection id."""
        now = now or datetime.now(UTC)
        index = self.index(conn)
        opened: dict[int, list[Alert]] = {}
        if not index.size:
            return opened
        for d in detections:
            for entry in index.matching(d.license_plate, d.province, now)[:1]:
                alert = raise_alert(conn, Rule.WATCHLIST, watch_subject(d.license_plate, d.province),
                                    d.checkpoint_id, _hit_detail(d, entry), now, self.channels)
                if alert is not None:
                    opened.setdefault(d.id, []).append(alert)
        return opened


def watch_subject(plate: str, province: str) -> str:
    """A hit's subject: the plate as read (normalised) and its province: one open alert per plate."""
    return f"plate:{normalise(plate)}" + (f"/{province}" if province else "")


def _hit_detail(d: StoredDetection, entry) -> dict[str, Any]:
    return {"detection_id": d.id, "license_plate": d.license_plate, "province": d.province,
            "confidence": d.confidence, "timestamp": _iso(d.timestamp), "entry_id": entry.id,
            "pattern": entry.pattern, "entry_province": entry.province, "note": entry.note,
            "has_image": d.has_image, "has_plate_image": d.has_plate_image}


# --------------------------------------------------------------------------- deliveries


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery and the alert it carries."""

    id: int
    channel: str
    event: DeliveryEvent
    idempotency_key: str
    attempts: int
    alert: Alert

    def payload(self) -> dict[str, Any]:
        return self.alert.payload(self.event) | {"idempotency_key": self.idempotency_key}


def idempotency_key(alert_id: int, event: DeliveryEvent, channel: str) -> str:
    return f"alert-{alert_id}-{event.value}-{channel}"


def queue_deliveries(conn: Connection, alert: Alert, event: DeliveryEvent, channels: Sequence[str],
                     now: datetime) -> None:
    """Queue ``alert``'s ``event`` for each channel (in the caller's transaction)."""
    if channels:
        conn.execute(insert(alert_deliveries), [
            {"alert_id": alert.id, "channel": ch, "event": event.value, "created_at": now, "next_attempt_at": now,
             "idempotency_key": idempotency_key(alert.id, event, ch)} for ch in channels])


def claim_due(engine: Engine, channels: Sequence[str], now: datetime | None = None, limit: int = 20,
              lease: float = 60.0) -> list[Delivery]:
    """Take up to ``limit`` due deliveries for these channels; each is leased for ``lease`` seconds.

    A claim moves ``next_attempt_at`` past the lease and counts the attempt; a
    row another process claimed first (its ``next_attempt_at`` moved) is skipped.
    """
    now = now or datetime.now(UTC)
    d = alert_deliveries.c
    claimed: list[Delivery] = []
    with engine.begin() as conn:
        due = conn.execute(select(alert_deliveries, *[c.label("a_" + c.name) for c in alerts.c])
                           .join(alerts, alerts.c.id == d.alert_id)
                           .where(d.delivered_at.is_(None), d.failed_at.is_(None), d.next_attempt_at <= now,
                                  d.channel.in_(list(channels)))
                           .order_by(d.next_attempt_at, d.id).limit(limit)).all()
        for row in due:
            done = conn.execute(update(alert_deliveries)
                                .where(d.id == row.id, d.next_attempt_at == row.next_attempt_at,
                                       d.delivered_at.is_(None))
                                .values(next_attempt_at=now + timedelta(seconds=lease), attempts=d.attempts + 1))
            if done.rowcount:
                alert = Alert.from_row({c.name: getattr(row, "a_" + c.name) for c in alerts.c})
                claimed.append(Delivery(row.id, row.channel, DeliveryEvent(row.event), row.idempotency_key,
                                        row.attempts + 1, alert))
    return claimed


def delivered(engine: Engine, delivery_ids: int | Sequence[int], now: datetime | None = None) -> None:
    """Record deliveries the receivers accepted (one transaction for all)."""
    ids = [delivery_ids] if isinstance(delivery_ids, int) else list(delivery_ids)
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(update(alert_deliveries).where(alert_deliveries.c.id.in_(ids))
                     .values(delivered_at=now or datetime.now(UTC), last_error=""))


def failed(engine: Engine, delivery: Delivery, error: str, permanent: bool, base: float, cap: float,
           now: datetime | None = None) -> datetime | None:
    """Record a failed attempt: retry after an exponential back-off with jitter, or give up if ``permanent``.

    Returns when the next attempt is due (None when given up).
    """
    now = now or datetime.now(UTC)
    values: dict[str, Any] = {"last_error": error[:500]}
    retry_at = None
    if permanent:
        values["failed_at"] = now
    else:
        delay = min(cap, base * 2 ** min(delivery.attempts - 1, 30)) * random.uniform(0.8, 1.2)
        retry_at = values["next_attempt_at"] = now + timedelta(seconds=delay)
    with engine.begin() as conn:
        conn.execute(update(alert_deliveries).where(alert_deliveries.c.id == delivery.id).values(**values))
    return retry_at


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """A delivery as ``alerts list`` and the tests see it."""

    alert_id: int
    channel: str
    event: str
    attempts: int
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str


def deliveries(engine: Engine, alert_id: int | None = None) -> list[DeliveryRow]:
    """Delivery rows by id (of one alert when given)."""
    d = alert_deliveries.c
    query = select(d.alert_id, d.channel, d.event, d.attempts, d.delivered_at, d.failed_at, d.last_error) \
        .order_by(d.id)
    if alert_id is not None:
        query = query.where(d.alert_id == alert_id)
    with engine.connect() as conn:
        return [DeliveryRow(*r) for r in conn.execute(query)]


def counts(engine: Engine) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Open alerts by rule, and deliveries by (channel, ``pending`` | ``failed``) for monitoring."""
    d = alert_deliveries.c
    with engine.connect() as conn:
        by_rule = dict(conn.execute(select(alerts.c.rule, func.count()).where(alerts.c.closed_at.is_(None))
                                    .group_by(alerts.c.rule)).all())
        pending = conn.execute(select(d.channel, func.count()).where(d.delivered_at.is_(None), d.failed_at.is_(None))
                               .group_by(d.channel)).all()
        failed_ = conn.execute(select(d.channel, func.count()).where(d.failed_at.is_not(None))
                               .group_by(d.channel)).all()
    queue = {(channel, "pending"): n for channel, n in pending} | {(channel, "failed"): n for channel, n in failed_}
    return by_rule, queue


def delete_closed_before(engine: Engine, cutoff: datetime) -> int:
    """Delete alerts closed before ``cutoff`` that have no notification still to send; return how many.

    Their delivery rows go with them (``ON DELETE CASCADE``; deleted explicitly
    too, for SQLite connections without foreign keys). Open alerts are kept however old.
    """
    d = alert_deliveries.c
    unsent = select(d.alert_id).where(d.delivered_at.is_(None), d.failed_at.is_(None))
    with engine.begin() as conn:
        ids = list(conn.execute(select(alerts.c.id).where(alerts.c.closed_at < cutoff,
                                                          alerts.c.id.not_in(unsent))).scalars())
        for start in range(0, len(ids), 400):
            chunk = ids[start:start + 400]
            conn.execute(alert_deliveries.delete().where(d.alert_id.in_(chunk)))
            conn.execute(alerts.delete().where(alerts.c.id.in_(chunk)))
    return len(ids)
