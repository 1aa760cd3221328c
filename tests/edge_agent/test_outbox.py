"""The SQLite outbox: durable submit, lifecycle, claims, restart, outside-program rows."""

from __future__ import annotations

import io
import re
import sqlite3
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from edge_agent.delivery import Delivery, Kind, Outcome, Result
from edge_agent.errors import ImageError
from edge_agent.events import PlateEvent
from edge_agent.ids import uuid7_time_ms
from edge_agent.outbox import Identity, Outbox
from edge_agent.outbox_reader import OutboxReader
from fleet_protocol import Detection
from tests.edge_agent.conftest import make_event, make_jpeg, outside_sql


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
    assert "unusable" in outbox.recent(1)[0].last_error


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
    assert all(r["event_id"] for r in outside_sql(box, "SELECT event_id FROM detection_results"))
    columns = {r["name"] for r in outside_sql(box, "PRAGMA table_info(detection_results)")}
    assert {"province", "province_confidence", "plate_image_path", "delivery"} <= columns
    box.close()


def test_every_field_a_plate_event_shares_with_the_protocol_is_sent(outbox):
    """Each PlateEvent field that fleet_protocol.Detection also has arrives in the claimed message unchanged."""
    event = PlateEvent(license_plate="1กข1234", confidence=93.5, timestamp=datetime(2025, 5, 1, 8, 30, tzinfo=UTC),
                       scene_jpeg=make_jpeg(), plate_jpeg=make_jpeg(160, 60), plate_raw="1 กข 1234",
                       province="เชียงใหม่", province_confidence=71.5, box=(1, 2, 3, 4), vehicle_type="car",
                       vehicle_color="red", exposure_time=0.01, analog_gain=2.0, lux=300.0)
    outbox.submit(event)
    (item,) = outbox.claim(1)
    shared = {f.name for f in fields(PlateEvent)} & {f.name for f in fields(Detection)}
    assert shared >= {"province", "province_confidence", "plate_raw", "license_plate", "lux"}
    assert {name: getattr(item.message, name) for name in shared} == {name: getattr(event, name) for name in shared}
    assert (item.message.image, item.message.plate_image) == (event.scene_jpeg, event.plate_jpeg)


def test_outside_row_with_province_and_plate_crop_sends_both(outbox, tmp_path):
    """A row another program inserts with province and plate_image_path is sent with both; a large crop is shrunk."""
    scene, crop = allowed(outbox, "scene.jpg"), allowed(outbox, "crop.jpg")
    scene.write_bytes(make_jpeg(320, 240))
    crop.write_bytes(make_jpeg(1200, 500))
    outside_sql(outbox, "INSERT INTO detection_results (license_plate, confidence, timestamp, image_path, province, "
                        "plate_image_path) VALUES ('1กข1234', 90, '2025-06-01T12:00:00', ?, 'ภูเก็ต', ?)",
                (str(scene), str(crop)))
    assert outbox.prepare_outside_rows() == 1
    (item,) = outbox.claim(5)
    assert item.message.province == "ภูเก็ต" and item.message.image == scene.read_bytes()
    with Image.open(io.BytesIO(item.message.plate_image)) as image:
        assert image.size == (640, 267)
    assert outbox.image_path(item.event_id, "plate").is_relative_to(outbox.config.image_dir)
    copy = outbox.image_path(item.event_id, "scene")  # small enough: kept byte for byte, in the agent's folder
    assert copy != scene and copy.is_relative_to(outbox.config.image_dir) and copy.read_bytes() == scene.read_bytes()


def test_outside_row_with_unusable_plate_crop_is_sent_with_scene_and_reason(outbox, tmp_path):
    """A plate crop that is not a picture is dropped (noted in last_error); the scene still goes."""
    scene, crop = allowed(outbox, "scene.jpg"), allowed(outbox, "crop.jpg")
    scene.write_bytes(make_jpeg(320, 240))
    crop.write_bytes(b"not a jpeg")
    outside_sql(outbox, "INSERT INTO detection_results (license_plate, confidence, timestamp, image_path, "
                        "plate_image_path) VALUES ('OUT3', 80, '2025-06-01T12:00:00', ?, ?)", (str(scene), str(crop)))
    outbox.prepare_outside_rows()
    (item,) = outbox.claim(5)
    assert item.message.plate_image is None and item.message.image == scene.read_bytes()
    assert outbox.recent(1)[0].last_error.startswith(f"plate image {crop} unusable")


def test_sent_to_server_mirrors_every_lifecycle_state(outbox):
    """For every row, old SQL's sent_to_server equals what the Delivery state says."""
    for i in range(4):
        outbox.submit(make_event(f"M{i}"))
    a, b, c, _ = outbox.claim(4)
    outbox.apply([Outcome(Kind.DETECTION, a.row_id, Result.DELIVERED, record_id=1),
                  Outcome(Kind.DETECTION, b.row_id, Result.REJECTED, reason="invalid_field: x"),
                  Outcome(Kind.DETECTION, c.row_id, Result.RETRY, reason="unavailable", retry_at=0)])
    rows = outside_sql(outbox, "SELECT delivery, sent_to_server FROM detection_results ORDER BY id")
    assert [Delivery(r["delivery"]) for r in rows] == [Delivery.DELIVERED, Delivery.REJECTED, Delivery.PENDING,
                                                      Delivery.IN_FLIGHT]
    assert all(r["sent_to_server"] == Delivery(r["delivery"]).sent_to_server for r in rows)


def test_read_only_reader_sees_the_agents_rows_and_writes_nothing(outbox):
    """The doctor's read-only view lists what the running outbox holds and refuses to write."""
    event_id = outbox.submit(make_event("RO1", province="ขอนแก่น"))
    with OutboxReader.open_read_only(outbox.config.db_path) as reader:
        (row,) = reader.unsent(10)
        assert (row.event_id, row.province, row.delivery, row.has_plate) == (event_id, "ขอนแก่น", Delivery.PENDING,
                                                                            True)
        assert reader.quick_check() == "ok" and reader.unsent_count(Kind.DETECTION) == 1
        with pytest.raises(sqlite3.OperationalError):
            reader._conn.execute("DELETE FROM detection_results")


def allowed(outbox, name: str):
    """A path in a folder outside programs may name images in (here: under the image folder)."""
    folder = outbox.config.image_dir / "incoming"
    folder.mkdir(exist_ok=True)
    return folder / name
