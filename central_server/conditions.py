"""Condition rules: alerts about checkpoints that the ingest's periodic job opens and closes.

Each rule is a plain function that reads the database at ``now`` and returns a
:class:`Finding`: the subjects it could judge and, of those, the ones in
trouble (with the facts for the alert). :func:`check_conditions` opens (or
counts) an alert for each subject in trouble and closes the open alerts of
subjects judged fine, all in one transaction, so two ingest processes running
the job at once still leave one open alert per subject (the database's partial
unique index). A subject the rule could not judge (no recent data) keeps its
alert as it is. Limits come from ``ALERT_*`` settings (docs/alerts.md); 0 turns
a rule off.

    offline      status offline and last seen more than ALERT_OFFLINE_MINUTES ago
    silent       online, and neither a detection nor a (re)connection for ALERT_SILENT_HOURS
    health_fail  a component's reports have been FAIL for more than ALERT_HEALTH_FAIL_MINUTES
    clock_skew   the checkpoint's clock differs from the server's by more than ALERT_CLOCK_SKEW_SECONDS
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select

from fleet_store.alerts import Alert, Rule, close_alerts, open_subjects, raise_alert
from fleet_store.records import CheckpointStatus
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections

from .config import IngestSettings

log = logging.getLogger(__name__)
SKEW_WINDOW = timedelta(minutes=10)  # only reports received this recently say what the clock is now


@dataclass(frozen=True, slots=True)
class Limits:
    """When each rule fires (0: never)."""

    offline_minutes: float = 10
    silent_hours: float = 6
    health_fail_minutes: float = 15
    clock_skew_seconds: float = 30

    @classmethod
    def from_settings(cls, s: IngestSettings) -> Limits:
        return cls(s.alert_offline_minutes, s.alert_silent_hours, s.alert_health_fail_minutes,
                   s.alert_clock_skew_seconds)


@dataclass(slots=True)
class Finding:
    """What one rule found: subjects judged, and the troubled ones with (checkpoint, detail)."""

    judged: set[str] = field(default_factory=set)
    trouble: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Alerts one check opened and closed."""

    opened: list[Alert]
    closed: list[Alert]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _active_checkpoints():
    return select(checkpoints.c.checkpoint_id, checkpoints.c.status, checkpoints.c.last_seen_at,
                  checkpoints.c.created_at).where(checkpoints.c.revoked_at.is_(None))


def find_offline(conn: Connection, now: datetime, minutes: float) -> Finding:
    """Checkpoints offline for longer than ``minutes`` (since they were last seen)."""
    found = Finding()
    limit = now - timedelta(minutes=minutes)
    for cp in conn.execute(_active_checkpoints()):
        subject = f"checkpoint:{cp.checkpoint_id}"
        found.judged.add(subject)
        if cp.status == CheckpointStatus.OFFLINE.value and (cp.last_seen_at or cp.created_at) <= limit:
            found.trouble[subject] = (cp.checkpoint_id, {"last_seen_at": _iso(cp.last_seen_at),
                                                         "minutes": minutes})
    return found


def find_silent(conn: Connection, now: datetime, hours: float) -> Finding:
    """Online checkpoints with neither a detection nor a (re)connection for ``hours``."""
    found = Finding()
    limit = now - timedelta(hours=hours)
    d, e = lpr_detections.c, connection_events.c
    last_read = select(func.max(d.timestamp)).where(d.checkpoint_id == checkpoints.c.checkpoint_id) \
        .scalar_subquery()
    last_online = select(func.max(e.at)).where(e.checkpoint_id == checkpoints.c.checkpoint_id,
                                               e.event == "online").scalar_subquery()
    query = select(checkpoints.c.checkpoint_id, checkpoints.c.created_at, last_read.label("last_read"),
                   last_online.label("last_online")).where(
        checkpoints.c.revoked_at.is_(None), checkpoints.c.status == CheckpointStatus.ONLINE.value)
    for cp in conn.execute(query):
        subject = f"checkpoint:{cp.checkpoint_id}"
        found.judged.add(subject)
        since = max(t for t in (cp.last_read, cp.last_online, cp.created_at) if t is not None)
        if since <= limit:
            found.trouble[subject] = (cp.checkpoint_id, {"since": _iso(since), "last_detection": _iso(cp.last_read),
                                                         "hours": hours})
    return found


def _latest_health(conn: Connection) -> list:
    """The newest report of every (checkpoint, component) (one GROUP BY on a covering index)."""
    h = health_monitors.c
    newest = select(func.max(h.id)).group_by(h.checkpoint_id, h.component).scalar_subquery()
    return conn.execute(select(h.id, h.checkpoint_id, h.component, h.status, h.message, h.timestamp,
                               h.received_at).where(h.id.in_(newest))).all()


def find_health_fail(conn: Connection, now: datetime, minutes: float, latest: list | None = None) -> Finding:
    """Components whose reports have been FAIL, without a better one between, for longer than ``minutes``."""
    found = Finding()
    h = health_monitors.c
    limit = now - timedelta(minutes=minutes)
    for row in latest if latest is not None else _latest_health(conn):
        subject = f"checkpoint:{row.checkpoint_id}/{row.component}"
        found.judged.add(subject)
        if row.status != "FAIL":
            continue
        same = and_(h.checkpoint_id == row.checkpoint_id, h.component == row.component)
        last_ok = conn.execute(select(h.id).where(same, h.status != "FAIL").order_by(h.id.desc()).limit(1)).scalar()
        since = conn.execute(select(h.received_at).where(same, h.id > (last_ok or 0)).order_by(h.id).limit(1)) \
            .scalar()
        if since is not None and since <= limit:
            found.trouble[subject] = (row.checkpoint_id, {"component": row.component, "since": _iso(since),
                                                          "message": row.message[:200], "minutes": minutes})
    return found


def find_clock_skew(conn: Connection, now: datetime, seconds: float, latest: list | None = None) -> Finding:
    """Checkpoints whose clock is off by more than ``seconds``.

    The estimate is the largest ``timestamp - received_at`` among each
    checkpoint's newest reports received in the last ten minutes: transit and
    a replayed backlog only make that difference smaller, so the least-delayed
    report is the best measure of the clock itself.
    """
    found = Finding()
    estimates: dict[str, float] = {}
    for row in latest if latest is not None else _latest_health(conn):
        if row.received_at >= now - SKEW_WINDOW:
            offset = (row.timestamp - row.received_at).total_seconds()
            estimates[row.checkpoint_id] = max(offset, estimates.get(row.checkpoint_id, offset))
    for checkpoint_id, offset in estimates.items():
        subject = f"checkpoint:{checkpoint_id}"
        found.judged.add(subject)
        if abs(offset) > seconds:
            found.trouble[subject] = (checkpoint_id, {"skew_seconds": round(offset), "limit_seconds": seconds})
    return found


def check_conditions(engine: Engine, limits: Limits, channels: Sequence[str] = (),
                     now: datetime | None = None) -> CheckResult:
    """Run every rule that is on; open, count and close their alerts in one transaction."""
    now = now or datetime.now(UTC)
    opened: list[Alert] = []
    closed: list[Alert] = []
    with engine.begin() as conn:
        latest = _latest_health(conn) if limits.health_fail_minutes or limits.clock_skew_seconds else []
        rules: list[tuple[Rule, float, Callable[[], Finding]]] = [
            (Rule.OFFLINE, limits.offline_minutes, lambda: find_offline(conn, now, limits.offline_minutes)),
            (Rule.SILENT, limits.silent_hours, lambda: find_silent(conn, now, limits.silent_hours)),
            (Rule.HEALTH_FAIL, limits.health_fail_minutes,
             lambda: find_health_fail(conn, now, limits.health_fail_minutes, latest)),
            (Rule.CLOCK_SKEW, limits.clock_skew_seconds,
             lambda: find_clock_skew(conn, now, limits.clock_skew_seconds, latest))]
        for rule, limit, find in rules:
            if not limit:
                continue
            finding = find()
            for subject, (checkpoint_id, detail) in sorted(finding.trouble.items()):
                alert = raise_alert(conn, rule, subject, checkpoint_id, detail, now, channels)
                if alert is not None:
                    opened.append(alert)
            cleared = (open_subjects(conn, rule) & finding.judged) - finding.trouble.keys()
            closed += close_alerts(conn, rule, sorted(cleared), now, channels)
    for alert in opened:
        log.warning("alerts: opened %s %s", alert.rule.value, alert.subject)
    for alert in closed:
        log.info("alerts: closed %s %s", alert.rule.value, alert.subject)
    return CheckResult(opened, closed)
