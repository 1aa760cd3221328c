"""Fleet overview (with the offline map), live feed, and per-checkpoint health view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, render_template, request
from flask_login import login_required

from .. import fleet, queries
from ..queries import CheckpointSummary

bp = Blueprint("fleet", __name__)
MAP_W, MAP_H, MAP_PAD = 1000, 560, 40
HEALTH_RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(days=1),
                 "7d": timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A checkpoint placed on the map (SVG coordinates)."""

    checkpoint_id: str
    x: float
    y: float
    status: str


@dataclass(frozen=True, slots=True)
class FleetMap:
    """An equirectangular, auto-fitted map of the placed checkpoints; ``grid`` holds labelled lines."""

    points: list[MapPoint]
    grid: list[tuple[str, float, float, float, float]]
    unplaced: list[str]
    bounds: tuple[float, float, float, float] | None


def fleet_map(summaries: list[CheckpointSummary]) -> FleetMap:
    """Place checkpoints with latitude/longitude on a map that needs no tiles or network."""
    placed = [s for s in summaries if s.latitude is not None and s.longitude is not None]
    unplaced = [s.checkpoint_id for s in summaries if s not in placed]
    if not placed:
        return FleetMap([], [], unplaced, None)
    lats, lons = [s.latitude for s in placed], [s.longitude for s in placed]
    south, north = min(lats) - 0.01, max(lats) + 0.01
    west, east = min(lons) - 0.01, max(lons) + 0.01
    scale = min((MAP_W - 2 * MAP_PAD) / (east - west), (MAP_H - 2 * MAP_PAD) / (north - south))

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return MAP_PAD + (lon - west) * scale, MAP_H - MAP_PAD - (lat - south) * scale

    points = [MapPoint(s.checkpoint_id, *xy(s.latitude, s.longitude), s.status) for s in placed]
    return FleetMap(points, _grid(south, north, west, east, xy), unplaced, (south, west, north, east))


def _grid(south, north, west, east, xy) -> list[tuple[str, float, float, float, float]]:
    span = max(north - south, east - west)
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 45) if span / s <= 8)
    lines = []
    lat = (south // step + 1) * step
    while lat < north:
        lines.append((f"{lat:.2f}°", *xy(lat, west), *xy(lat, east)))
        lat += step
    lon = (west // step + 1) * step
    while lon < east:
        lines.append((f"{lon:.2f}°", *xy(south, lon), *xy(north, lon)))
        lon += step
    return lines


@bp.route("/")
@login_required
def overview():
    summaries = queries.fleet_overview(fleet().engine)
    counts = {status: sum(1 for s in summaries if s.status == status) for status in ("online", "offline", "never")}
    return render_template("overview.html", checkpoints=summaries, counts=counts, map=fleet_map(summaries),
                           map_size=(MAP_W, MAP_H), tiles_url=fleet().settings.dashboard_map_tiles_url)


@bp.route("/live")
@login_required
def live():
    rows = queries.recent_detections(fleet().engine, limit=50)
    return render_template("live.html", detections=rows)


@bp.route("/checkpoints/<checkpoint_id>")
@login_required
def health(checkpoint_id: str):
    engine = fleet().engine
    summary = queries.checkpoint_summary(engine, checkpoint_id)
    if summary is None:
        abort(404)
    span = request.args.get("range", "24h")
    since = datetime.now(UTC) - HEALTH_RANGES.get(span, HEALTH_RANGES["24h"])
    series = queries.health_series(engine, checkpoint_id, since)
    window = (since.timestamp(), datetime.now(UTC).timestamp())
    return render_template("health.html", cp=summary, series=series, span=span, ranges=list(HEALTH_RANGES),
                           window=window,
                           history=queries.connection_history(engine, checkpoint_id),
                           recent=queries.recent_detections(engine, limit=10, checkpoint_id=checkpoint_id))
