"""Statistics: detections per checkpoint and per site, busiest hours, repeat plates, travel times; CSV of each.

Everything is limited to the checkpoints the user may see (their sites).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, abort, render_template, request
from flask_login import login_required

from .. import analytics, queries
from ..context import fleet
from .common import audit, visible_checkpoints

bp = Blueprint("stats", __name__)
SPANS = {"hour": timedelta(hours=48), "day": timedelta(days=30)}
HEATMAP_SPAN = timedelta(days=28)  # four of each weekday
CHART_SERIES = 10
TABLES = ("checkpoints", "sites", "hours", "repeats", "travel")


def _by() -> str:
    by = request.args.get("by", "hour")
    return by if by in SPANS else "hour"


def _travel_ends(scope) -> tuple[str, str] | None:
    origin, destination = request.args.get("from", "")[:64], request.args.get("to", "")[:64]
    if not origin or not destination or origin == destination:
        return None
    if scope is not None and not {origin, destination} <= scope:
        return None
    return origin, destination


VIEWS = ("trend", "hours", "repeats", "travel")
NEEDS = {"checkpoints": "trend", "sites": "trend", "hours": "hours", "repeats": "repeats", "travel": "travel"}


def _gather(view: str, by: str) -> dict:
    """What one view of the page shows (each view runs only its own queries)."""
    engine, tz, scope, end = fleet().engine, fleet().settings.tz, visible_checkpoints(), datetime.now(UTC)
    sites = analytics.sites_of(engine, scope)
    data = {"checkpoint_ids": sorted(sites), "travel": None}
    if view == "trend":
        counts = queries.detection_counts(engine, end - SPANS[by], end, by, tz, scope)
        data.update(counts=counts, sites=analytics.per_site(counts, sites))
    elif view == "hours":
        data["heatmap"] = analytics.busiest_hours(engine, end - HEATMAP_SPAN, end, tz, scope)
    elif view == "repeats":
        data["repeats"] = analytics.top_repeats(engine, end - SPANS["day"], end, scope)
    elif (ends := _travel_ends(scope)) is not None:
        data["travel"] = analytics.travel_times(engine, *ends, end - timedelta(days=30), end)
    return data


@bp.route("/statistics")
@login_required
def statistics():
    by, view = _by(), request.args.get("view", "trend")
    view = view if view in VIEWS else "trend"
    data = _gather(view, by)
    charts = {}
    if view == "trend":
        counts = data["counts"]
        top = sorted(counts.totals, key=counts.totals.get, reverse=True)[:CHART_SERIES]
        t = [b.timestamp() for b in counts.buckets]
        charts = {"chart": {"t": t, "series": {cp: counts.series[cp] for cp in top}},
                  "site_chart": {"t": t, "series": data["sites"]}}
    return render_template("stats.html", by=by, view=view, weekdays=analytics.WEEKDAYS, args=request.args,
                           **charts, **data)


@bp.route("/statistics.csv")
@login_required
def statistics_csv():
    """One table of the statistics page as CSV (UTF-8 with BOM): ``?table=`` one of :data:`TABLES`."""
    table = request.args.get("table", "checkpoints")
    if table not in TABLES:
        abort(400)
    by = _by()
    data, tz = _gather(NEEDS[table], by), fleet().settings.tz
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for row in _rows(table, data, tz):
        writer.writerow(row)
    audit("export", f"statistics.csv:{table}", by=by)
    stamp = datetime.now(tz).strftime("%Y%m%d-%H%M%S")
    return Response(buffer.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="statistics-{table}-{stamp}.csv"'})


def _rows(table: str, data: dict, tz):
    if table in ("checkpoints", "sites"):
        counts = data["counts"]
        series = counts.series if table == "checkpoints" else data["sites"]
        yield ["time", *series]
        for i, bucket in enumerate(counts.buckets):
            yield [bucket.isoformat(), *(values[i] for values in series.values())]
    elif table == "hours":
        yield ["weekday", *range(24)]
        for day, row in zip(analytics.WEEKDAYS, data["heatmap"].cells, strict=True):
            yield [day, *row]
    elif table == "repeats":
        yield ["plate", "province", "sightings", "checkpoints", "first", "last"]
        for r in data["repeats"]:
            yield [r.plate, r.province, r.sightings, r.checkpoints, r.first.astimezone(tz).isoformat(),
                   r.last.astimezone(tz).isoformat()]
    else:
        travel = data["travel"]
        yield ["from", "to", "minutes"]
        for m in travel.minutes if travel else ():
            yield [travel.origin, travel.destination, round(m, 2)]
