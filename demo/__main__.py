"""``python -m demo`` (``make demo``): the whole fleet on one machine, SQLite only, no Redis.

Starts the central ingest (``python -m central_server``), the dashboard
(``python -m dashboard``) and three simulated checkpoints, all with their data
under ``var/demo``; prints the dashboard URL and a login; Ctrl-C (or SIGTERM)
stops everything cleanly, checkpoints first.

Checkpoints are started by a launcher, one small function each:
:func:`launch_edge_agents` (the default when the edge agent's vision is
installed) runs the real edge agent per checkpoint, replaying rendered footage
through its CPU plate reader; :func:`launch_standins` runs
``python -m demo.standin``, a stand-in that speaks the protocol itself.
"""

from __future__ import annotations

import argparse
import importlib.util
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

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class CheckpointSpec:
    """A demo checkpoint: id, human name, and where it stands."""

    checkpoint_id: str
    name: str
    latitude: float
    longitude: float


DEMO_SITE = "Demo town"
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
    parser.add_argument("--checkpoints", choices=sorted(LAUNCHERS), default=None,
                        help="edge: real edge agents replaying rendered footage (default when installed); "
                             "standin: stand-in senders")
    return parser


def base_env(data: Path) -> dict[str, str]:
    """Environment shared by every demo process (SQLite under ``data``, no Redis)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CENTRAL_", "INGEST_", "DASHBOARD_", "REDIS_", "CHECKPOINT_", "WEBSOCKET_"))}
    env.update(CENTRAL_DB_URL=f"sqlite:///{(data / 'central.db').resolve()}",
               IMAGE_DIR=str((data / "images").resolve()), LOG_FORMAT="text", PYTHONPATH=str(REPO),
               PYTHONUNBUFFERED="1")
    return env


def _central_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "central_server", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def provision(env: dict[str, str], spec: CheckpointSpec) -> str:
    """Register a checkpoint (or rotate its token on a re-run), set its name, site and position for
    the map with the same commands an operator uses, and return the token (last output line)."""
    for action in ("add", "rotate"):
        result = _central_cli(env, "checkpoints", action, spec.checkpoint_id)
        if result.returncode == 0:
            token = result.stdout.strip().splitlines()[-1]
            break
    else:
        raise SystemExit(f"demo: could not provision {spec.checkpoint_id}: {result.stderr.strip()}")
    placed = _central_cli(env, "checkpoints", "set", spec.checkpoint_id, "--name", spec.name, "--site", DEMO_SITE,
                          "--lat", str(spec.latitude), "--lon", str(spec.longitude))
    if placed.returncode != 0:
        raise SystemExit(f"demo: could not place {spec.checkpoint_id}: {placed.stderr.strip()}")
    return token


def demo_login(env: dict[str, str]) -> tuple[str, str]:
    """A fresh password for user ``admin`` on every run (created if missing)."""
    from dashboard.errors import UserError
    from dashboard.users import Role, add_user, set_password
    from fleet_store import db

    engine = db.make_engine(env["CENTRAL_DB_URL"])
    db.upgrade(engine)
    password = secrets.token_urlsafe(9)
    try:
        add_user(engine, "admin", password, Role.ADMIN)
    except UserError:
        set_password(engine, "admin", password)
    engine.dispose()
    return "admin", password


def launch_standins(specs, tokens: dict[str, str], ingest_url: str, env: dict[str, str],
                    interval: float, data: Path) -> list[subprocess.Popen]:
    """One stand-in sender per checkpoint, speaking protocol v1 itself."""
    processes = []
    for spec in specs:
        child = {**env, "WEBSOCKET_SERVER_URL": ingest_url, "CHECKPOINT_ID": spec.checkpoint_id,
                 "CHECKPOINT_TOKEN": tokens[spec.checkpoint_id], "HOSTNAME": f"pi-{spec.checkpoint_id}",
                 "STANDIN_INTERVAL": str(interval), "STANDIN_LATITUDE": str(spec.latitude),
                 "STANDIN_LONGITUDE": str(spec.longitude)}
        processes.append(_spawn([sys.executable, "-m", "demo.standin"], child,
                                data / "logs" / f"{spec.checkpoint_id}.log"))
    return processes


def launch_edge_agents(specs, tokens: dict[str, str], ingest_url: str, env: dict[str, str],
                       interval: float, data: Path) -> list[subprocess.Popen]:
    """Per checkpoint, the real edge agent replaying rendered footage through its CPU detector.

    Footage (cars with Thai and Latin plates driving up, from
    ``demo.render``) is rendered once per checkpoint and reused on
    later runs; the agent replays the folder in a loop (``CAMERA_SOURCE``).
    ``interval`` does not apply: the footage sets the pace.
    """
    processes = []
    for number, spec in enumerate(specs, 1):
        home = (data / "edge" / spec.checkpoint_id).resolve()
        footage = ensure_footage(home / "footage", seed=number)
        child = {**env, "WEBSOCKET_SERVER_URL": ingest_url, "CHECKPOINT_ID": spec.checkpoint_id,
                 "CHECKPOINT_TOKEN": tokens[spec.checkpoint_id], "DB_PATH": str(home / "lpr_data.db"),
                 "EDGE_API_PORT": "0", "DETECTOR": "cpu", "CAMERA_SOURCE": str(footage),
                 "EDGE_HOSTNAME": f"pi-{spec.checkpoint_id}", "EDGE_LATITUDE": str(spec.latitude),
                 "EDGE_LONGITUDE": str(spec.longitude), "EDGE_HEALTH_INTERVAL_S": "15"}
        processes.append(_spawn([sys.executable, "-m", "edge_agent"], child,
                                data / "logs" / f"{spec.checkpoint_id}.log"))
    return processes


def ensure_footage(folder: Path, seed: int) -> Path:
    """Render a checkpoint's demo footage unless it is already there."""
    if not (folder / "footage.json").exists():
        from demo.render import write_demo_footage

        print(f"demo: rendering footage into {folder} ...", flush=True)
        write_demo_footage(folder, seed=seed, vehicles=4, size=(960, 540))
    return folder


LAUNCHERS = {"edge": launch_edge_agents, "standin": launch_standins}


def default_launcher() -> str:
    """``edge`` when the edge agent and its vision are installed, else ``standin``."""
    try:
        found = importlib.util.find_spec("demo.render") and importlib.util.find_spec("onnxruntime")
    except ImportError:
        found = None
    return "edge" if found else "standin"


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
    tokens = {spec.checkpoint_id: provision(ingest_env, spec) for spec in CHECKPOINTS}
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
        launcher = LAUNCHERS[args.checkpoints or default_launcher()]
        started += launcher(CHECKPOINTS, tokens, f"ws://127.0.0.1:{args.ingest_port}", env, args.interval, data)
        _announce(args, username, password, logs, launcher.__name__)
        _wait(started, args.duration)
    except (KeyboardInterrupt, _Stop):
        print("\ndemo: stopping ...", flush=True)
    finally:
        stop_all(list(reversed(started)))  # checkpoints, then dashboard, then ingest
    print("demo: stopped", flush=True)
    return 0


def _announce(args, username: str, password: str, logs: Path, launcher: str) -> None:
    kind = "edge agents replaying rendered footage" if launcher == "launch_edge_agents" else "stand-in senders"
    print(f"\nAI Camera Fleet demo is running ({len(CHECKPOINTS)} checkpoints as {kind}; SQLite, no Redis)\n"
          f"  Dashboard: http://127.0.0.1:{args.port}/\n"
          f"  Login:     {username} / {password}\n"
          f"  Ingest:    ws://127.0.0.1:{args.ingest_port}\n"
          f"  Logs:      {logs}/\n"
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
