"""``python -m central_server``: the ingest, and admin subcommands.

    python -m central_server                 # serve (same as 'serve')
    python -m central_server checkpoints add ID [--name N] [--site S] [--lat LAT --lon LON]   # token last
    python -m central_server checkpoints set ID [--name N] [--site S] [--lat LAT --lon LON] [--heartbeat S]
    python -m central_server checkpoints list | revoke ID | rotate ID
    python -m central_server migrate
    python -m central_server doctor

Settings come from the environment (names in docs/operations.md), optionally
from ``--env-file``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pydantic import ValidationError

from fleet_store import db
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the ingest server (the default)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("doctor", help="check config, database, image dir, port and Redis; say what to fix")
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
    return parser


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
    try:
        settings = IngestSettings.load(args.env_file)
    except ValidationError as exc:
        print(f"error: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    command = args.command or "serve"
    if command == "doctor":
        from .doctor import run_doctor

        return run_doctor(settings)
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
        return _checkpoints(engine, args)
    except (CentralError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


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
