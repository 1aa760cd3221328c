"""The deployed fleet started from the deployed tree with the deployed env files, as its units would.

Ingest behind nginx's TLS, a checkpoint's detection stored centrally, token rotation, and the
playbook's closing service checks against running and dead services.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.images import scene_jpeg
from tests.support.messages import detection, dumps

from .fleet import CENTRAL, EDGES, Run, read_env_file
from .services import nginx_main_config, port_free, start_unit, stop, wait_http

pytestmark = pytest.mark.slow
INGEST_PORT, HTTPS_PORT, WSS_PORT = 28765, 28443, 28444


@dataclass(frozen=True)
class Central:
    """The running central host: its root, env, the CA to trust, and where logs go."""

    root: Path
    env: dict[str, str]
    tls: ssl.SSLContext
    logs: Path

    def detections(self, checkpoint_id: str) -> list[str]:
        """Plates stored centrally for ``checkpoint_id``."""
        path = self.env["CENTRAL_DB_URL"].removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT license_plate FROM lpr_detections WHERE checkpoint_id = ?",
                              (checkpoint_id,)).fetchall()
        return [r[0] for r in rows]


def _deployed_module_works(root: Path, module: str) -> bool:
    current = root / "opt/aicamera/current"
    proc = subprocess.run([str(current / "venv/bin/python"), "-m", module, "--help"], cwd=current,
                          capture_output=True, timeout=60)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def central(deployed, tmp_path_factory) -> Iterator[Central]:
    """The central host's ingest and nginx, started from what Ansible deployed."""
    if shutil.which("nginx", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("nginx is not installed (see requirements/apt.txt)")
    busy = [p for p in (INGEST_PORT, HTTPS_PORT, WSS_PORT) if not port_free(p)]
    if busy:
        pytest.skip(f"ports {busy} of the test inventory are in use on 127.0.0.1")
    root, logs = deployed.fleet.root(CENTRAL), tmp_path_factory.mktemp("central-logs")
    env = read_env_file(root / "etc/aicamera/central/.env.production")
    tls = ssl.create_default_context(cafile=str(deployed.fleet.test_dir / "pki/ca.pem"))
    ingest = start_unit(root, "aicamera-ingest.service", logs / "ingest.log")
    nginx = subprocess.Popen(["nginx", "-p", str(logs), "-e", str(logs / "error.log"),
                              "-c", str(nginx_main_config(root, logs))],
                             stdout=(logs / "nginx.log").open("wb"), stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{INGEST_PORT}/healthz", ingest, logs / "ingest.log")
        wait_http(f"https://127.0.0.1:{WSS_PORT}/healthz", nginx, logs / "error.log", context=tls)
        yield Central(root, env, tls, logs)
    finally:
        stop(nginx)
        stop(ingest)


def test_ingest_answers_through_nginx_only_to_clients_trusting_the_fleet_ca(central):
    """/healthz answers over https on the wss port with the edges' CA; the system CAs reject it."""
    with urllib.request.urlopen(f"https://localhost:{WSS_PORT}/healthz", context=central.tls) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://localhost:{WSS_PORT}/healthz", context=ssl.create_default_context())


def test_provisioned_token_stores_a_detection_through_nginx(central, deployed):
    """An edge host's provisioned token and CA store a detection over wss; a wrong token is refused."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    env = read_env_file(deployed.fleet.root(EDGES[1]) / "etc/aicamera/edge/.env.production")
    tls = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    with pytest.raises(InvalidStatus) as refused:
        connect(env["WEBSOCKET_SERVER_URL"], ssl=tls, additional_headers={"Authorization": "Bearer wrong"})
    assert refused.value.response.status_code in (401, 403)
    message = detection(scene_jpeg(), checkpoint_id=env["CHECKPOINT_ID"], license_plate="DPL0001")
    with connect(env["WEBSOCKET_SERVER_URL"], ssl=tls,
                 additional_headers={"Authorization": f"Bearer {env['CHECKPOINT_TOKEN']}"}) as ws:
        ws.send(dumps(message))
        answer = json.loads(ws.recv(timeout=30))
    assert answer["status"] == "success", answer
    assert "DPL0001" in central.detections(env["CHECKPOINT_ID"])


def test_dashboard_login_page_through_nginx(central, deployed):
    """The deployed dashboard serves /login over https through nginx."""
    if not _deployed_module_works(central.root, "dashboard"):
        pytest.skip("`python -m dashboard --help` fails in the deployed tree (dashboard not merged yet)")
    proc = start_unit(central.root, "aicamera-dashboard.service", central.logs / "dashboard.log")
    try:
        body = wait_http(f"https://localhost:{HTTPS_PORT}/login", proc, central.logs / "dashboard.log",
                         context=central.tls)
        assert b"<form" in body.lower()
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def edge_agent(central, deployed, tmp_path_factory) -> Iterator[tuple[dict, Path, subprocess.Popen]]:
    """The first edge host's agent, started from its deployed tree; yields its env and log."""
    root = deployed.fleet.root(EDGES[0])
    if not _deployed_module_works(root, "edge_agent"):
        pytest.skip("`python -m edge_agent --help` fails in the deployed tree (edge agent not merged "
                    "yet); the central side was checked with the edge's token above")
    env = read_env_file(root / "etc/aicamera/edge/.env.production")
    frames = Path(env["CAMERA_SOURCE"])
    frames.mkdir(parents=True, exist_ok=True)
    (frames / "0001.jpg").write_bytes(scene_jpeg())
    log = tmp_path_factory.mktemp("edge-logs") / "edge.log"
    agent = start_unit(root, "aicamera-edge.service", log)
    try:
        wait_http(f"http://127.0.0.1:{env['EDGE_API_PORT']}/api/health_status", agent, log)
        yield env, log, agent
    finally:
        stop(agent)


def test_edge_agent_detection_is_stored_centrally(central, edge_agent, tmp_path):
    """A detection another program puts in the agent's outbox reaches the central DB over wss."""
    env, log, agent = edge_agent
    _insert_outside_detection(Path(env["DB_PATH"]), tmp_path, "EDG0101")
    _wait_for(lambda: "EDG0101" in central.detections(env["CHECKPOINT_ID"]), agent, log)


@dataclass(frozen=True)
class ConfigRun:
    """A `--tags config` run over both edges with token rotation and the closing service check,
    while only the first edge's agent runs: tokens before, the run, tokens after."""

    before: dict[str, dict[str, str]]
    run: Run
    after: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def config_run(edge_agent, deployed) -> ConfigRun:
    """Rotate both edges' tokens and run the service checks, in one playbook run."""
    def envs() -> dict[str, dict[str, str]]:
        return {h: read_env_file(deployed.fleet.root(h) / "etc/aicamera/edge/.env.production") for h in EDGES}

    before = envs()
    run = deployed.fleet.playbook("--limit", ",".join(EDGES), "--tags", "config", "-e", "edge_rotate_token=true",
                                  "-e", "edge_healthcheck=true", "-e", "edge_healthcheck_retries=1")
    return ConfigRun(before, run, envs())


def test_playbook_final_check_passes_for_the_running_agent(config_run):
    """The playbook's closing service check passes on the checkpoint whose agent answers."""
    assert config_run.run.failed[EDGES[0]] == 0, config_run.run.output[-3000:]
    assert f"ok: [{EDGES[0]}]" in _health_check_section(config_run.run.output)


def test_playbook_final_check_fails_for_a_dead_service(config_run):
    """The closing service check fails the run on the checkpoint whose agent does not answer."""
    assert config_run.run.returncode != 0 and config_run.run.failed[EDGES[1]] == 1, config_run.run.output[-3000:]
    assert f"fatal: [{EDGES[1]}]" in _health_check_section(config_run.run.output)


def _health_check_section(output: str) -> str:
    """The playbook output of the control API check task, up to the next task."""
    found = re.search(r"answers /api/health_status\] \*+\n(.*?)\n(?:TASK|RUNNING|PLAY)", output, re.S)
    assert found, output[-3000:]
    return found[1]


def _insert_outside_detection(db_path: Path, tmp_path: Path, plate: str) -> None:
    image = tmp_path / "plate.jpg"
    image.write_bytes(scene_jpeg(seed=7))
    with sqlite3.connect(db_path) as db:
        db.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, image_path) "
                   "VALUES (?, ?, ?, ?)",
                   (plate, 91.0, datetime.now().isoformat(timespec="seconds"), str(image)))


def _wait_for(condition, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"not delivered (agent exit {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def test_rotating_a_token_refuses_the_old_one(central, config_run):
    """`-e edge_rotate_token=true` issues a new token the ingest accepts and retires the old one."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    old, new = config_run.before[EDGES[1]], config_run.after[EDGES[1]]
    assert all(config_run.before[h]["CHECKPOINT_TOKEN"] != config_run.after[h]["CHECKPOINT_TOKEN"] for h in EDGES)
    tls = ssl.create_default_context(cafile=new["SSL_CERT_FILE"])
    with pytest.raises(InvalidStatus):
        connect(new["WEBSOCKET_SERVER_URL"], ssl=tls,
                additional_headers={"Authorization": f"Bearer {old['CHECKPOINT_TOKEN']}"})
    with connect(new["WEBSOCKET_SERVER_URL"], ssl=tls,
                 additional_headers={"Authorization": f"Bearer {new['CHECKPOINT_TOKEN']}"}):
        pass
