"""``python -m dashboard``: serve the dashboard, or manage its users.

    python -m dashboard                          # serve (same as 'serve'), default 127.0.0.1:8080
    python -m dashboard users add NAME [--role admin|editor|viewer]   # asks for the password
    python -m dashboard users list
    python -m dashboard users role NAME admin|editor|viewer
    python -m dashboard users sites NAME "Site A,Site B"   # a viewer/editor sees only these sites ("" = all)
    python -m dashboard users disable|enable NAME  # lock an account (ends its logins) / unlock it
    python -m dashboard users passwd NAME
    python -m dashboard users remove NAME
    python -m dashboard users logout NAME        # end every login of NAME (a lost or stolen cookie)
    python -m dashboard corrections export DIR [--since DATE]   # corrected reads: labels.csv + crops/
    python -m dashboard lists export watchlist|allowlist [-o FILE]   # CSV, UTF-8 with BOM
    python -m dashboard lists import watchlist|allowlist FILE        # all lines or none; errors per line
    python -m dashboard audit --since DATE [--until DATE] [--actor U] [--action A] [--plate P] [--csv]
    python -m dashboard apikeys add NAME [--role viewer|admin]   # the key alone on the last line, once
    python -m dashboard apikeys list | revoke NAME

Settings come from the environment (docs/dashboard.md), optionally from
``--env-file``. Passwords are read from the terminal, or from stdin with
``--password-stdin`` (for scripts).
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from datetime import date, datetime, time
from pathlib import Path

from fleet_protocol.settings import SettingsError, settings_help
from fleet_store import apikeys, db
from fleet_store.audit import AuditEntry, AuditFilter, record
from fleet_store.audit import stream as audit_stream
from fleet_store.corrections import export_labelled
from fleet_store.lists import ListError, ListKind, decode_csv, export_csv, import_csv
from fleet_store.logs import setup_logging

from .config import DashboardSettings
from .errors import DashboardError
from .users import (
    Role,
    add_user,
    end_sessions_of,
    list_users,
    remove_user,
    set_disabled,
    set_password,
    set_role,
    set_sites,
)


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
                     help="admin manages lists, users, audit; editor corrects reads; viewer only looks (default)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--sites", default="", help="comma-separated sites a viewer or editor may see (default: all)")
    actions.add_parser("list", help="list users and roles")
    passwd = actions.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    remove = actions.add_parser("remove", help="delete a user (never the last admin)")
    remove.add_argument("username")
    logout = actions.add_parser("logout", help="end every login of a user (cookies and open live pages)")
    logout.add_argument("username")
    sites = actions.add_parser("sites", help="limit a viewer or editor to some sites (no SITES: every site)")
    sites.add_argument("username")
    sites.add_argument("sites", nargs="?", default="", help="comma-separated, e.g. 'Site A,Site B'")
    role = actions.add_parser("role", help="change a user's role (never the last admin's)")
    role.add_argument("username")
    role.add_argument("role", choices=[r.value for r in Role])
    for name, what in (("disable", "lock an account and end its logins (never the last admin)"),
                       ("enable", "unlock a disabled account")):
        actions.add_parser(name, help=what).add_argument("username")
    corrections = sub.add_parser("corrections", help="misread corrections")
    corrections_actions = corrections.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = corrections_actions.add_parser(
        "export", help="write corrected detections as a labelled set (labels.csv + crops/) for retraining")
    export.add_argument("directory", type=Path)
    export.add_argument("--since", type=_day, help="only corrections made since this date (YYYY-MM-DD, fleet zone)")
    lists = sub.add_parser("lists", help="watchlist and allow-list as CSV")
    lists_actions = lists.add_subparsers(dest="action", metavar="ACTION", required=True)
    list_export = lists_actions.add_parser("export", help="write a list as CSV (stdout, or -o FILE)")
    list_export.add_argument("list", choices=[k.value for k in ListKind])
    list_export.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    list_import = lists_actions.add_parser("import", help="add or update every line of a CSV (or nothing)")
    list_import.add_argument("list", choices=[k.value for k in ListKind])
    list_import.add_argument("file", type=Path)
    audit = sub.add_parser("audit", help="print the audit log (oldest first)")
    audit.add_argument("--since", type=_day, required=True, help="from this date (YYYY-MM-DD, fleet zone)")
    audit.add_argument("--until", type=_day, help="before this date (YYYY-MM-DD, fleet zone)")
    audit.add_argument("--actor", default="", help="only this user ('cli' for the command line)")
    audit.add_argument("--action", default="", help="only this action; ending in '.' a prefix (user.)")
    audit.add_argument("--plate", default="", help="only records about this registration")
    audit.add_argument("--csv", action="store_true", help="CSV (UTF-8) instead of aligned text")
    keys = sub.add_parser("apikeys", help="API keys for the REST API (/api/v1, docs/dashboard.md)")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    key_add = key_actions.add_parser("add", help="create a key; prints it once, alone on the last line")
    key_add.add_argument("name")
    key_add.add_argument("--role", choices=apikeys.ROLES, default="viewer", help="viewer (default) or admin")
    key_actions.add_parser("list", help="list keys (never the keys themselves)")
    key_revoke = key_actions.add_parser("revoke", help="revoke a key: it stops working at once")
    key_revoke.add_argument("name")
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-11-30: {text!r}") from None


def _since(settings: DashboardSettings, day: date | None) -> datetime | None:
    return datetime.combine(day, time(), settings.tz) if day else None


def _audit(settings: DashboardSettings, args) -> int:
    engine = db.make_engine(settings.central_db_url)
    db.upgrade(engine)
    wanted = AuditFilter(actor=args.actor, action=args.action, plate=args.plate,
                         since=_since(settings, args.since), until=_since(settings, args.until))
    asked = {key: str(getattr(args, key)) for key in ("since", "until", "actor", "action", "plate")
             if getattr(args, key)}
    record(engine, AuditEntry("cli", "audit.export", "audit_log", args.plate or None, "", asked))
    writer = csv.writer(sys.stdout) if args.csv else None
    if writer:
        writer.writerow(("id", "at", "actor", "action", "subject", "plate", "remote", "detail"))
    for e in audit_stream(engine, wanted):
        at = e.at.astimezone(settings.tz).isoformat(timespec="seconds")
        detail = json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else ""
        if writer:
            writer.writerow((e.id, at, e.actor, e.action, e.subject, e.plate or "", e.remote, detail))
        else:
            print(f"{at}  {e.actor:<16} {e.action:<14} {e.subject:<24} {e.plate or '-':<12} {e.remote or '-':<15} "
                  f"{detail}")
    return 0


def _lists(settings: DashboardSettings, args) -> int:
    engine = db.make_engine(settings.central_db_url)
    db.upgrade(engine)
    kind = ListKind(args.list)
    if args.action == "export":
        text = export_csv(engine, kind, settings.tz)
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        record(engine, AuditEntry("cli", "list.export", kind.value, None, "", {"rows": text.count("\n") - 1}))
        return 0
    try:
        result = import_csv(engine, kind, decode_csv(args.file.read_bytes()), "cli", settings.tz)
    except (ListError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.errors:
        print("nothing imported:", *result.errors, sep="\n  ", file=sys.stderr)
        return 1
    record(engine, AuditEntry("cli", "list.import", kind.value, None, "",
                              {"added": result.added, "updated": result.updated, "file": str(args.file)[:100]}))
    print(f"{kind.value}: {result.added} added, {result.updated} updated")
    return 0


def _corrections(settings: DashboardSettings, args) -> int:
    engine = db.make_engine(settings.central_db_url)
    db.upgrade(engine)
    written = export_labelled(engine, settings.image_dir, args.directory, _since(settings, args.since))
    record(engine, AuditEntry("cli", "export", "corrections", None, "",
                              {"directory": str(args.directory), "rows": written.rows}))
    print(f"{written.rows} corrected detections, {written.crops} crops -> {written.labels}")
    return 0


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
        user = add_user(engine, args.username, _password(args.password_stdin), Role(args.role),
                        args.sites.split(","))
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
    elif args.action == "role":
        set_role(engine, args.username, Role(args.role))
        print(f"{args.username} is now {args.role}")
    elif args.action == "sites":
        user = set_sites(engine, args.username, args.sites.split(","))
        print(f"{args.username} sees {', '.join(user.sites) or 'every site'}")
    elif args.action in ("disable", "enable"):
        set_disabled(engine, args.username, args.action == "disable")
        print(f"{args.username} {args.action}d")
    if args.action != "list":
        detail = {"role": args.role} if args.action in ("add", "role") else {}
        if args.action in ("add", "sites"):
            detail["sites"] = args.sites
        action = "password" if args.action == "passwd" else args.action
        record(engine, AuditEntry("cli", f"user.{action}", f"user:{args.username}", None, "", detail))
    else:
        print(f"{'USER':<24} {'ROLE':<8} {'LANGUAGE':<9} {'STATE':<9} {'CREATED':<26} SITES")
        for user in list_users(engine):
            print(f"{user.username:<24} {user.role.value:<8} {user.locale or 'browser':<9} "
                  f"{'disabled' if user.disabled else 'enabled':<9} {user.created_at.isoformat(timespec='seconds'):<26}"
                  f"{','.join(user.sites) if user.sites and not user.is_admin else 'all'}")
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
        if args.command == "corrections":
            return _corrections(settings, args)
        if args.command == "audit":
            return _audit(settings, args)
        if args.command == "lists":
            return _lists(settings, args)
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
