"""Misread corrections on SQLite and PostgreSQL: the read changes, the original stays, all is audited."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from fleet_store.audit import entries
from fleet_store.corrections import CorrectionError, correct, corrections_of, export_labelled
from fleet_store.schema import detection_corrections, lpr_detections
from tests.dashboard.support import add_detection


def _read(engine, detection_id: int) -> tuple[str, str]:
    with engine.connect() as conn:
        row = conn.execute(select(lpr_detections.c.license_plate, lpr_detections.c.province)
                           .where(lpr_detections.c.id == detection_id)).one()
    return tuple(row)


def test_a_correction_changes_the_read_and_keeps_the_original(engine):
    """Two corrections: the row holds the last read, the history both, the audit log both with who and from where."""
    row_id = add_detection(engine, "กข1234", province="ขอนแก่น")
    correct(engine, row_id, "กข 1284", "ขอนแก่น", "ann", "10.0.0.5", note="8 read as 3")
    correct(engine, row_id, "กข 1284", "กรุงเทพมหานคร", "bob")
    assert _read(engine, row_id) == ("กข 1284", "กรุงเทพมหานคร")
    history = corrections_of(engine, row_id)
    assert [(c.actor, c.before_plate, c.before_province, c.after_plate, c.after_province) for c in history] == [
        ("ann", "กข1234", "ขอนแก่น", "กข 1284", "ขอนแก่น"), ("bob", "กข 1284", "ขอนแก่น", "กข 1284", "กรุงเทพมหานคร")]
    assert history[0].note == "8 read as 3" and history[0].at <= history[1].at
    logged = [e for e in entries(engine) if e.action == "correct"]
    assert [(e.actor, e.subject, e.remote) for e in logged] == [("bob", f"detection:{row_id}", ""),
                                                                ("ann", f"detection:{row_id}", "10.0.0.5")]
    assert logged[1].detail["before"] == ["กข1234", "ขอนแก่น"]


@pytest.mark.parametrize(("plate", "province", "why"), [
    ("", "", "1-32"), ("A" * 33, "", "1-32"), ("AB%1", "", "1-32"), ("AB\x001", "", "1-32"),
    ("AB1", "Atlantis", "not a Thai province"), ("AB1", "", "already")])
def test_bad_corrections_change_nothing(engine, plate, province, why):
    """Invalid reads, and a 'correction' to the same read, are refused and leave no trace."""
    row_id = add_detection(engine, "AB1")
    with pytest.raises(CorrectionError, match=why):
        correct(engine, row_id, plate, province, "ann")
    assert _read(engine, row_id) == ("AB1", "") and corrections_of(engine, row_id) == []
    assert entries(engine) == []


def test_an_unknown_detection_is_refused(engine):
    """Correcting a detection that does not exist raises and records nothing."""
    with pytest.raises(CorrectionError, match="no detection"):
        correct(engine, 999, "AB1", "", "ann")
    assert entries(engine) == []


def test_deleting_a_detection_deletes_its_corrections(engine):
    """Retention and erasure need no extra step: corrections go with their detection."""
    row_id = add_detection(engine, "AB1")
    correct(engine, row_id, "AB7", "", "ann")
    with engine.begin() as conn:
        conn.execute(delete(lpr_detections).where(lpr_detections.c.id == row_id))
        assert conn.execute(select(detection_corrections)).all() == []


def test_labelled_set_has_labels_and_crops(engine, tmp_path):
    """The export lists each corrected detection once with its final and original read and copies its crop."""
    images = tmp_path / "images"
    (images / "cp1").mkdir(parents=True)
    (images / "cp1/a-plate.jpg").write_bytes(b"\xff\xd8crop")
    (images / "cp1/b.jpg").write_bytes(b"\xff\xd8scene")
    with_crop = add_detection(engine, "AB1", plate_image_path="cp1/a-plate.jpg", image_path="cp1/a.jpg")
    scene_only = add_detection(engine, "กข12", image_path="cp1/b.jpg", province="ภูเก็ต")
    add_detection(engine, "UNTOUCHED")
    escape = add_detection(engine, "XY1", image_path="../../etc/passwd")
    correct(engine, with_crop, "AB7", "", "ann")
    correct(engine, with_crop, "AB77", "", "bob")
    correct(engine, scene_only, "กข12", "ยะลา", "ann")
    correct(engine, escape, "XY7", "", "ann")
    written = export_labelled(engine, images, tmp_path / "set")
    with open(written.labels, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert (written.rows, written.crops) == (3, 2)
    assert [(r["detection_id"], r["plate"], r["province"], r["read_plate"], r["read_province"], r["corrected_by"])
            for r in rows] == [(str(with_crop), "AB77", "", "AB1", "", "bob"),
                               (str(scene_only), "กข12", "ยะลา", "กข12", "ภูเก็ต", "ann"),
                               (str(escape), "XY7", "", "XY1", "", "ann")]
    assert (tmp_path / "set" / rows[0]["crop"]).read_bytes() == b"\xff\xd8crop"
    assert (tmp_path / "set" / rows[1]["crop"]).read_bytes() == b"\xff\xd8scene"
    assert rows[2]["crop"] == ""
    later = export_labelled(engine, images, tmp_path / "later", since=datetime.now(UTC) + timedelta(minutes=1))
    assert later.rows == 0
