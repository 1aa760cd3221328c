"""Login, logout and the language switch."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..context import fleet
from ..users import LOCALES, User, authenticate, set_locale

bp = Blueprint("auth", __name__)


class LoginUser(UserMixin):
    """Flask-Login's view of a :class:`dashboard.users.User`."""

    def __init__(self, user: User):
        self.user = user
        self.id = str(user.id)
        self.username = user.username
        self.is_admin = user.is_admin
        self.locale = user.locale
        self.role = user.role.value


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=256)])


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("fleet.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(fleet().engine, form.username.data, form.password.data)
        if user is not None:
            login_user(LoginUser(user))
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong username or password."), "error")
    return render_template("login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
@login_required
def language():
    choice = request.form.get("locale")
    set_locale(fleet().engine, int(current_user.id), choice if choice in LOCALES else None)
    return redirect(_safe_next(request.form.get("next")))
