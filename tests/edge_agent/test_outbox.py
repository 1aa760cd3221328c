"""The SQLite outbox: durable submit, lifecycle, claims, restart, outside-program rows."""

from __future__ import annotations

import io
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from PIL import Image

from edge_agent.errors import ImageError
from edge_agent.ids import uuid7_time_ms
from edge_agent.outbox import Identity, Kind, Outbox, Outcome, Result
from tests.edge_agent.conftest import make_event, make_jpeg


def raw(outbox: Outbox) -> sqlite3.Connection:
    return sqlite3.connect(outbox.config.db_path, isolation_level=None)


def test_submit_commits_row_and_images_before_returning(outbox):
    """After submit returns, another connection sees the row and both JPEGs are on disk."""
    event_id = outbox.submit(make_event("XY99"))
    row = raw(outbox).execute("SELECT license_plate, sent_to_server, delivery, image_path, "
                              "plate_image_path FROM detection_results WHERE event_id = ?",
                              (event_id,)).fetchone()
    assert row[:3] == ("XY99", 0, "pending")
    assert open(row[3], "rb").read(2) == b"\xff\xd8" and open(row[4], "rb").read(2) == b"\xff\xd8"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", Path(row[3]).parent.name)  # one folder per day


def test_large_scene_is_compressed_once_small_kept_as_is(outbox):
    """A 1920x1080 scene is fitted into 640x480; a 320x240 JPEG is stored byte for byte."""
    small = make_jpeg(320, 240)
    big_id = outbox.submit(make_event(scene=make_jpeg(1920, 1080, quality=95)))
    small_id = outbox.submit(make_event(scene=small))
    paths = dict(raw(outbox).execute("SELECT event_id, image_path FROM detection_results"))
    with Image.open(paths[big_id]) as image:
        assert image.width <= 640 and image.height <= 480
    assert open(paths[small_id], "rb").read() == small


def test_bad_image_raises_and_stores_nothing(outbox):
    """A scene that is not a picture is refused with ImageError and no row is written."""
    with pytest.raises(ImageError):
        outbox.submit(make_event(scene=b"not a jpeg at all"))
    assert raw(outbox).execute("SELECT count(*) FROM detection_results").fetchone()[0] == 0


def test_event_ids_are_time_ordered_uuid7(outbox):
    """Event ids are version-7 UUIDs that sort in insertion order."""
    ids = [outbox.submit(make_event(f"P{i}")) for i in range(5)]
    assert ids == sorted(ids) and all(uuid.UUID(i).version == 7 for i in ids)
    assert uuid7_time_ms(ids[0]) > 1.7e12


def test_claim_takes_oldest_first_and_moves_to_in_flight(outbox):
    """Claims return the oldest pending rows, health first, and mark them in flight."""
    for i in range(5):
        outbox.submit(make_event(f"P{i}"))
    claimed = outbox.claim(3)
    assert [c.message.license_plate for c in claimed] == ["P0", "P1", "P2"]
    assert claimed[0].message.image[:2] == b"\xff\xd8" and claimed[0].attempts == 1
    assert outbox.backlog(Kind.DETECTION).in_flight == 3
    assert [c.message.license_plate for c in outbox.claim(10)] == ["P3", "P4"]


def test_outcomes_set_lifecycle_and_sent_to_server(outbox):
    """Delivered -> 1, rejected -> 2 with the reason, retry -> pending until its time."""
    for i in range(3):
        outbox.submit(make_event(f"P{i}"))
    a, b, c = outbox.claim(3)
    outbox.apply([Outcome(Kind.DETECTION, a.row_id, Result.DELIVERED, record_id=11),
                  Outcome(Kind.DETECTION, b.row_id, Result.REJECTED, reason="invalid_field: bad"),
                  Outcome(Kind.DETECTION, c.row_id, Result.RETRY, reason="unavailable", retry_at=2e9)])
    rows = raw(outbox).execute("SELECT delivery, sent_to_server, server_record_id, last_error "
                               "FROM detection_results ORDER BY id").fetchall()
    assert rows == [("delivered", 1, 11, None), ("rejected", 2, None, "invalid_field: bad"),
                    ("pending", 0, None, "unavailable")]
    assert outbox.claim(10) == [] and len(outbox.claim(10, now=2e9 + 1)) == 1


def test_restart_returns_in_flight_rows_to_pending(outbox_config, outbox):
    """Rows in flight when the process died are pending again after reopening."""
    for i in range(4):
        outbox.submit(make_event(f"P{i}"))
    outbox.claim(4)
    outbox.close()
    reopened = Outbox.open(outbox_config, Identity("cp-1"))
    assert reopened.backlog(Kind.DETECTION).pending == 4
    reopened.close()


def test_outside_program_row_gets_event_id_and_is_prepared(outbox, tmp_path):
    """A row with only the four documented columns gets an id at insert and is delivered."""
    photo = outbox.config.image_dir / "incoming" / "outside.jpg"  # an allowed folder
    photo.parent.mkdir()
    photo.write_bytes(make_jpeg(1280, 720))
    con = raw(outbox)
    con.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, image_path) "
                "VALUES ('OUT1', 88.0, '2025-03-01T08:00:00', ?)", (str(photo),))
    event_id = con.execute("SELECT event_id FROM detection_results").fetchone()[0]
    assert uuid.UUID(event_id).version == 7
    assert outbox.claim(5) == []  # not sendable until its image is prepared
    assert outbox.prepare_outside_rows() == 1
    (item,) = outbox.claim(5)
    assert item.event_id == event_id and item.message.license_plate == "OUT1"
    with Image.open(io.BytesIO(item.message.image)) as image:
        assert image.size == (640, 360)


def test_outside_row_with_missing_image_is_sent_without_one(outbox):
    """A missing image file does not hold the row back; last_error records why."""
    raw(outbox).execute("INSERT INTO detection_results (license_plate, confidence, timestamp, "
                        "image_path) VALUES ('OUT2', 70, '2025-03-01T08:00:00', '/nonexistent.jpg')")
    outbox.prepare_outside_rows()
    (item,) = outbox.claim(5)
    assert item.message.image is None
    assert "unusable" in outbox.query("SELECT last_error FROM detection_results")[0]["last_error"]


def test_old_database_is_upgraded_in_place(outbox_config):
    """An old scripts' table gains the lifecycle columns; rows already sent count as delivered."""
    outbox_config.db_path.parent.mkdir(parents=True)
    con = sqlite3.connect(outbox_config.db_path, isolation_level=None)
    con.execute("CREATE TABLE detection_results (id INTEGER PRIMARY KEY AUTOINCREMENT, license_plate "
                "TEXT, confidence REAL, timestamp TEXT, image_path TEXT, sent_to_server INTEGER DEFAULT 0)")
    con.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, sent_to_server) "
                "VALUES ('OLD1', 90, '2024-01-01T00:00:00', 1), ('OLD2', 90, '2024-01-01T00:00:00', 0)")
    box = Outbox.open(outbox_config, Identity("cp-1"))
    backlog = box.backlog(Kind.DETECTION)
    assert (backlog.delivered, backlog.pending) == (1, 1)
    assert all(r["event_id"] for r in box.query("SELECT event_id FROM detection_results"))
    box.close()
