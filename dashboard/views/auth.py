"""Login, logout and the language switch."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..context import fleet
from ..security import safe_next
from ..users import LOCALES, User, authenticate, end_sessions, set_locale
from .common import audit

bp = Blueprint("auth", __name__)


class LoginUser(UserMixin):
    """Flask-Login's view of a :class:`dashboard.users.User`."""

    def __init__(self, user: User):
        self.user = user
        self.id = str(user.id)
        self.username = user.username
        self.is_admin = user.is_admin
        self.can_correct = user.can_correct
        self.limited_to = user.limited_to
        self.locale = user.locale
        self.role = user.role.value
        self.session_version = user.session_version

    def get_id(self) -> str:
        """The login id kept in the session: the user and its session version (bumped to end sessions)."""
        return f"{self.id}:{self.session_version}"


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=256)])


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    return safe_next(target) or url_for("fleet.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        throttle, address = fleet().throttle, request.remote_addr or "?"
        wait = throttle.begin(form.username.data, address)
        if wait:
            audit("login.refused", f"user:{form.username.data[:64]}", actor="-", wait_seconds=int(wait) + 1)
            flash(_("Too many failed logins. Try again in %(seconds)d s.", seconds=int(wait) + 1), "error")
            return render_template("login.html", form=form), 429, {"Retry-After": str(int(wait) + 1)}
        user = authenticate(fleet().engine, form.username.data, form.password.data)
        if user is not None:
            throttle.succeeded(form.username.data, address)
            login_user(LoginUser(user))
            audit("login", f"user:{user.username}")
            return redirect(_safe_next(request.args.get("next")))
        audit("login.failed", f"user:{form.username.data[:64]}", actor="-")
        flash(_("Wrong username or password."), "error")
    return render_template("login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this login and every other copy of its cookie (the user's session version moves on)."""
    end_sessions(fleet().engine, int(current_user.id))
    audit("logout", f"user:{current_user.username}")
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
@login_required
def language():
    choice = request.form.get("locale")
    set_locale(fleet().engine, int(current_user.id), choice if choice in LOCALES else None)
    return redirect(_safe_next(request.form.get("next")))
