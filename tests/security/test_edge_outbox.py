"""Threat model, edge outbox: rows written by outside programs are data, never trusted paths or ids
(findings 10 and 11).

``python -m central_server`` and ``python -m edge_agent`` run as processes on 127.0.0.1;
an "outside program" inserts rows into the agent's SQLite outbox while it delivers, as the
documented integration allows. Every test here failed on main at b009fd5.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid

import pytest
import requests

from tests.edge_agent.harness import TIME_SCALE, agent_process, edge_settings
from tests.support.images import scene_jpeg
from tests.support.ingest import _free_port, ingest_process, ingest_settings
from tests.support.processes import wait_http

pytestmark = [pytest.mark.slow]
SECRET = b"CHECKPOINT_TOKEN=cpt_THIS_IS_THE_SECRET_TOKEN\n"


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """Ingest + agent processes; outside programs may name images under ``incoming/`` only."""
    tmp = tmp_path_factory.mktemp("outbox-attack")
    incoming = tmp / "incoming"
    incoming.mkdir()
    (tmp / "etc").mkdir()
    (tmp / "etc" / "agent.env").write_bytes(SECRET)
    with ingest_process(ingest_settings(f"sqlite:///{tmp / 'central.db'}", tmp / "central"),
                        log_path=tmp / "ingest.log") as server:
        token = server.add_checkpoint("1")
        port = _free_port()
        settings = edge_settings(tmp, server.url, token, edge_api_port=port, edge_ack_timeout_s=3,
                                 edge_outside_image_dirs=(incoming,))
        with agent_process(settings, tmp / "agent.log"):
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/api/websocket_status")
            yield settings, base, incoming, tmp


def insert(settings, plate: str, image_path: str | None = None, **columns) -> str:
    """Insert a row as an outside program would; return its event_id."""
    names = ["license_plate", "confidence", "timestamp", "image_path", *columns]
    values = [plate, 80.0, "2026-11-30T10:00:00", image_path, *columns.values()]
    with contextlib.closing(sqlite3.connect(settings.db_path, timeout=10)) as con, con:
        con.execute(f"INSERT INTO detection_results ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    values)
        return con.execute("SELECT event_id FROM detection_results WHERE license_plate = ?", (plate,)).fetchone()[0]


def row(settings, plate: str) -> dict:
    with contextlib.closing(sqlite3.connect(settings.db_path, timeout=10)) as con:
        con.row_factory = sqlite3.Row
        return dict(con.execute("SELECT * FROM detection_results WHERE license_plate = ?", (plate,)).fetchone())


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds * TIME_SCALE
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def test_outside_row_cannot_serve_a_secret_file_as_an_image(edge):
    """Finding 10: a plate_image_path (or a link) naming the agent's env file never serves it."""
    settings, base, incoming, tmp = edge
    photo = incoming / "scene.jpg"
    photo.write_bytes(scene_jpeg(320, 240))
    (incoming / "link.jpg").symlink_to(tmp / "etc" / "agent.env")
    event_id = insert(settings, "SECRET1", str(photo), plate_image_path=str(tmp / "etc" / "agent.env"))
    linked = insert(settings, "SECRET2", str(incoming / "link.jpg"))
    bodies = [requests.get(f"{base}/images/{i}/{which}.jpg", timeout=5) for i in (event_id, f"{{{event_id}}}", linked)
              for which in ("scene", "plate")]  # before adoption
    wait_for(lambda: row(settings, "SECRET1")["delivery"] == "delivered", 20, "SECRET1 delivered")
    bodies += [requests.get(f"{base}/images/{i}/{which}.jpg", timeout=5) for i in (event_id, linked)
               for which in ("scene", "plate")]  # after adoption
    assert not [b for b in bodies if SECRET.strip() in b.content]
    adopted = row(settings, "SECRET1")
    assert adopted["plate_image_path"] is None and adopted["image_path"].startswith(str(settings.image_dir))
    assert "is outside the allowed image folders" in (tmp / "agent.log").read_text()


def test_fifo_image_path_cannot_halt_delivery(edge):
    """Finding 10: a row naming a FIFO is sent without an image; the rows behind it keep flowing."""
    settings, _, incoming, tmp = edge
    fifo = incoming / "pipe.jpg"
    os.mkfifo(fifo)
    insert(settings, "FIFO1", str(fifo))
    insert(settings, "AFTER1", None)
    wait_for(lambda: row(settings, "AFTER1")["delivery"] == "delivered", 15, "AFTER1 delivered behind a FIFO")
    fifo_row = wait_for(lambda: (r := row(settings, "FIFO1"))["delivery"] == "delivered" and r, 15, "FIFO1")
    assert fifo_row["image_path"] is None and f"{fifo} is not a regular file" in (tmp / "agent.log").read_text()


def test_oversized_file_is_not_read(edge):
    """Finding 10: a file past EDGE_OUTSIDE_IMAGE_MAX_MB (20) is refused by its size, not read into memory."""
    settings, _, incoming, tmp = edge
    big = incoming / "huge.jpg"
    with open(big, "wb") as handle:
        handle.truncate(600 * 1024 * 1024)  # sparse: costs no disk
    insert(settings, "BIG1", str(big))
    delivered = wait_for(lambda: (r := row(settings, "BIG1"))["delivery"] == "delivered" and r, 15, "BIG1")
    assert delivered["image_path"] is None and f"{big} is {600 * 1024 * 1024} bytes; the limit is" in \
        (tmp / "agent.log").read_text()


def test_upper_case_event_id_is_delivered_once(edge):
    """Finding 11: a row whose event_id is upper case is delivered on the first attempt, not reset forever."""
    settings, _, incoming, _ = edge
    photo = incoming / "upper.jpg"
    photo.write_bytes(scene_jpeg(320, 240, seed=4))
    upper = str(uuid.uuid4()).upper()
    insert(settings, "UPPER1", str(photo), event_id=upper)
    delivered = wait_for(lambda: (r := row(settings, "UPPER1"))["delivery"] == "delivered" and r, 12, "UPPER1")
    assert delivered["attempts"] == 1 and delivered["event_id"] == upper.lower()


def test_event_id_that_is_no_uuid_is_rejected_locally(edge):
    """Finding 11: an event_id that is not a UUID is rejected on the edge with the reason, not retried."""
    settings, _, _, _ = edge
    insert(settings, "BADID1", None, event_id="NOT-A-UUID")
    rejected = wait_for(lambda: (r := row(settings, "BADID1"))["delivery"] == "rejected" and r, 12, "BADID1")
    assert "not a UUID" in rejected["last_error"]
