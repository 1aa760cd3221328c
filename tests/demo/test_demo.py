"""``python -m demo`` end to end, and the stand-in sender's pieces."""

from __future__ import annotations

import http.cookiejar
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import create_engine, func, select

from demo.standin import random_plate, render_scene
from fleet_protocol import inspect_jpeg
from fleet_store.schema import health_monitors, lpr_detections
from tests.support.ingest import REPO, _free_port


def test_rendered_scenes_are_valid_jpegs():
    """Each rendered scene is a JPEG the ingest accepts (640x480)."""
    rng = random.Random(1)
    for _ in range(3):
        info = inspect_jpeg(render_scene(random_plate(rng), rng), max_pixels=4_000_000)
        assert (info.width, info.height) == (640, 480)


def test_plates_are_thai_or_latin():
    """Plates look like Thai (letters + number) or Latin (3 letters + 4 digits) registrations."""
    rng = random.Random(2)
    plates = [random_plate(rng) for _ in range(200)]
    assert any(re.fullmatch(r"\d?[ก-ฮ]{2} \d{1,4}", p) for p in plates)
    assert any(re.fullmatch(r"[A-Z]{3}\d{4}", p) for p in plates)
    assert all(re.fullmatch(r"\d?[ก-ฮ]{2} \d{1,4}|[A-Z]{3}\d{4}", p) for p in plates)


def _login(base: str, username: str, password: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token}).encode()
    return opener.open(base + "/login", data=body, timeout=10).read().decode()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.parametrize("checkpoints", ["edge", "standin"])
def test_demo_runs_and_stops_cleanly_on_ctrl_c(tmp_path, checkpoints):
    """The demo prints a working login, detections arrive from all three checkpoints, Ctrl-C stops it all."""
    port, ingest_port = _free_port(), _free_port()
    demo = subprocess.Popen([sys.executable, "-m", "demo", "--dir", str(tmp_path), "--port", str(port),
                             "--ingest-port", str(ingest_port), "--interval", "0.3", "--checkpoints", checkpoints],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = ""
        while "Press Ctrl-C" not in output:
            line = demo.stdout.readline()
            assert line, f"demo ended early:\n{output}"
            output += line
        username, password = re.search(r"Login:\s+(\S+) / (\S+)", output).groups()
        assert f"http://127.0.0.1:{port}/" in output
        assert "Fleet overview" in _login(f"http://127.0.0.1:{port}", username, password)
        engine = create_engine(f"sqlite:///{tmp_path / 'central.db'}")
        deadline = time.monotonic() + 90  # the edge agents load their OCR models first
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                per_checkpoint = dict(conn.execute(select(lpr_detections.c.checkpoint_id, func.count())
                                                   .group_by(lpr_detections.c.checkpoint_id)).all())
            if len(per_checkpoint) == 3:
                break
            time.sleep(0.3)
        assert set(per_checkpoint) == {"demo-1", "demo-2", "demo-3"}
        if checkpoints == "edge":  # the agents deliver their own health too
            assert "edge agents replaying rendered footage" in output
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(health_monitors)).scalar_one() > 0
        engine.dispose()
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0
        assert "demo: stopped" in rest
        assert not _port_open(port) and not _port_open(ingest_port)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def test_feeder_inserts_rows_an_edge_agent_adopts(tmp_path):
    """--outbox mode writes the scene and plate crop JPEGs and the columns an outside program may give."""
    import sqlite3
    import threading

    from demo.standin import StandinSettings, feed_outbox
    from edge_agent import schema

    db_path = tmp_path / "lpr_data.db"
    with sqlite3.connect(db_path) as conn:  # the outbox schema, as the edge agent creates it
        schema.migrate(conn)
    stopping = threading.Event()
    threading.Timer(1.0, stopping.set).start()
    fed = feed_outbox(db_path, StandinSettings(standin_interval=0.1), stopping)
    assert fed > 0
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT license_plate, image_path, delivery, province, plate_image_path "
                            "FROM detection_results").fetchall()
    assert len(rows) == fed and all(delivery == "pending" for _, _, delivery, _, _ in rows)
    assert all(plate for plate, *_ in rows)
    assert all(bool(province) == any("\u0e00" <= c <= "\u0e7f" for c in plate) for plate, _, _, province, _ in rows)
    assert all(inspect_jpeg(open(path, "rb").read(), max_pixels=4_000_000)
               for _, scene, _, _, crop in rows for path in (scene, crop))
