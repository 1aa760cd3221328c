"""The alert condition rules, run as the ingest's job runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update

from central_server import jobs
from central_server.conditions import Limits, check_conditions
from fleet_store import alerts, db
from fleet_store.alerts import AlertState
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LIMITS = Limits(offline_minutes=10, silent_hours=6, health_fail_minutes=15, clock_skew_seconds=30)


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def checkpoint(engine, cp: str, status: str, last_seen: datetime | None, created: datetime = NOW - timedelta(days=9)):
    with engine.begin() as conn:
        conn.execute(insert(checkpoints).values(checkpoint_id=cp, status=status, last_seen_at=last_seen,
                                                created_at=created, connected=status == "online"))


def health(engine, cp: str, status: str, received: datetime, component: str = "camera", skew: float = 0):
    with engine.begin() as conn:
        conn.execute(insert(health_monitors).values(
            checkpoint_id=cp, event_id=str(uuid.uuid4()), component=component, status=status, message="no frames",
            timestamp=received + timedelta(seconds=skew), received_at=received))


def detection(engine, cp: str, when: datetime):
    with engine.begin() as conn:
        conn.execute(insert(lpr_detections).values(checkpoint_id=cp, license_plate="AB1", confidence=90,
                                                   timestamp=when, received_at=when))


def subjects(result) -> list[tuple[str, str]]:
    return sorted((a.rule.value, a.subject) for a in result)


def test_offline_longer_than_the_limit(engine):
    """Offline for 11 minutes opens an alert, 5 minutes does not; back online closes it."""
    checkpoint(engine, "a", "offline", NOW - timedelta(minutes=11))
    checkpoint(engine, "b", "offline", NOW - timedelta(minutes=5))
    checkpoint(engine, "c", "never", None)
    result = check_conditions(engine, Limits(10, 0, 0, 0), ("webhook",), NOW)
    assert subjects(result.opened) == [("offline", "checkpoint:a")]
    assert check_conditions(engine, Limits(10, 0, 0, 0), ("webhook",), NOW).opened == []  # counted, not reopened
    assert alerts.list_alerts(engine)[0].occurrences == 2
    with engine.begin() as conn:
        conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == "a").values(status="online"))
    result = check_conditions(engine, Limits(10, 0, 0, 0), ("webhook",), NOW + timedelta(minutes=1))
    assert subjects(result.closed) == [("offline", "checkpoint:a")]
    assert [(d.event, d.channel) for d in alerts.deliveries(engine)] == [("opened", "webhook"), ("closed", "webhook")]


def test_online_but_silent(engine):
    """Online with no detection for 7 h opens 'silent'; a recent reconnection or detection does not."""
    checkpoint(engine, "quiet", "online", NOW)
    detection(engine, "quiet", NOW - timedelta(hours=7))
    checkpoint(engine, "busy", "online", NOW)
    detection(engine, "busy", NOW - timedelta(minutes=3))
    checkpoint(engine, "back", "online", NOW)
    with engine.begin() as conn:
        conn.execute(insert(connection_events).values(checkpoint_id="back", at=NOW - timedelta(hours=1),
                                                      event="online"))
    checkpoint(engine, "new", "online", NOW, created=NOW - timedelta(hours=1))
    result = check_conditions(engine, Limits(0, 6, 0, 0), (), NOW)
    assert subjects(result.opened) == [("silent", "checkpoint:quiet")]
    assert result.opened[0].detail["last_detection"] == (NOW - timedelta(hours=7)).isoformat(timespec="seconds")
    detection(engine, "quiet", NOW)
    assert subjects(check_conditions(engine, Limits(0, 6, 0, 0), (), NOW).closed) == [("silent", "checkpoint:quiet")]


def test_health_fail_for_longer_than_the_limit(engine):
    """FAIL since 20 minutes (after a PASS) opens health_fail; a FAIL of 5 minutes does not; a PASS closes it."""
    checkpoint(engine, "a", "online", NOW)
    health(engine, "a", "PASS", NOW - timedelta(minutes=40))
    for minutes in (20, 10, 1):
        health(engine, "a", "FAIL", NOW - timedelta(minutes=minutes))
    health(engine, "a", "PASS", NOW - timedelta(minutes=30), component="disk")
    health(engine, "a", "FAIL", NOW - timedelta(minutes=5), component="disk")
    result = check_conditions(engine, Limits(0, 0, 15, 0), (), NOW)
    assert subjects(result.opened) == [("health_fail", "checkpoint:a/camera")]
    assert result.opened[0].detail["since"] == (NOW - timedelta(minutes=20)).isoformat(timespec="seconds")
    assert result.opened[0].text().startswith("camera FAIL at a since")
    alerts.acknowledge(engine, result.opened[0].id, "guard")
    assert alerts.list_alerts(engine, AlertState.ACKNOWLEDGED)[0].subject == "checkpoint:a/camera"
    health(engine, "a", "PASS", NOW)
    result = check_conditions(engine, Limits(0, 0, 15, 0), (), NOW + timedelta(seconds=1))
    assert subjects(result.closed) == [("health_fail", "checkpoint:a/camera")]
    assert result.closed[0].acknowledged_by == "guard"


def test_clock_skew_uses_the_least_delayed_recent_report(engine):
    """A clock 95 s behind opens clock_skew; a backlog of old reports does not look like skew."""
    checkpoint(engine, "slow", "online", NOW)
    health(engine, "slow", "PASS", NOW - timedelta(minutes=1), skew=-95)
    checkpoint(engine, "replaying", "online", NOW)
    health(engine, "replaying", "PASS", NOW - timedelta(minutes=1), skew=-3600, component="disk")  # a backlog
    health(engine, "replaying", "PASS", NOW - timedelta(minutes=1), skew=-1)
    checkpoint(engine, "gone", "offline", NOW - timedelta(hours=1))
    health(engine, "gone", "PASS", NOW - timedelta(hours=1), skew=500)  # too old to say anything now
    result = check_conditions(engine, Limits(0, 0, 0, 30), (), NOW)
    assert subjects(result.opened) == [("clock_skew", "checkpoint:slow")]
    assert result.opened[0].detail["skew_seconds"] == -95


def test_the_job_announces_and_wakes(engine):
    """The scheduled wrapper announces opened alerts as live events and wakes the dispatcher once."""
    checkpoint(engine, "a", "offline", datetime.now(UTC) - timedelta(hours=1))
    events, wakes = [], []
    jobs.conditions_job(engine, LIMITS, (), events.append, lambda: wakes.append(1))
    assert [(e.name, e.payload["subject"]) for e in events] == [("alert", "checkpoint:a")]
    assert wakes == [1]
