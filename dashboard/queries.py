"""Read-only queries behind the fleet overview, health view, statistics and detail pages.

Every function takes an engine and returns frozen dataclasses (times aware UTC;
pages convert to the fleet's zone). Each page costs a handful of indexed
queries whatever the fleet size (no query per checkpoint).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from fleet_protocol import Metric
from fleet_store.metrics import METRIC_NAMES, metric, metrics_of
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections

STATUS_RANK = {"PASS": 0, "WARN": 1, "FAIL": 2}


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """The latest report of one component."""

    component: str
    status: str
    message: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class CheckpointSummary:
    """One row of the fleet overview."""

    checkpoint_id: str
    name: str
    status: str
    connected: bool
    last_seen_at: datetime | None
    latitude: float | None
    longitude: float | None
    detections_last_hour: int
    worst: str | None
    backlog: float | None
    components: tuple[ComponentStatus, ...] = field(default_factory=tuple)
    site: str = ""
    backlog_before: float | None = None
    hostname: str = ""

    @property
    def component_states(self) -> dict[str, str]:
        """Latest status per component (the overview's live updates start from these)."""
        return {c.component: c.status for c in self.components}


def _latest_components(conn, since: datetime, checkpoint_id: str | None = None) -> dict[str, list]:
    """Latest health row per (checkpoint, component) received since ``since``."""
    # The GROUP BY runs on the covering index ix_health_monitors_latest (checkpoint, component, id),
    # never on the table; the age filter applies only to the few rows it picks.
    latest = (select(func.max(health_monitors.c.id).label("id"))
              .group_by(health_monitors.c.checkpoint_id, health_monitors.c.component))
    if checkpoint_id is not None:
        latest = latest.where(health_monitors.c.checkpoint_id == checkpoint_id)
    rows = conn.execute(select(health_monitors).where(health_monitors.c.id.in_(latest.scalar_subquery()),
                                                      health_monitors.c.received_at >= since)
                        .order_by(health_monitors.c.component)).all()
    by_checkpoint: dict[str, list] = defaultdict(list)
    for row in rows:
        by_checkpoint[row.checkpoint_id].append(row)
    return by_checkpoint


def _worst(rows) -> str | None:
    statuses = [r.status for r in rows if r.status in STATUS_RANK]
    return max(statuses, key=STATUS_RANK.__getitem__) if statuses else None


def _backlog(rows) -> float | None:
    for row in sorted(rows, key=lambda r: r.id, reverse=True):  # newest report that carries one
        value = metric(row.system_info, Metric.OUTBOX_BACKLOG)
        if value is not None:
            return value
    return None


def fleet_overview(engine: Engine, now: datetime | None = None) -> list[CheckpointSummary]:
    """Every checkpoint with its state, detections in the last hour and worst component status."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        cps = conn.execute(select(checkpoints).order_by(checkpoints.c.checkpoint_id)).all()
        counts = dict(conn.execute(
            select(lpr_detections.c.checkpoint_id, func.count())
            .where(lpr_detections.c.timestamp >= now - timedelta(hours=1))
            .group_by(lpr_detections.c.checkpoint_id)).all())
        health = _latest_components(conn, now - timedelta(days=1))
        before = _earlier_backlog(conn, now)
    return [_summary(cp, counts.get(cp.checkpoint_id, 0), health.get(cp.checkpoint_id, []),
                     before.get(cp.checkpoint_id)) for cp in cps]


def _earlier_backlog(conn, now: datetime) -> dict[str, float]:
    """Each checkpoint's outbox backlog as last reported 10-40 minutes ago (to tell a growing backlog)."""
    h = health_monitors.c
    ids = (select(func.max(h.id)).where(h.received_at >= now - timedelta(minutes=40),
                                        h.received_at < now - timedelta(minutes=10))
           .group_by(h.checkpoint_id).scalar_subquery())
    rows = conn.execute(select(h.checkpoint_id, h.system_info).where(h.id.in_(ids))).all()
    found = {r.checkpoint_id: metric(r.system_info, Metric.OUTBOX_BACKLOG) for r in rows}
    return {cp: value for cp, value in found.items() if value is not None}


def _summary(cp, count: int, rows: list, backlog_before: float | None = None) -> CheckpointSummary:
    components = tuple(ComponentStatus(r.component, r.status, r.message, r.timestamp) for r in rows)
    return CheckpointSummary(cp.checkpoint_id, cp.name, cp.status, bool(cp.connected), cp.last_seen_at,
                             cp.latitude, cp.longitude, count, _worst(rows), _backlog(rows), components,
                             cp.site, backlog_before, cp.hostname)


def checkpoint_summary(engine: Engine, checkpoint_id: str, now: datetime | None = None) -> CheckpointSummary | None:
    """One checkpoint's overview row, or None if it does not exist."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        cp = conn.execute(select(checkpoints).where(checkpoints.c.checkpoint_id == checkpoint_id)).first()
        if cp is None:
            return None
        count = conn.execute(select(func.count()).select_from(lpr_detections).where(
            lpr_detections.c.checkpoint_id == checkpoint_id,
            lpr_detections.c.timestamp >= now - timedelta(hours=1))).scalar_one()
        rows = _latest_components(conn, now - timedelta(days=1), checkpoint_id).get(checkpoint_id, [])
    return _summary(cp, count, rows)


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """One line of a checkpoint's connection history."""

    at: datetime
    event: str
    remote: str
    detail: str


@dataclass(frozen=True, slots=True)
class HealthSeries:
    """Metric time series for charts: parallel lists, ``t`` in Unix seconds."""

    t: list[float]
    values: dict[str, list[float | None]]


def health_series(engine: Engine, checkpoint_id: str, since: datetime, max_points: int = 1500) -> HealthSeries:
    """Every health metric reported since ``since``, keyed by Metric value (thinned to ``max_points``)."""
    with engine.connect() as conn:
        rows = conn.execute(select(health_monitors.c.timestamp, health_monitors.c.system_info)
                            .where(health_monitors.c.checkpoint_id == checkpoint_id,
                                   health_monitors.c.timestamp >= since)
                            .order_by(health_monitors.c.timestamp)).all()
    points: dict[float, dict] = defaultdict(dict)
    for row in rows:  # one health round reports every component at one time: merge them into one point
        points[round(row.timestamp.timestamp())].update(metrics_of(row.system_info))
    times = [t for t in sorted(points) if points[t]]
    step = max(1, len(times) // max_points)
    times = times[::step]
    return HealthSeries(times, {name: [points[t].get(name) for t in times] for name in METRIC_NAMES})


def connection_history(engine: Engine, checkpoint_id: str, limit: int = 50) -> list[ConnectionEvent]:
    """The newest connection events of a checkpoint, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(connection_events).where(connection_events.c.checkpoint_id == checkpoint_id)
                            .order_by(connection_events.c.id.desc()).limit(limit)).all()
    return [ConnectionEvent(r.at, r.event, r.remote, r.detail) for r in rows]


def recent_detections(engine: Engine, limit: int = 50, checkpoint_id: str | None = None,
                      checkpoint_ids: frozenset[str] | None = None) -> list:
    """The newest detections (rows), newest first; only of ``checkpoint_ids`` when given (a user's sites)."""
    query = select(lpr_detections).order_by(lpr_detections.c.id.desc()).limit(limit)
    if checkpoint_id is not None:
        query = query.where(lpr_detections.c.checkpoint_id == checkpoint_id)
    if checkpoint_ids is not None:
        query = query.where(lpr_detections.c.checkpoint_id.in_(sorted(checkpoint_ids)))
    with engine.connect() as conn:
        return conn.execute(query).all()


def detection(engine: Engine, detection_id: int):
    """One detection row, or None."""
    with engine.connect() as conn:
        return conn.execute(select(lpr_detections).where(lpr_detections.c.id == detection_id)).first()



@dataclass(frozen=True, slots=True)
class Counts:
    """Detections per checkpoint per bucket; ``buckets`` are aware datetimes in the display zone."""

    buckets: list[datetime]
    series: dict[str, list[int]]

    @property
    def totals(self) -> dict[str, int]:
        return {cp: sum(values) for cp, values in self.series.items()}


def _hour_expr(dialect: str):
    column = lpr_detections.c.timestamp
    if dialect == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def detection_counts(engine: Engine, start: datetime, end: datetime, by: str, tz,
                     checkpoint_ids: frozenset[str] | None = None) -> Counts:
    """Detections per checkpoint per hour (``by="hour"``) or per local day (``"day"``) in [start, end);
    only of ``checkpoint_ids`` when given."""
    hour = _hour_expr(engine.dialect.name).label("hour")
    query = (select(lpr_detections.c.checkpoint_id, hour, func.count().label("n"))
             .where(lpr_detections.c.timestamp >= start, lpr_detections.c.timestamp < end)
             .group_by(lpr_detections.c.checkpoint_id, hour))
    if checkpoint_ids is not None:
        query = query.where(lpr_detections.c.checkpoint_id.in_(sorted(checkpoint_ids)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    grouped: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        grouped[row.checkpoint_id][_bucket(_as_utc(row.hour), by, tz)] += row.n
    buckets = _all_buckets(start, end, by, tz)
    return Counts(buckets, {cp: [counts.get(b, 0) for b in buckets] for cp, counts in sorted(grouped.items())})


def _as_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bucket(moment: datetime, by: str, tz) -> datetime:
    local = moment.astimezone(tz)
    return local.replace(minute=0, second=0, microsecond=0) if by == "hour" else \
        local.replace(hour=0, minute=0, second=0, microsecond=0)


def _all_buckets(start: datetime, end: datetime, by: str, tz) -> list[datetime]:
    step = timedelta(hours=1) if by == "hour" else timedelta(days=1)
    current, buckets = _bucket(start, by, tz), []
    while current < end and len(buckets) < 2000:
        buckets.append(current)
        current = _bucket((current + step + timedelta(hours=2 if by == "day" else 0)).astimezone(UTC), by, tz)
    return buckets
