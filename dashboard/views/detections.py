"""Detection search, CSV export, detail page and stored images."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, abort, render_template, request, send_file, stream_with_context
from flask_login import login_required

from .. import fleet, queries
from ..errors import SearchError
from ..search import SearchQuery, export_csv, search

bp = Blueprint("detections", __name__)
FILTERS = ("plate", "checkpoint", "start", "end", "min_confidence")  # the only arguments links carry on
MAX_ID = 2**63 - 1


def _local_time(text: str | None, tz) -> datetime | None:
    """A ``datetime-local`` form value read in the fleet's zone."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SearchError(f"not a date and time: {text[:40]!r}") from None
    value = value.replace(tzinfo=tz) if value.tzinfo is None else value
    try:
        value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00 east of UTC
        raise SearchError(f"date out of range: {text[:40]!r}") from None
    return value


def _number(text: str | None, kind=float):
    if text in (None, ""):
        return None
    try:
        return kind(text)
    except ValueError:
        raise SearchError(f"not a number: {text[:40]!r}") from None


def query_from_args(args, tz) -> SearchQuery:
    """Build a :class:`SearchQuery` from request arguments; raises :class:`SearchError` on bad input."""
    return SearchQuery(plate=args.get("plate", "")[:32], checkpoint_id=args.get("checkpoint", "")[:64],
                       start=_local_time(args.get("start"), tz), end=_local_time(args.get("end"), tz),
                       min_confidence=_number(args.get("min_confidence")),
                       before_id=_row_id(args.get("before")))


def _row_id(text: str | None) -> int | None:
    value = _number(text, int)
    if value is not None and not 1 <= value <= MAX_ID:
        raise SearchError(f"'before' must be a row id between 1 and {MAX_ID}")
    return value


def _filters(args) -> dict[str, str]:
    """The search filters of a request, for links to other pages of the same search."""
    return {key: args[key] for key in FILTERS if args.get(key)}


@bp.route("/detections")
@login_required
def search_page():
    settings = fleet().settings
    try:
        query = query_from_args(request.args, settings.tz)
    except SearchError as exc:
        return render_template("search.html", error=str(exc), page=None, args=request.args,
                               filters=_filters(request.args)), 400
    page = search(fleet().engine, query)
    return render_template("search.html", error=None, page=page, args=request.args, filters=_filters(request.args))


@bp.route("/detections.csv")
@login_required
def export():
    settings = fleet().settings
    try:
        query = query_from_args(request.args, settings.tz)
    except SearchError as exc:
        return Response(f"error: {exc}\n", status=400, mimetype="text/plain")
    stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
    body = stream_with_context(export_csv(fleet().engine, query, settings.tz))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="detections-{stamp}.csv"'})


@bp.route("/detections/<int:detection_id>")
@login_required
def detail(detection_id: int):
    row = queries.detection(fleet().engine, detection_id)
    if row is None:
        abort(404)
    has_image = queries.image_file(fleet().settings.image_dir, row.image_path) is not None
    return render_template("detail.html", d=row, has_image=has_image)


@bp.route("/detections/<int:detection_id>/image")
@login_required
def image(detection_id: int):
    row = queries.detection(fleet().engine, detection_id)
    path = queries.image_file(fleet().settings.image_dir, row.image_path) if row else None
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=None, conditional=True)
    response.cache_control.no_store = True  # plates are personal data: no shared cache, none after logout
    response.cache_control.private = True
    return response
