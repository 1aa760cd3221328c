"""Detection search, CSV export, detail page (with misread correction) and stored images.

Every search, export, detail view and correction is audited (fleet_store.audit);
image requests are not (each result row shows a thumbnail), the detail view is."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from fleet_store.corrections import CorrectionError, correct, corrections_of
from fleet_store.imagefiles import stored_image

from .. import queries
from ..context import fleet
from ..errors import SearchError
from ..search import SearchQuery, export_csv, search
from .common import audit, editor_required, require_visible, visible_checkpoints

bp = Blueprint("detections", __name__)
MAX_ID = 2**63 - 1


def parse_local_time(text: str | None, tz) -> datetime | None:
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


FILTERS = ("plate", "province", "checkpoint", "start", "end", "min_confidence")


def query_from_args(args, tz) -> SearchQuery:
    """Build a :class:`SearchQuery` from request arguments; raises :class:`SearchError` on bad input."""
    return SearchQuery(plate=args.get("plate", "")[:32], province=args.get("province", "")[:64],
                       checkpoint_id=args.get("checkpoint", "")[:64],
                       start=parse_local_time(args.get("start"), tz), end=parse_local_time(args.get("end"), tz),
                       min_confidence=_number(args.get("min_confidence")),
                       before_id=parse_row_id(args.get("before")), checkpoint_ids=visible_checkpoints())


def parse_row_id(text: str | None) -> int | None:
    value = _number(text, int)
    if value is not None and not 1 <= value <= MAX_ID:
        raise SearchError(f"'before' must be a row id between 1 and {MAX_ID}")
    return value


@bp.route("/detections")
@login_required
def search_page():
    settings = fleet().settings
    try:
        query = query_from_args(request.args, settings.tz)
    except SearchError as exc:
        return render_template("search.html", error=str(exc), page=None, args=request.args, filters=_filters(),
                               older=None), 400
    page = search(fleet().engine, query)
    audit("search", plate=query.plate.strip() or None, filters=_filters(), before=query.before_id,
          results=len(page.rows))
    return render_template("search.html", error=None, page=page, args=request.args, filters=_filters(),
                           older=_older_url(page.next_before))


def _filters() -> dict[str, str]:
    """The search filters of this request (nothing else is carried into links)."""
    return {key: request.args[key] for key in FILTERS if request.args.get(key)}


def _older_url(next_before: int | None) -> str | None:
    return url_for("detections.search_page", **_filters(), before=next_before) if next_before else None


@bp.route("/detections.csv")
@login_required
def export():
    settings = fleet().settings
    try:
        query = query_from_args(request.args, settings.tz)
    except SearchError as exc:
        return Response(f"error: {exc}\n", status=400, mimetype="text/plain")
    stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
    audit("export", "detections.csv", plate=query.plate.strip() or None, filters=_filters())
    body = stream_with_context(export_csv(fleet().engine, query, settings.tz))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="detections-{stamp}.csv"'})


@bp.route("/detections/<int:detection_id>")
@login_required
def detail(detection_id: int):
    row = _visible_detection(detection_id)
    audit("view", f"detection:{detection_id}", plate=row.license_plate)
    image_dir = fleet().settings.image_dir
    return render_template("detail.html", d=row, corrections=corrections_of(fleet().engine, detection_id),
                           form=CorrectionForm(plate=row.license_plate, province=row.province),
                           has_image=stored_image(image_dir, row.image_path) is not None,
                           has_plate_image=stored_image(image_dir, row.plate_image_path) is not None)


class CorrectionForm(FlaskForm):
    plate = StringField("plate", validators=[DataRequired(), Length(max=32)])
    province = StringField("province", validators=[Length(max=64)])
    note = StringField("note", validators=[Length(max=255)])


@bp.route("/detections/<int:detection_id>/correct", methods=["POST"])
@login_required
@editor_required
def correct_read(detection_id: int):
    """Correct a misread registration and/or province (admins and editors); the original read is kept."""
    _visible_detection(detection_id)  # 404 or 403 before the form is even read
    form = CorrectionForm()
    if not form.validate_on_submit():
        flash(_("Enter the registration (up to 32 characters)."), "error")
    else:
        try:
            correct(fleet().engine, detection_id, form.plate.data, form.province.data or "",
                    current_user.username, request.remote_addr or "", form.note.data or "")
        except CorrectionError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Read corrected; the original read is kept."), "info")
    return redirect(url_for("detections.detail", detection_id=detection_id))


@bp.route("/detections/<int:detection_id>/image")
@login_required
def image(detection_id: int):
    """The scene the plate was read in."""
    return _stored_jpeg(detection_id, "image_path")


@bp.route("/detections/<int:detection_id>/plate")
@login_required
def plate_image(detection_id: int):
    """The plate crop, as the checkpoint cut it from its sharpest frame."""
    return _stored_jpeg(detection_id, "plate_image_path")


def _stored_jpeg(detection_id: int, column: str):
    path = stored_image(fleet().settings.image_dir, getattr(_visible_detection(detection_id), column))
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/jpeg", conditional=True)
    response.cache_control.public = False
    response.cache_control.private = True  # personal data: never in a shared cache
    response.cache_control.max_age = 3600
    return response


def _visible_detection(detection_id: int):
    """The detection row, if it exists (404 otherwise) and the user may see its checkpoint (403 otherwise)."""
    row = queries.detection(fleet().engine, detection_id)
    if row is None:
        abort(404)
    require_visible(row.checkpoint_id)
    return row
