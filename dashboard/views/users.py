"""The users page (admins): add users, change roles, disable/enable, reset passwords, end logins.

Every change goes through ``dashboard.users`` (which refuses to demote, disable
or remove the last admin) and is audited (``user.*``). Forms carry CSRF tokens;
non-admins get 403 on every route here.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from fleet_store.schema import checkpoints

from .. import users as store
from ..context import fleet
from ..errors import UserError
from ..users import Role
from .common import admin_required, audit

bp = Blueprint("users", __name__)
ROLES = [r.value for r in Role]


class AddUserForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=256)])
    role = SelectField("role", choices=ROLES, default=Role.VIEWER.value)
    sites = StringField("sites", validators=[Length(max=600)])


class RoleForm(FlaskForm):
    role = SelectField("role", choices=ROLES)


class SitesForm(FlaskForm):
    sites = StringField("sites", validators=[Length(max=600)])


class PasswordForm(FlaskForm):
    password = PasswordField("password", validators=[DataRequired(), Length(max=256)])


class ActionForm(FlaskForm):
    """A button that only needs its CSRF token (disable, enable, log out)."""


@bp.route("/users")
@login_required
@admin_required
def users_page():
    return render_template("users.html", users=store.list_users(fleet().engine), add=AddUserForm(),
                           role_form=RoleForm(), password_form=PasswordForm(), action=ActionForm(), roles=ROLES,
                           sites_form=SitesForm(), known_sites=_known_sites())


def _known_sites() -> list[str]:
    with fleet().engine.connect() as conn:
        return sorted(s for s in conn.execute(select(checkpoints.c.site).distinct()).scalars() if s)


def _sites(text: str | None) -> list[str]:
    return (text or "").split(",")


def _done(message: str):
    flash(message, "info")
    return redirect(url_for("users.users_page"))


def _refused(message: str):
    flash(message, "error")
    return redirect(url_for("users.users_page"))


def _target(user_id: int) -> store.User:
    user = store.get_user(fleet().engine, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users", methods=["POST"])
@login_required
@admin_required
def add():
    form = AddUserForm()
    if not form.validate_on_submit():
        return _refused(_("Enter a user name, a password and a role."))
    try:
        user = store.add_user(fleet().engine, form.username.data, form.password.data, Role(form.role.data),
                              _sites(form.sites.data))
    except UserError as exc:
        return _refused(str(exc))
    audit("user.add", f"user:{user.username}", role=user.role.value, sites=list(user.sites))
    return _done(_("User %(name)s added.", name=user.username))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@login_required
@admin_required
def role(user_id: int):
    user, form = _target(user_id), RoleForm()
    if not form.validate_on_submit():
        return _refused(_("Choose a role."))
    try:
        store.set_role(fleet().engine, user.username, Role(form.role.data))
    except UserError as exc:
        return _refused(str(exc))
    audit("user.role", f"user:{user.username}", before=user.role.value, after=form.role.data)
    return _done(_("%(name)s is now %(role)s.", name=user.username, role=form.role.data))


@bp.route("/users/<int:user_id>/sites", methods=["POST"])
@login_required
@admin_required
def sites(user_id: int):
    """Limit a viewer or editor to some sites (empty: every site); their logins end so they reload limited."""
    user, form = _target(user_id), SitesForm()
    if not form.validate_on_submit():
        return _refused(_("Sites are names separated by commas."))
    try:
        changed = store.set_sites(fleet().engine, user.username, _sites(form.sites.data))
    except UserError as exc:
        return _refused(str(exc))
    audit("user.sites", f"user:{user.username}", before=list(user.sites), after=list(changed.sites))
    return _done(_("%(name)s sees: %(sites)s.", name=user.username,
                   sites=", ".join(changed.sites) or _("every site")))


@bp.route("/users/<int:user_id>/<any(disable, enable):change>", methods=["POST"])
@login_required
@admin_required
def disable(user_id: int, change: str):
    user = _target(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        store.set_disabled(fleet().engine, user.username, change == "disable")
    except UserError as exc:
        return _refused(str(exc))
    audit(f"user.{change}", f"user:{user.username}")
    return _done(_("%(name)s disabled; their logins ended.", name=user.username) if change == "disable"
                 else _("%(name)s enabled.", name=user.username))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@login_required
@admin_required
def password(user_id: int):
    user, form = _target(user_id), PasswordForm()
    if not form.validate_on_submit():
        return _refused(_("Enter the new password."))
    try:
        store.set_password(fleet().engine, user.username, form.password.data)
    except UserError as exc:
        return _refused(str(exc))
    audit("user.password", f"user:{user.username}")
    return _done(_("Password of %(name)s reset; their logins ended.", name=user.username))


@bp.route("/users/<int:user_id>/logout", methods=["POST"])
@login_required
@admin_required
def logout(user_id: int):
    user = _target(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    store.end_sessions(fleet().engine, user.id)
    audit("user.logout", f"user:{user.username}")
    return _done(_("Every login of %(name)s ended.", name=user.username))
