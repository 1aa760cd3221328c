"""Statistics: detections per checkpoint per hour or day, as a chart and a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, render_template, request
from flask_login import login_required

from .. import queries
from ..context import fleet
from .common import visible_checkpoints

bp = Blueprint("stats", __name__)
SPANS = {"hour": timedelta(hours=48), "day": timedelta(days=30)}
CHART_SERIES = 10


@bp.route("/statistics")
@login_required
def statistics():
    by = request.args.get("by", "hour")
    by = by if by in SPANS else "hour"
    end = datetime.now(UTC)
    counts = queries.detection_counts(fleet().engine, end - SPANS[by], end, by, fleet().settings.tz,
                                      visible_checkpoints())
    top = sorted(counts.totals, key=counts.totals.get, reverse=True)[:CHART_SERIES]
    chart = {"t": [b.timestamp() for b in counts.buckets], "series": {cp: counts.series[cp] for cp in top}}
    return render_template("stats.html", counts=counts, by=by, chart=chart)
