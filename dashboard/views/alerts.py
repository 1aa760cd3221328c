"""Alerts page: open, acknowledged and closed alerts (stored by the ingest); admins acknowledge.

Alerts are rows written by the ingest (``fleet_store.alerts``); this page only
reads them and records acknowledgements. An acknowledgement is checked (CSRF,
admin role), written to the audit log, and announced to every open page as an
``alert`` live event.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from fleet_store import alerts as store
from fleet_store.audit import AuditEntry, record

from ..context import fleet
from ..extensions import socketio
from .common import admin_required, rule_labels, visible_checkpoints

bp = Blueprint("alerts", __name__)
STATES = {state.value: state for state in store.AlertState}


class AckForm(FlaskForm):
    pass


@bp.route("/alerts")
@login_required
def alerts_page():
    state = request.args.get("state", "")
    if state and state not in STATES:
        abort(400)
    rows = store.list_alerts(fleet().engine, STATES.get(state), limit=200, checkpoint_ids=visible_checkpoints())
    return render_template("alerts.html", alerts=rows, state=state, form=AckForm(), rule_labels=rule_labels())


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
@admin_required
def acknowledge(alert_id: int):
    if not AckForm().validate_on_submit():
        abort(400)
    alert = store.acknowledge(fleet().engine, alert_id, current_user.username)
    if alert is None:
        flash(_("That alert was already acknowledged or closed."), "error")
    else:
        plate = (alert.detail or {}).get("license_plate")
        record(fleet().engine, AuditEntry(current_user.username, "alert.acknowledge", f"alert:{alert.id}",
                                          plate=plate, remote=request.remote_addr or "",
                                          detail={"rule": alert.rule.value, "subject": alert.subject}))
        event = alert.live_event()
        socketio.emit(event.name, event.payload, namespace="/")
        flash(_("Alert acknowledged."), "info")
    return redirect(url_for("alerts.alerts_page", state=request.args.get("state", "")))

