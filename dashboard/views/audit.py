"""The audit log page (admins): who did what, when and from where; filters and keyset paging.

Read-only by design: no route here (or anywhere in the dashboard) changes or
deletes audit records. Opening the page is itself recorded (``audit.view``).
"""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request, url_for
from flask_login import login_required

from fleet_store.audit import ACTIONS, AuditFilter, search

from ..context import fleet
from ..errors import SearchError
from .common import admin_required, audit
from .detections import parse_local_time, parse_row_id

bp = Blueprint("audit", __name__)
PAGE_SIZE = 100
FILTERS = ("actor", "action", "plate", "subject", "start", "end")


def filter_from_args(args, tz) -> AuditFilter:
    """An :class:`AuditFilter` from request arguments; raises :class:`SearchError` on bad input."""
    since, until = parse_local_time(args.get("start"), tz), parse_local_time(args.get("end"), tz)
    if since and until and since >= until:
        raise SearchError("the start of the time range must be before its end")
    return AuditFilter(actor=args.get("actor", "").strip()[:64], action=args.get("action", "").strip()[:64],
                       plate=args.get("plate", "").strip()[:32], subject=args.get("subject", "").strip()[:255],
                       since=since, until=until, before_id=parse_row_id(args.get("before")))


def _filters() -> dict[str, str]:
    return {key: request.args[key] for key in FILTERS if request.args.get(key)}


@bp.route("/audit")
@login_required
@admin_required
def audit_page():
    try:
        wanted = filter_from_args(request.args, fleet().settings.tz)
    except SearchError as exc:
        return render_template("audit.html", error=str(exc), rows=[], older=None, args=request.args,
                               actions=ACTIONS), 400
    rows = search(fleet().engine, wanted, PAGE_SIZE + 1)
    older = url_for("audit.audit_page", **_filters(), before=rows[PAGE_SIZE - 1].id) \
        if len(rows) > PAGE_SIZE else None
    audit("audit.view", filters=_filters(), before=wanted.before_id)
    return render_template("audit.html", error=None, rows=rows[:PAGE_SIZE], older=older, args=request.args,
                           actions=ACTIONS, as_json=lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True))
