"""The plate lists: the watchlist and the allow-list (fleet_store.lists).

Everyone sees both lists and may download them as CSV; admins add, remove and
import. An import is all or nothing: any bad line (each is named with why)
writes nothing. Every change and every export is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from fleet_store.alerts import Rule, list_alerts
from fleet_store.lists import (
    EntryFields,
    ListError,
    ListKind,
    add_entry,
    decode_csv,
    export_csv,
    get_entry,
    import_csv,
    list_entries,
    parse_expiry,
    remove_entry,
)

from ..context import fleet
from .common import admin_required, audit, visible_checkpoints

bp = Blueprint("watch", __name__)
KINDS = {"watchlist": ListKind.WATCH, "allowlist": ListKind.ALLOW}


class WatchForm(FlaskForm):
    pattern = StringField("pattern", validators=[DataRequired(), Length(max=64)])
    province = StringField("province", validators=[Length(max=64)])
    note = StringField("note", validators=[Length(max=255)])
    tags = StringField("tags", validators=[Length(max=300)])
    expires = StringField("expires", validators=[Length(max=40)])
    site = StringField("site", validators=[Length(max=64)])
    checkpoint = StringField("checkpoint", validators=[Length(max=64)])


class RemoveForm(FlaskForm):
    pass


class ImportForm(FlaskForm):
    file = FileField("file", validators=[FileRequired()])


def _may_see(entry) -> bool:
    """A user limited to sites sees fleet-wide entries and those of their sites and checkpoints only."""
    sites, scope = current_user.limited_to, visible_checkpoints()
    if sites is None:
        return True
    f = entry.fields
    return (not f.site or f.site in sites) and (not f.checkpoint_id or f.checkpoint_id in scope)


def _page(kind: ListKind, import_errors: tuple[str, ...] = (), status: int = 200):
    entries = [e for e in list_entries(fleet().engine, kind) if _may_see(e)]
    hits = []
    if kind is ListKind.WATCH:  # matched once, by the ingest, as detections are stored
        hits = list_alerts(fleet().engine, rule=Rule.WATCHLIST, limit=50, checkpoint_ids=visible_checkpoints())
    return render_template("watchlist.html", kind=kind.value, entries=entries, hits=hits, form=WatchForm(),
                           remove=RemoveForm(), upload=ImportForm(), import_errors=import_errors,
                           now=datetime.now(UTC)), status


@bp.route("/watchlist")
@login_required
def watchlist():
    return _page(ListKind.WATCH)


@bp.route("/allowlist")
@login_required
def allowlist():
    return _page(ListKind.ALLOW)


def _back(kind: ListKind):
    return redirect(url_for(f"watch.{kind.value}"))


@bp.route("/<any(watchlist, allowlist):name>", methods=["POST"])
@login_required
@admin_required
def add(name: str):
    kind, form = KINDS[name], WatchForm()
    if not form.validate_on_submit():
        flash(_("Enter a plate or pattern."), "error")
        return _back(kind)
    try:
        fields = EntryFields(form.pattern.data, form.province.data or "", form.note.data or "",
                             tuple((form.tags.data or "").replace(";", ",").split(",")),
                             parse_expiry((form.expires.data or "").strip(), fleet().settings.tz), 0,
                             form.site.data or "", form.checkpoint.data or "")
        entry = add_entry(fleet().engine, kind, fields, current_user.username)
    except ListError as exc:
        flash(str(exc), "error")
    else:
        audit("list.add", f"{kind.value}:{entry.id}", plate=entry.pattern, province=entry.province,
              note=entry.fields.note)
        flash(_("Added to the watchlist.") if kind is ListKind.WATCH else _("Added to the allow-list."), "info")
    return _back(kind)


@bp.route("/<any(watchlist, allowlist):name>/<int:entry_id>/delete", methods=["POST"])
@login_required
@admin_required
def delete(name: str, entry_id: int):
    kind = KINDS[name]
    if RemoveForm().validate_on_submit():
        entry = get_entry(fleet().engine, kind, entry_id)
        if entry is not None and remove_entry(fleet().engine, kind, entry_id):
            audit("list.remove", f"{kind.value}:{entry_id}", plate=entry.pattern, province=entry.province)
    return _back(kind)


@bp.route("/<any(watchlist, allowlist):name>.csv")
@login_required
def export(name: str):
    """The whole list as CSV (UTF-8 with BOM, the columns ``import`` reads)."""
    kind = KINDS[name]
    if current_user.limited_to is not None and kind is ListKind.ALLOW:
        abort(403)  # the allow-list names every site's plates; a site-limited user sees only theirs on the page
    body = export_csv(fleet().engine, kind, fleet().settings.tz)
    audit("list.export", kind.value, rows=body.count("\n") - 1)
    stamp = datetime.now(fleet().settings.tz).strftime("%Y%m%d-%H%M%S")
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{kind.value}-{stamp}.csv"'})


@bp.route("/<any(watchlist, allowlist):name>/import", methods=["POST"])
@login_required
@admin_required
def import_file(name: str):
    """Add or update every line of an uploaded CSV, or nothing: the page then lists each bad line."""
    kind, form = KINDS[name], ImportForm()
    if not form.validate_on_submit():
        return _page(kind, (_("Choose a CSV file to import."),), 400)
    try:
        text = decode_csv(form.file.data.read())
        result = import_csv(fleet().engine, kind, text, current_user.username, fleet().settings.tz)
    except ListError as exc:
        return _page(kind, (str(exc),), 400)
    if result.errors:
        return _page(kind, result.errors, 400)
    audit("list.import", kind.value, added=result.added, updated=result.updated,
          file=(form.file.data.filename or "")[:100])
    flash(_("Imported: %(added)d added, %(updated)d updated.", added=result.added, updated=result.updated), "info")
    return _back(kind)
