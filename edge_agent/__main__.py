"""``python -m edge_agent``: run the agent (default), ``doctor`` or ``read-plates``.

Settings are read once here (environment, optionally ``--env-file``) and passed
down. Exit status: 0 ok, 1 a check failed (doctor), 2 bad settings or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import logging
import os
import signal
import sys
from pathlib import Path

from .agent import Agent, load_vision, load_vision_settings, vision_env_names
from .config import AgentSettings, load_settings, read_env_file
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
    try:
        if args.command == "doctor":
            from .doctor import run_doctor

            return run_doctor(args.env_file, report=args.report)
        settings = load_settings(args.env_file, also_known=vision_env_names())
        loader = vision_loader(settings, args.env_file)
    except ConfigError as exc:
        print(f"edge_agent: {exc}", file=sys.stderr)
        return 2
    configure_logging(args.log_level, settings.websocket_log_file)
    return run_agent(settings, loader)


def vision_loader(settings: AgentSettings, env_file: Path | None):
    """How the agent gets its vision service: disabled, or built from settings read now."""
    if not settings.edge_vision:
        return lambda _settings, _sink: (None, "disabled (EDGE_VISION=0)")
    environment = {**(read_env_file(env_file) if env_file else {}), **os.environ}
    return functools.partial(load_vision, vision_settings=load_vision_settings(settings, environment))


def read_plates(argv: list[str]) -> int:
    """Dispatch to the vision package's ``read-plates`` command."""
    try:
        cli = importlib.import_module("edge_agent.vision.cli")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("edge_agent.vision"):
            print("edge_agent: read-plates needs the vision package (edge_agent.vision), "
                  "which is not installed in this build", file=sys.stderr)
            return 2
        raise
    return int(cli.read_plates_main(argv) or 0)


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


def run_agent(settings: AgentSettings, vision_loader) -> int:
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
