"""``python -m edge_agent``: run the agent (default), ``doctor`` or ``read-plates``.

Settings are read once here (environment, optionally ``--env-file``) and passed
down. Exit status: 0 ok, 1 a check failed (doctor), 2 bad settings or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from .agent import Agent, VisionLoader, vision_loader
from .config import AgentSettings, help_settings, load_edge_settings
from .errors import ConfigError, EdgeError

log = logging.getLogger("edge_agent")

DESCRIPTION = """Edge agent for one LPR checkpoint: keeps every plate in a durable SQLite outbox
(DB_PATH) and streams it to the central server (WEBSOCKET_SERVER_URL), with a control API and
local pages on EDGE_API_HOST:EDGE_API_PORT. Settings come from the environment (see
docs/edge.md); --env-file loads them from a file as well."""


def build_parser() -> argparse.ArgumentParser:
    """The command line (documented in docs/edge.md)."""
    parser = argparse.ArgumentParser(prog="python -m edge_agent", description=DESCRIPTION)
    parser.add_argument("--env-file", type=Path,
                        help="read settings from this file too, e.g. .env.production")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--help-settings", action="store_true",
                        help="list every setting (environment variable) with its default, then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the agent (the default)")
    doctor = commands.add_parser("doctor", help="check config, server, camera, detector, DB, disk, clock")
    doctor.add_argument("--report", action="store_true",
                        help="also print what to attach to a support request")
    commands.add_parser("read-plates", add_help=False,
                        help="read plates from images (vision package; see its --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if "read-plates" in argv:  # everything after it belongs to the vision package's parser
        at = argv.index("read-plates")
        parser.parse_args(argv[:at] + ["read-plates"])
        return read_plates(argv[at + 1:])
    args = parser.parse_args(argv)
    if args.help_settings:
        print(help_settings())
        return 0
    try:
        if args.command == "doctor":
            from .doctor import run_doctor

            return run_doctor(args.env_file, report=args.report)
        edge = load_edge_settings(args.env_file)
    except ConfigError as exc:
        print(f"edge_agent: {exc}", file=sys.stderr)
        return 2
    configure_logging(args.log_level, edge.agent.websocket_log_file)
    return run_agent(edge.agent, vision_loader(edge))


def read_plates(argv: list[str]) -> int:
    """Run the vision package's ``read-plates`` command."""
    from .vision.cli import read_plates_main

    return int(read_plates_main(argv) or 0)


def configure_logging(level: str, log_file: Path | None) -> None:
    """Log to stderr (and WEBSOCKET_LOG_FILE if set); quiet the libraries' per-attempt chatter."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("websockets", "apscheduler", "waitress"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_agent(settings: AgentSettings, vision_loader: VisionLoader) -> int:
    """Run until SIGTERM/SIGINT; return 0 after a clean shutdown."""
    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Agent(settings, vision_loader).run(stop)

    try:
        asyncio.run(_run())
    except EdgeError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
