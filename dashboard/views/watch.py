"""Watchlist page: everyone sees it; admins add and remove entries."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from fleet_store.alerts import Rule, list_alerts
from fleet_store.lists import EntryFields, ListError, ListKind, add_entry, list_entries, remove_entry

from ..context import fleet
from .common import admin_required

bp = Blueprint("watch", __name__)


class WatchForm(FlaskForm):
    pattern = StringField("pattern", validators=[DataRequired(), Length(max=64)])
    province = StringField("province", validators=[Length(max=64)])
    note = StringField("note", validators=[Length(max=255)])


class RemoveForm(FlaskForm):
    pass


@bp.route("/watchlist")
@login_required
def watchlist():
    entries = list_entries(fleet().engine, ListKind.WATCH)
    hits = list_alerts(fleet().engine, rule=Rule.WATCHLIST, limit=50)  # matched once, by the ingest
    return render_template("watchlist.html", entries=entries, hits=hits, form=WatchForm(), remove=RemoveForm())


@bp.route("/watchlist", methods=["POST"])
@login_required
@admin_required
def add():
    form = WatchForm()
    if form.validate_on_submit():
        try:
            fields = EntryFields(form.pattern.data, form.province.data or "", form.note.data or "")
            add_entry(fleet().engine, ListKind.WATCH, fields, current_user.username)
        except ListError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Added to the watchlist."), "info")
    else:
        flash(_("Enter a plate or pattern."), "error")
    return redirect(url_for("watch.watchlist"))


@bp.route("/watchlist/<int:entry_id>/delete", methods=["POST"])
@login_required
@admin_required
def delete(entry_id: int):
    if RemoveForm().validate_on_submit():
        remove_entry(fleet().engine, ListKind.WATCH, entry_id)
    return redirect(url_for("watch.watchlist"))
