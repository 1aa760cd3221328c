"""``python -m dashboard``: serve the dashboard, or manage its users.

    python -m dashboard                          # serve (same as 'serve'), default 127.0.0.1:8080
    python -m dashboard users add NAME [--role admin|viewer]   # asks for the password
    python -m dashboard users list
    python -m dashboard users passwd NAME
    python -m dashboard users remove NAME
    python -m dashboard users logout NAME        # end every login of NAME (a lost or stolen cookie)
    python -m dashboard apikeys add NAME [--role viewer|admin]   # the key alone on the last line, once
    python -m dashboard apikeys list | revoke NAME

Settings come from the environment (docs/dashboard.md), optionally from
``--env-file``. Passwords are read from the terminal, or from stdin with
``--password-stdin`` (for scripts).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from fleet_protocol.settings import SettingsError, settings_help
from fleet_store import apikeys, db
from fleet_store.logs import setup_logging

from .config import DashboardSettings
from .errors import DashboardError
from .users import Role, add_user, end_sessions_of, list_users, remove_user, set_password


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="AI Camera Fleet live dashboard (HTTP + Socket.IO, default 127.0.0.1:8080) and its users.",
        epilog="Settings: CENTRAL_DB_URL, IMAGE_DIR, REDIS_URL, DASHBOARD_HOST, DASHBOARD_PORT, "
               "DASHBOARD_ADMIN_PASSWORD, DASHBOARD_SECRET_KEY, DASHBOARD_ALLOWED_ORIGINS, FLEET_TIMEZONE "
               "... (see docs/dashboard.md).")
    parser.add_argument("--env-file", type=Path, help="read settings from this file (KEY=value lines)")
    parser.add_argument("--help-settings", action="store_true",
                        help="list every setting (environment variable) with its default, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="serve the dashboard with gunicorn (the default)")
    users = sub.add_parser("users", help="manage dashboard users")
    actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.VIEWER.value,
                     help="admin manages the watchlist; viewer only looks (default)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    actions.add_parser("list", help="list users and roles")
    passwd = actions.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    remove = actions.add_parser("remove", help="delete a user (never the last admin)")
    remove.add_argument("username")
    logout = actions.add_parser("logout", help="end every login of a user (cookies and open live pages)")
    logout.add_argument("username")
    keys = sub.add_parser("apikeys", help="API keys for the REST API (/api/v1, docs/dashboard.md)")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    key_add = key_actions.add_parser("add", help="create a key; prints it once, alone on the last line")
    key_add.add_argument("name")
    key_add.add_argument("--role", choices=apikeys.ROLES, default="viewer", help="viewer (default) or admin")
    key_actions.add_parser("list", help="list keys (never the keys themselves)")
    key_revoke = key_actions.add_parser("revoke", help="revoke a key: it stops working at once")
    key_revoke.add_argument("name")
    return parser


def _apikeys(settings: DashboardSettings, args) -> int:
    engine = db.make_engine(settings.central_db_url)
    db.upgrade(engine)
    if args.action == "add":
        key, secret = apikeys.create(engine, args.name, args.role)
        print(f"API key {key.name} ({key.role}) created; the key (shown only now) is:")
        print(secret)
    elif args.action == "revoke":
        if not apikeys.revoke(engine, args.name):
            raise DashboardError(f"no live key named {args.name!r}")
        print(f"API key {args.name} revoked")
    else:
        print(f"{'NAME':<24} {'ROLE':<7} {'KEY':<10} {'CREATED':<26} {'LAST USED':<26} STATE")
        for k in apikeys.list_keys(engine):
            print(f"{k.name:<24} {k.role:<7} {k.key_hint + '…':<10} {k.created_at.isoformat(timespec='seconds'):<26} "
                  f"{k.last_used_at.isoformat(timespec='seconds') if k.last_used_at else 'never':<26} "
                  f"{'revoked' if k.revoked_at else 'live'}")
    return 0


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise DashboardError("the passwords differ")
    return first


def _users(settings: DashboardSettings, args) -> int:
    engine = db.make_engine(settings.central_db_url)
    db.upgrade(engine)
    if args.action == "add":
        user = add_user(engine, args.username, _password(args.password_stdin), Role(args.role))
        print(f"user {user.username} added ({user.role.value})")
    elif args.action == "passwd":
        set_password(engine, args.username, _password(args.password_stdin))
        print(f"password of {args.username} changed")
    elif args.action == "remove":
        remove_user(engine, args.username)
        print(f"user {args.username} removed")
    elif args.action == "logout":
        end_sessions_of(engine, args.username)
        print(f"every login of {args.username} ended")
    else:
        print(f"{'USER':<24} {'ROLE':<8} {'LANGUAGE':<9} CREATED")
        for user in list_users(engine):
            print(f"{user.username:<24} {user.role.value:<8} {user.locale or 'browser':<9} "
                  f"{user.created_at.isoformat(timespec='seconds')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.help_settings:
        print(settings_help(("dashboard settings (docs/dashboard.md)", DashboardSettings, None)))
        return 0
    try:
        settings = DashboardSettings.load(args.env_file)
    except SettingsError as exc:
        print("error: invalid settings:\n  " + str(exc).replace("\n", "\n  "), file=sys.stderr)
        return 2
    try:
        if args.command == "users":
            return _users(settings, args)
        if args.command == "apikeys":
            return _apikeys(settings, args)
        setup_logging(settings.log_level, settings.log_file, settings.log_format)
        from . import create_app
        from .serve import serve

        serve(lambda: create_app(settings), settings)
        return 0
    except (DashboardError, apikeys.ApiKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
