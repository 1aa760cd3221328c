"""Statistics people read as pictures: per site, the busiest hours, repeat plates, travel times.

Each function takes an engine, a time range (aware) and the checkpoints the
viewer may see (``None``: all) and returns frozen dataclasses; the statistics
page draws them and ``/statistics.csv`` writes them. Hours are grouped in SQL
by UTC hour and placed in the fleet's zone in Python (exact for zones with a
whole-hour offset, such as Asia/Bangkok).
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from fleet_store.schema import checkpoints, lpr_detections

from .queries import Counts, _as_utc, _hour_expr

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _scoped(query, checkpoint_ids: frozenset[str] | None):
    if checkpoint_ids is None:
        return query
    return query.where(lpr_detections.c.checkpoint_id.in_(sorted(checkpoint_ids)))


def sites_of(engine: Engine, checkpoint_ids: frozenset[str] | None = None) -> dict[str, str]:
    """Each checkpoint's site (``""`` when it has none)."""
    query = select(checkpoints.c.checkpoint_id, checkpoints.c.site)
    if checkpoint_ids is not None:
        query = query.where(checkpoints.c.checkpoint_id.in_(sorted(checkpoint_ids)))
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def per_site(counts: Counts, sites: dict[str, str], unsited: str = "-") -> dict[str, list[int]]:
    """:class:`Counts` per checkpoint summed per site (checkpoints without a site under ``unsited``)."""
    summed: dict[str, list[int]] = {}
    for cp, values in counts.series.items():
        row = summed.setdefault(sites.get(cp) or unsited, [0] * len(values))
        for i, n in enumerate(values):
            row[i] += n
    return dict(sorted(summed.items()))


@dataclass(frozen=True, slots=True)
class Heatmap:
    """Detections per local weekday (0 = Monday) and hour of day."""

    cells: tuple[tuple[int, ...], ...]

    @property
    def peak(self) -> int:
        return max((max(row) for row in self.cells), default=0)

    def share(self, day: int, hour: int) -> float:
        """0-1 of the busiest cell (for colouring)."""
        return self.cells[day][hour] / self.peak if self.peak else 0.0


def busiest_hours(engine: Engine, start: datetime, end: datetime, tz,
                  checkpoint_ids: frozenset[str] | None = None) -> Heatmap:
    """Detections in [start, end) per local weekday and hour."""
    hour = _hour_expr(engine.dialect.name).label("hour")
    query = _scoped(select(hour, func.count().label("n"))
                    .where(lpr_detections.c.timestamp >= start, lpr_detections.c.timestamp < end)
                    .group_by(hour), checkpoint_ids)
    cells = [[0] * 24 for _ in range(7)]
    with engine.connect() as conn:
        for row in conn.execute(query):
            local = _as_utc(row.hour).astimezone(tz)
            cells[local.weekday()][local.hour] += row.n
    return Heatmap(tuple(tuple(row) for row in cells))


@dataclass(frozen=True, slots=True)
class RepeatPlate:
    """A plate seen more than once in the period."""

    plate: str
    province: str
    sightings: int
    checkpoints: int
    first: datetime
    last: datetime


def top_repeats(engine: Engine, start: datetime, end: datetime, checkpoint_ids: frozenset[str] | None = None,
                limit: int = 20) -> list[RepeatPlate]:
    """The plates (with province) seen most often in [start, end), at least twice."""
    d = lpr_detections.c
    n = func.count().label("n")
    query = _scoped(select(d.license_plate, d.province, n, func.count(d.checkpoint_id.distinct()).label("cps"),
                           func.min(d.timestamp).label("first"), func.max(d.timestamp).label("last"))
                    .where(d.timestamp >= start, d.timestamp < end)
                    .group_by(d.license_plate, d.province).having(func.count() > 1)
                    .order_by(n.desc(), d.license_plate).limit(limit), checkpoint_ids)
    with engine.connect() as conn:
        return [RepeatPlate(r.license_plate, r.province, r.n, r.cps, _as_utc(r.first), _as_utc(r.last))
                for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class TravelTimes:
    """Minutes from a sighting at ``origin`` to the next sighting of the same plate at ``destination``."""

    origin: str
    destination: str
    minutes: tuple[float, ...]

    @property
    def median(self) -> float | None:
        return statistics.median(self.minutes) if self.minutes else None

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0-1) of the times, nearest rank."""
        if not self.minutes:
            return None
        ordered = sorted(self.minutes)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    def histogram(self, bins: int = 12) -> list[tuple[float, float, int]]:
        """``bins`` equal ranges from 0 to the longest time: (from, to, count) in minutes."""
        if not self.minutes:
            return []
        width = max(self.minutes) / bins or 1.0
        counts = [0] * bins
        for m in self.minutes:
            counts[min(bins - 1, int(m / width))] += 1
        return [(i * width, (i + 1) * width, c) for i, c in enumerate(counts)]


def travel_times(engine: Engine, origin: str, destination: str, start: datetime, end: datetime,
                 within: timedelta = timedelta(hours=24)) -> TravelTimes:
    """For plates seen at both checkpoints in [start, end): the time from each origin sighting to the first
    destination sighting after it (within ``within``), plate and province alike."""
    d = lpr_detections.c
    query = (select(d.checkpoint_id, d.license_plate, d.province, d.timestamp)
             .where(d.checkpoint_id.in_((origin, destination)), d.timestamp >= start, d.timestamp < end))
    seen: dict[str, dict[tuple[str, str], list[datetime]]] = {origin: defaultdict(list), destination: defaultdict(list)}
    with engine.connect() as conn:
        for row in conn.execute(query):
            seen[row.checkpoint_id][(row.license_plate, row.province)].append(_as_utc(row.timestamp))
    minutes = []
    for key, departures in seen[origin].items():
        arrivals = sorted(seen[destination].get(key, ()))
        for left in departures:
            i = bisect_right(arrivals, left)
            if i < len(arrivals) and arrivals[i] - left <= within:
                minutes.append((arrivals[i] - left).total_seconds() / 60)
    return TravelTimes(origin, destination, tuple(sorted(minutes)))
