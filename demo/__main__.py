"""``python -m demo`` (``make demo``): the whole fleet on one machine, SQLite only, no Redis.

Starts the central ingest (``python -m central_server``), the dashboard
(``python -m dashboard``) and three simulated checkpoints, all with their data
under ``var/demo``; prints the dashboard URL and a login; Ctrl-C (or SIGTERM)
stops everything cleanly, checkpoints first.

Each checkpoint is the real edge agent (``python -m edge_agent``) replaying
footage the project renders itself (cars with Thai and Latin plates, written
once under ``var/demo/footage``) through the CPU detector, with its own outbox.
``--standin`` runs the lighter protocol-only sender (``python -m demo.standin``)
instead, for machines too slow for three CPU detectors.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class CheckpointSpec:
    """A demo checkpoint: id, human name, and where it stands."""

    checkpoint_id: str
    name: str
    latitude: float
    longitude: float


CHECKPOINTS = (
    CheckpointSpec("demo-1", "Rama IV gate", 13.7262, 100.5343),
    CheckpointSpec("demo-2", "Airport road", 13.9126, 100.6068),
    CheckpointSpec("demo-3", "Riverside", 13.7200, 100.4905),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("var/demo"), help="data directory (default var/demo)")
    parser.add_argument("--port", type=int, default=8080, help="dashboard port (default 8080)")
    parser.add_argument("--ingest-port", type=int, default=8765, help="ingest port (default 8765)")
    parser.add_argument("--interval", type=float, default=3.0, help="mean seconds between vehicles per checkpoint")
    parser.add_argument("--duration", type=float, default=0, help="stop by itself after this many seconds (0: never)")
    parser.add_argument("--checkpoints", type=int, default=len(CHECKPOINTS), choices=range(1, len(CHECKPOINTS) + 1),
                        help=f"how many checkpoints to run (default {len(CHECKPOINTS)})")
    parser.add_argument("--vehicles", type=int, default=4, help="cars in each checkpoint's footage loop (default 4)")
    parser.add_argument("--standin", action="store_true",
                        help="protocol-only senders instead of edge agents with the CPU detector "
                             "(--interval applies to them)")
    return parser


def base_env(data: Path) -> dict[str, str]:
    """Environment shared by every demo process (SQLite under ``data``, no Redis)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CENTRAL_", "INGEST_", "DASHBOARD_", "REDIS_", "CHECKPOINT_", "WEBSOCKET_"))}
    env.update(CENTRAL_DB_URL=f"sqlite:///{(data / 'central.db').resolve()}",
               IMAGE_DIR=str((data / "images").resolve()), LOG_FORMAT="text", PYTHONPATH=str(REPO),
               PYTHONUNBUFFERED="1")
    return env


def provision(env: dict[str, str], spec: CheckpointSpec) -> str:
    """Register a checkpoint (or rotate its token on a re-run) and return the token (last output line)."""
    for action in ("add", "rotate"):
        args = ["checkpoints", action, spec.checkpoint_id] + (["--name", spec.name] if action == "add" else [])
        result = subprocess.run([sys.executable, "-m", "central_server", *args], env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            return result.stdout.strip().splitlines()[-1]
    raise SystemExit(f"demo: could not provision {spec.checkpoint_id}: {result.stderr.strip()}")


def place_checkpoints(env: dict[str, str]) -> None:
    """Give the demo checkpoints their names and positions (for the map)."""
    from central_server import db
    from central_server.schema import checkpoints

    engine = db.make_engine(env["CENTRAL_DB_URL"])
    with engine.begin() as conn:
        for spec in CHECKPOINTS:
            conn.execute(update(checkpoints).where(checkpoints.c.checkpoint_id == spec.checkpoint_id)
                         .values(name=spec.name, latitude=spec.latitude, longitude=spec.longitude))
    engine.dispose()


def demo_login(env: dict[str, str]) -> tuple[str, str]:
    """A fresh password for user ``admin`` on every run (created if missing)."""
    from central_server import db
    from dashboard.errors import UserError
    from dashboard.users import Role, add_user, set_password

    engine = db.make_engine(env["CENTRAL_DB_URL"])
    db.upgrade(engine)
    password = secrets.token_urlsafe(9)
    try:
        add_user(engine, "admin", password, Role.ADMIN)
    except UserError:
        set_password(engine, "admin", password)
    engine.dispose()
    return "admin", password


def launch_checkpoints(specs, tokens: dict[str, str], ingest_url: str, env: dict[str, str],
                       args: argparse.Namespace, data: Path) -> list[subprocess.Popen]:
    """Start one checkpoint process per spec: the edge agent on rendered footage, or the stand-in."""
    logs = data / "logs"
    footage = {} if args.standin else prepare_footage(specs, data / "footage", args.vehicles)
    processes = []
    for number, spec in enumerate(specs, start=1):
        child = {**env, "WEBSOCKET_SERVER_URL": ingest_url, "CHECKPOINT_ID": spec.checkpoint_id,
                 "CHECKPOINT_TOKEN": tokens[spec.checkpoint_id]}
        if args.standin:
            child.update(HOSTNAME=f"pi-{spec.checkpoint_id}", STANDIN_INTERVAL=str(args.interval),
                         STANDIN_LATITUDE=str(spec.latitude), STANDIN_LONGITUDE=str(spec.longitude))
            argv = [sys.executable, "-m", "demo.standin"]
        else:
            child.update(edge_env(spec, number, data, footage[spec.checkpoint_id], args.port))
            argv = [sys.executable, "-m", "edge_agent"]
        processes.append(_spawn(argv, child, logs / f"{spec.checkpoint_id}.log"))
    return processes


def edge_env(spec: CheckpointSpec, number: int, data: Path, footage: Path, dashboard_port: int) -> dict[str, str]:
    """The edge agent's settings for one demo checkpoint (its own outbox and control API port)."""
    return {"DB_PATH": str((data / spec.checkpoint_id / "lpr_data.db").resolve()),
            "CAMERA_SOURCE": str(footage.resolve()), "DETECTOR": "cpu", "CAMERA_FPS": "5",
            "EDGE_API_HOST": "127.0.0.1", "EDGE_API_PORT": str(dashboard_port + number),
            "EDGE_HOSTNAME": f"pi-{spec.checkpoint_id}", "EDGE_LATITUDE": str(spec.latitude),
            "EDGE_LONGITUDE": str(spec.longitude), "EDGE_HEALTH_INTERVAL_S": "15",
            "WEBSOCKET_LOG_FILE": str((data / "logs" / f"{spec.checkpoint_id}.uplink.log").resolve())}


def prepare_footage(specs, root: Path, vehicles: int) -> dict[str, Path]:
    """Render each checkpoint's footage once (different cars per checkpoint); reuse it on later runs."""
    from edge_agent.vision.render import write_demo_footage

    folders = {}
    for number, spec in enumerate(specs, start=1):
        folder = root / f"{spec.checkpoint_id}-{vehicles}"
        if not (folder / "footage.json").exists():
            print(f"demo: rendering footage for {spec.checkpoint_id} ({vehicles} cars; first run only) ...",
                  flush=True)
            write_demo_footage(folder, seed=number, vehicles=vehicles)
        folders[spec.checkpoint_id] = folder
    return folders


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # Ctrl-C goes to the demo, which stops children in order


def wait_http(url: str, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    """Wait for ``url`` to answer; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"demo: the {what} exited with {process.returncode}; see its log")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"demo: the {what} did not answer at {url} within {timeout:.0f} s")


def stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process (in the order given) and wait for it; kill after 15 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop


def run(args: argparse.Namespace) -> int:
    data = args.dir
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = base_env(data)
    ingest_env = {**env, "INGEST_HOST": "127.0.0.1", "INGEST_PORT": str(args.ingest_port),
                  "OFFLINE_AFTER_SECONDS": "30"}
    specs = CHECKPOINTS[:args.checkpoints]
    tokens = {spec.checkpoint_id: provision(ingest_env, spec) for spec in specs}
    place_checkpoints(env)
    username, password = demo_login(env)
    dash_env = {**env, "DASHBOARD_HOST": "127.0.0.1", "DASHBOARD_PORT": str(args.port),
                "DASHBOARD_SECRET_FILE": str(data / "dashboard-secret.key")}
    started: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        ingest = _spawn([sys.executable, "-m", "central_server"], ingest_env, logs / "central.log")
        started.append(ingest)
        wait_http(f"http://127.0.0.1:{args.ingest_port}/healthz", ingest, "central server")
        dashboard = _spawn([sys.executable, "-m", "dashboard"], dash_env, logs / "dashboard.log")
        started.append(dashboard)
        wait_http(f"http://127.0.0.1:{args.port}/login", dashboard, "dashboard")
        started += launch_checkpoints(specs, tokens, f"ws://127.0.0.1:{args.ingest_port}", env, args, data)
        _announce(args, username, password, logs)
        _wait(started, args.duration)
    except (KeyboardInterrupt, _Stop):
        print("\ndemo: stopping ...", flush=True)
    finally:
        stop_all(list(reversed(started)))  # checkpoints, then dashboard, then ingest
    print("demo: stopped", flush=True)
    return 0


def _announce(args, username: str, password: str, logs: Path) -> None:
    kind = "stand-in senders" if args.standin else "edge agents replaying rendered footage, CPU detector"
    print(f"\nAI Camera Fleet demo is running ({args.checkpoints} checkpoints: {kind}; SQLite, no Redis)\n"
          f"  Dashboard: http://127.0.0.1:{args.port}/\n"
          f"  Login:     {username} / {password}\n"
          f"  Ingest:    ws://127.0.0.1:{args.ingest_port}\n"
          + ("" if args.standin else "".join(
              f"  Edge {n}:    http://127.0.0.1:{args.port + n}/ (the checkpoint's own pages)\n"
              for n in range(1, args.checkpoints + 1)))
          + f"  Logs:      {logs}/\n"
          f"Press Ctrl-C to stop.", flush=True)


def _wait(processes: list[subprocess.Popen], duration: float) -> None:
    deadline = time.monotonic() + duration if duration else None
    while deadline is None or time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                print(f"demo: {' '.join(process.args[1:])} exited with {process.returncode}; stopping", flush=True)
                return
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
