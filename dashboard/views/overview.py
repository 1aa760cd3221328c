"""Fleet overview (with the offline map), live feed, and per-checkpoint health view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import login_required

from .. import queries
from ..context import fleet
from ..fleetmap import FleetMap, Place, build_map
from ..fleetview import FleetQuery, fleet_page, problems_of
from ..queries import CheckpointSummary
from .common import require_visible, visible_checkpoints

bp = Blueprint("fleet", __name__)
HEALTH_RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(days=1),
                 "7d": timedelta(days=7)}


def map_of(summaries: list[CheckpointSummary]) -> tuple[FleetMap, list[str]]:
    """The map of the checkpoints that have a position, and the ids of those that do not."""
    places = [Place(s.checkpoint_id, s.latitude, s.longitude, s.status, s.site) for s in summaries
              if s.latitude is not None and s.longitude is not None]
    placed = {p.checkpoint_id for p in places}
    return build_map(places, fleet().settings.dashboard_map_tiles_url), \
        [s.checkpoint_id for s in summaries if s.checkpoint_id not in placed]


@bp.route("/")
@login_required
def overview():
    """Problems first, filtered by site/state/text, 50 per page; counts over the whole fleet."""
    scope = visible_checkpoints()
    summaries = [s for s in queries.fleet_overview(fleet().engine) if scope is None or s.checkpoint_id in scope]
    wanted = FleetQuery.from_args(request.args)
    page = fleet_page(summaries, wanted)
    fleet_map, unplaced = map_of(page.matching)
    filters = {k: v for k, v in (("site", wanted.site), ("state", wanted.state), ("q", wanted.text)) if v}
    pager = {n: url_for("fleet.overview", **filters, page=n) for n in (page.page - 1, page.page + 1)
             if 1 <= n <= page.pages}
    return render_template("overview.html", checkpoints=page.rows, page=page, query=wanted, filters=filters,
                           pager=pager, counts=page.counts, problems=problems_of, map=fleet_map, unplaced=unplaced,
                           states={s.checkpoint_id: s.status for s in summaries})


@bp.route("/live")
@login_required
def live():
    rows = queries.recent_detections(fleet().engine, limit=50, checkpoint_ids=visible_checkpoints())
    return render_template("live.html", detections=rows)


@bp.route("/checkpoints/<checkpoint_id>")
@login_required
def health(checkpoint_id: str):
    engine = fleet().engine
    require_visible(checkpoint_id)
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
