"""``python -m central_server``: the ingest, and admin subcommands.

    python -m central_server                 # serve (same as 'serve')
    python -m central_server checkpoints add ID [--name N] [--site S] [--lat LAT --lon LON]   # token last
    python -m central_server checkpoints set ID [--name N] [--site S] [--lat LAT --lon LON] [--heartbeat S]
    python -m central_server checkpoints list | revoke ID | rotate ID
    python -m central_server plates export PLATE [--province P] [-o FILE]   # one zip: rows, images, audit
    python -m central_server plates erase PLATE [--province P] --yes        # refused under a legal hold
    python -m central_server plates hold PLATE [--province P] --reason R | unhold PLATE [--province P] | holds
    python -m central_server watchlist add PATTERN [--province P] [--note N] [--expires DATE] [--tolerance 1]
    python -m central_server watchlist import FILE.csv | list | remove ID
    python -m central_server alerts list [--state open|acknowledged|closed] [--limit N]
    python -m central_server migrate
    python -m central_server doctor

Settings come from the environment (names in docs/operations.md), optionally
from ``--env-file``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from fleet_protocol.settings import SettingsError, settings_help
from fleet_store import alerts, audit, db, lists, pdpa
from fleet_store.logs import setup_logging

from . import auth
from .config import IngestSettings
from .errors import CentralError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m central_server",
        description="AI Camera Fleet central ingest (WebSocket, default 0.0.0.0:8765) and admin commands.",
        epilog="Settings: CENTRAL_DB_URL, IMAGE_DIR, REDIS_URL, INGEST_HOST, INGEST_PORT, "
               "INGEST_ALLOW_ANONYMOUS, RETENTION_DAYS, FLEET_TIMEZONE, LOG_FILE ... "
               "(see docs/operations.md).")
    parser.add_argument("--env-file", type=Path, help="read settings from this file (KEY=value lines)")
    parser.add_argument("--help-settings", action="store_true",
                        help="list every setting (environment variable) with its default, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the ingest server (the default)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    doctor = sub.add_parser("doctor", help="check config, database, image dir, port and Redis; say what to fix")
    doctor.add_argument("--report", action="store_true",
                        help="also print a support report (versions, settings without secrets, checkpoints)")
    cps = sub.add_parser("checkpoints", help="manage checkpoints and their ingest tokens")
    cps_sub = cps.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = cps_sub.add_parser("add", help="register a checkpoint; prints its token once, on the last line")
    add.add_argument("checkpoint_id")
    add.add_argument("--anonymous", action="store_true",
                     help="no token: let tokenless old senders use this id (needs INGEST_ALLOW_ANONYMOUS=1)")
    _detail_options(add)
    change = cps_sub.add_parser("set", help="set a checkpoint's name, site, position or heartbeat")
    change.add_argument("checkpoint_id")
    _detail_options(change)
    cps_sub.add_parser("list", help="list checkpoints (tokens are never shown)")
    revoke = cps_sub.add_parser("revoke", help="revoke a checkpoint's token (open connections are closed)")
    revoke.add_argument("checkpoint_id")
    rotate = cps_sub.add_parser("rotate", help="issue a new token; the old one stops working")
    rotate.add_argument("checkpoint_id")
    _plates_parser(sub)
    _list_commands(sub)
    return parser


def _plates_parser(sub) -> None:
    plates = sub.add_parser("plates", help="personal data held on a registration (PDPA): export, erase, holds")
    actions = plates.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write every row, image, correction, list entry and audit record "
                                               "about a plate into one zip")
    erase = actions.add_parser("erase", help="delete every row and image file of a plate (not under a legal hold)")
    hold = actions.add_parser("hold", help="put a plate under a legal hold (erase is refused)")
    unhold = actions.add_parser("unhold", help="lift a legal hold")
    actions.add_parser("holds", help="list legal holds")
    for parser in (export, erase, hold, unhold):
        parser.add_argument("plate", help="the registration; spaces and dashes are ignored")
        parser.add_argument("--province", default="", help="only reads of this Thai province (default: every one)")
    export.add_argument("-o", "--output", type=Path, help="the zip to write (default plate-PLATE-TIME.zip)")
    erase.add_argument("--yes", action="store_true", help="really erase (without it: only say what would go)")
    erase.add_argument("--reason", default="", help="the request being fulfilled, e.g. a ticket number")
    hold.add_argument("--reason", required=True, help="why (a case or order number)")


def _list_commands(sub) -> None:
    watch = sub.add_parser("watchlist", help="manage the watchlist (plates that raise an alert)")
    watch_sub = watch.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = watch_sub.add_parser("add", help="add a plate or a pattern (* any characters, ? one)")
    add.add_argument("pattern")
    add.add_argument("--province", default="", help="only reads of this Thai province, e.g. กรุงเทพมหานคร")
    add.add_argument("--note", default="", help="why it is listed (up to 255 characters)")
    add.add_argument("--expires", default="", help="a date (2027-01-31, end of that day) or an ISO time")
    add.add_argument("--tolerance", type=int, default=0, choices=(0, 1),
                     help="1: also catch a read one character off")
    load = watch_sub.add_parser("import", help="add or update entries from a CSV file (all or nothing)")
    load.add_argument("file", type=Path, help="UTF-8 CSV with header plate,province,note,tags,expires,tolerance")
    watch_sub.add_parser("list", help="list the entries")
    remove = watch_sub.add_parser("remove", help="remove an entry by its id (see 'list')")
    remove.add_argument("entry_id", type=int)
    alerts = sub.add_parser("alerts", help="stored alerts")
    alerts_sub = alerts.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = alerts_sub.add_parser("list", help="list alerts, newest first")
    show.add_argument("--state", choices=("open", "acknowledged", "closed"), help="only alerts in this state")
    show.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")


def _detail_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="a human name, e.g. 'North gate' (up to 128 characters)")
    parser.add_argument("--site", help="the site it belongs to, e.g. 'Village A' (up to 64 characters)")
    parser.add_argument("--lat", type=float, help="latitude in degrees (WGS84), with --lon; shown on the map")
    parser.add_argument("--lon", type=float, help="longitude in degrees (WGS84), with --lat")
    parser.add_argument("--heartbeat", type=int, help="seconds of silence before it counts as offline")


def _details(args: argparse.Namespace) -> auth.CheckpointDetails:
    for value, limit, option in ((args.name, 128, "--name"), (args.site, 64, "--site")):
        if value is not None and len(value) > limit:
            raise ValueError(f"{option} is longer than {limit} characters")
    if args.heartbeat is not None and args.heartbeat < 10:
        raise ValueError("--heartbeat must be at least 10 seconds")
    return auth.CheckpointDetails(args.name, args.site, args.lat, args.lon, args.heartbeat)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.help_settings:
        print(settings_help(("central_server settings (docs/operations.md)", IngestSettings, None)))
        return 0
    try:
        settings = IngestSettings.load(args.env_file)
    except SettingsError as exc:
        print("error: invalid settings:\n  " + str(exc).replace("\n", "\n  "), file=sys.stderr)
        return 2
    command = args.command or "serve"
    if command == "doctor":
        from .doctor import run_doctor

        return run_doctor(settings, report=args.report)
    try:
        if command == "serve":
            setup_logging(settings.log_level, settings.log_file, settings.log_format)
            from .server import run

            asyncio.run(run(settings))
            return 0
        engine = db.make_engine(settings.central_db_url)
        db.upgrade(engine)
        if command == "migrate":
            print(f"schema at revision {db.current_revision(engine)}")
            return 0
        if command == "plates":
            return _plates(engine, settings, args)
        if command == "watchlist":
            return _watchlist(engine, args, settings)
        if command == "alerts":
            return _alerts(engine, args)
        return _checkpoints(engine, args)
    except (CentralError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


def _watchlist(engine, args, settings: IngestSettings) -> int:
    kind, tz = lists.ListKind.WATCH, settings.tz
    if args.action == "add":
        fields = lists.EntryFields(args.pattern, args.province, args.note,
                                   expires_at=lists.parse_expiry(args.expires, tz), tolerance=args.tolerance)
        entry = lists.add_entry(engine, kind, fields, "cli")
        audit.record(engine, audit.AuditEntry("cli", "list.add", f"watchlist:{entry.id}", plate=entry.pattern))
        print(f"added entry {entry.id}: {entry.pattern} {entry.province or '(any province)'}")
    elif args.action == "import":
        result = lists.import_csv(engine, kind, args.file.read_text(encoding="utf-8-sig"), "cli", tz)
        if result.errors:
            print(f"error: {args.file} was not imported (nothing changed):", file=sys.stderr)
            for line in result.errors:
                print(f"  {line}", file=sys.stderr)
            return 1
        audit.record(engine, audit.AuditEntry("cli", "list.import", "watchlist",
                                              detail={"added": result.added, "updated": result.updated}))
        print(f"imported {args.file}: {result.added} added, {result.updated} updated")
    elif args.action == "remove":
        if not lists.remove_entry(engine, kind, args.entry_id):
            raise ValueError(f"no watchlist entry {args.entry_id}")
        audit.record(engine, audit.AuditEntry("cli", "list.remove", f"watchlist:{args.entry_id}"))
        print(f"removed entry {args.entry_id}")
    else:
        now = datetime.now(UTC)
        print(f"{'ID':>6} {'PATTERN':<16} {'PROVINCE':<20} {'TOL':<3} {'EXPIRES':<25} NOTE")
        for e in lists.list_entries(engine, kind):
            f = e.fields
            expires = f.expires_at.astimezone(tz).isoformat(timespec="minutes") if f.expires_at else "never"
            print(f"{e.id:>6} {f.pattern:<16} {f.province or '-':<20} {f.tolerance:<3} "
                  f"{expires + (' (expired)' if e.expired(now) else ''):<25} {f.note}")
    return 0


def _alerts(engine, args) -> int:
    if args.limit < 1:
        raise ValueError("--limit must be at least 1")
    rows = alerts.list_alerts(engine, alerts.AlertState(args.state) if args.state else None, args.limit)
    print(f"{'ID':>6} {'OPENED (UTC)':<20} {'STATE':<12} {'RULE':<12} {'TIMES':>5}  TEXT")
    for a in rows:
        ack = f" [ack {a.acknowledged_by}]" if a.acknowledged_by else ""
        print(f"{a.id:>6} {a.opened_at:%Y-%m-%d %H:%M:%S} {a.state.value:<12} {a.rule.value:<12} "
              f"{a.occurrences:>5}  {a.text()}{ack}")
    return 0


def _plates(engine, settings: IngestSettings, args) -> int:
    if args.action == "holds":
        for held in pdpa.list_holds(engine):
            print(f"{held.plate:<14} {held.province or '(every province)':<20} "
                  f"{held.created_at.isoformat(timespec='seconds')} {held.created_by:<12} {held.reason}")
        return 0
    key = pdpa.PlateKey.of(args.plate, args.province)
    if args.action == "hold":
        pdpa.hold(engine, key, args.reason, "cli")
        print(f"{key.label}: under legal hold (erase refused until 'plates unhold')")
    elif args.action == "unhold":
        pdpa.unhold(engine, key, "cli")
        print(f"{key.label}: legal hold lifted")
    elif args.action == "export":
        stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
        out = args.output or Path(f"plate-{key.plate}-{stamp}.zip")
        done = pdpa.export_plate(engine, settings.image_dir, key, out, "cli")
        print(f"{key.label}: {done.detections} detections, {done.images} images, {done.corrections} corrections, "
              f"{done.list_entries} list entries, {done.audit_entries} audit records -> {done.path}")
    elif not args.yes:
        with engine.connect() as conn:
            found = len(pdpa.detection_ids(conn, key))
        print(f"{key.label}: {found} detections (and their image files) would be erased; add --yes to erase")
        return 1
    else:
        done = pdpa.erase_plate(engine, settings.image_dir, key, "cli", args.reason)
        print(f"{key.label}: erased {done.detections} detections, {done.files} image files, "
              f"{done.list_entries} list entries; the erasure is in the audit log")
    return 0


def _checkpoints(engine, args) -> int:
    if args.action == "add" and args.anonymous:
        auth.allow_anonymous(engine, args.checkpoint_id, _details(args))
        print(f"checkpoint {args.checkpoint_id} registered without a token: tokenless senders may use it "
              "while INGEST_ALLOW_ANONYMOUS=1")
    elif args.action == "add":
        token = auth.add_checkpoint(engine, args.checkpoint_id, _details(args))
        print(f"checkpoint {args.checkpoint_id} registered; its token (shown only now) is:")
        print(token)
    elif args.action == "set":
        changed = auth.update_checkpoint(engine, args.checkpoint_id, _details(args))
        print(f"checkpoint {args.checkpoint_id} {'updated' if changed else 'unchanged'}")
    elif args.action == "rotate":
        token = auth.rotate_token(engine, args.checkpoint_id)
        print(f"checkpoint {args.checkpoint_id} has a new token (the old one no longer works):")
        print(token)
    elif args.action == "revoke":
        auth.revoke_checkpoint(engine, args.checkpoint_id)
        print(f"checkpoint {args.checkpoint_id}: token revoked")
    else:
        rows = auth.list_checkpoints(engine)
        print(f"{'CHECKPOINT':<20} {'STATUS':<8} {'TOKEN':<12} {'LAST SEEN':<25} {'SITE':<16} {'POSITION':<21} NAME")
        for cp in rows:
            token = "revoked" if cp.revoked_at else (cp.token_hint + "…" if cp.token_hint else
                                                     "anonymous" if cp.anonymous_allowed else "none")
            seen = cp.last_seen_at.isoformat(timespec="seconds") if cp.last_seen_at else "never"
            where = f"{cp.latitude:.5f},{cp.longitude:.5f}" if cp.latitude is not None else "-"
            print(f"{cp.checkpoint_id:<20} {cp.status:<8} {token:<12} {seen:<25} {cp.site or '-':<16} "
                  f"{where:<21} {cp.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
