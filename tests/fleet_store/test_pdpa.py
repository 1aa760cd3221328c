"""PDPA: everything held on a registration exports into one zip, erases without a trace, and holds block erasure."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from sqlalchemy import func, select

from fleet_store.audit import AuditEntry, entries, record
from fleet_store.corrections import correct
from fleet_store.lists import EntryFields, ListKind, add_entry, list_entries
from fleet_store.pdpa import PlateError, PlateHeld, PlateKey, erase_plate, export_plate, hold, holds_on, unhold
from fleet_store.schema import detection_corrections, lpr_detections
from tests.dashboard.support import add_detection


@pytest.fixture
def held_data(engine, tmp_path):
    """Three reads of กข 1234 (one first misread as กข1284, one in another province), one other plate; files."""
    images = tmp_path / "images"
    (images / "cp1").mkdir(parents=True)

    def stored(name: str) -> str:
        (images / "cp1" / name).write_bytes(b"\xff\xd8" + name.encode())
        return f"cp1/{name}"

    ids = {
        "bkk": add_detection(engine, "กข 1234", province="กรุงเทพมหานคร", image_path=stored("a.jpg"),
                             plate_image_path=stored("a-plate.jpg")),
        "misread": add_detection(engine, "กข1284", province="กรุงเทพมหานคร", image_path=stored("b.jpg")),
        "cm": add_detection(engine, "กข-1234", province="เชียงใหม่", image_path=stored("c.jpg")),
        "other": add_detection(engine, "ZZ9", image_path=stored("z.jpg")),
    }
    correct(engine, ids["misread"], "กข1234", "กรุงเทพมหานคร", "ann")
    add_entry(engine, ListKind.WATCH, EntryFields("กข1234", note="owner asked"), "ann")
    add_entry(engine, ListKind.ALLOW, EntryFields("ZZ9"), "ann")
    record(engine, AuditEntry("bob", "search", "", "กข1234", "10.0.0.9"))
    record(engine, AuditEntry("bob", "view", f"detection:{ids['cm']}", "กข-1234", "10.0.0.9"))
    return images, ids


def test_export_holds_rows_images_corrections_lists_and_audit(engine, tmp_path, held_data):
    """The zip has every read of the plate (by any spelling, a fixed misread included), its images and records."""
    images, ids = held_data
    out = tmp_path / "out.zip"
    result = export_plate(engine, images, PlateKey.of("กข1234"), out, "dpo")
    assert (result.detections, result.images, result.corrections, result.list_entries) == (3, 4, 1, 1)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        rows = list(csv.DictReader(io.StringIO(archive.read("detections.csv").decode("utf-8-sig"))))
        audit_rows = list(csv.DictReader(io.StringIO(archive.read("audit.csv").decode("utf-8-sig"))))
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read(f"images/{ids['bkk']}-plate.jpg") == b"\xff\xd8a-plate.jpg"
    assert {int(r["id"]) for r in rows} == {ids["bkk"], ids["misread"], ids["cm"]}
    assert {"corrections.csv", "list_entries.csv", f"images/{ids['cm']}.jpg"} <= names
    assert f"images/{ids['other']}.jpg" not in names
    assert {(r["actor"], r["action"]) for r in audit_rows} >= {("bob", "search"), ("bob", "view"), ("ann", "correct")}
    assert manifest["plate"] == "กข1234" and manifest["counts"]["detections"] == 3
    assert entries(engine, limit=1)[0].action == "plates.export"


def test_province_narrows(engine, tmp_path, held_data):
    """With a province only that province's reads are exported."""
    images, ids = held_data
    result = export_plate(engine, images, PlateKey.of("กข1234", "เชียงใหม่"), tmp_path / "cm.zip", "dpo")
    assert result.detections == 1


def test_erase_leaves_no_row_and_no_file(engine, held_data):
    """Every row and file of the plate goes (corrections and list entries too); the other plate stays whole."""
    images, ids = held_data
    result = erase_plate(engine, images, PlateKey.of("กข 1234"), "dpo", "request 42")
    assert (result.detections, result.files, result.list_entries) == (3, 4, 1)
    with engine.connect() as conn:
        left = conn.execute(select(lpr_detections.c.id, lpr_detections.c.license_plate)).all()
        assert conn.execute(select(func.count()).select_from(detection_corrections)).scalar_one() == 0
        plates = conn.execute(select(lpr_detections.c.license_plate)).scalars().all()
    assert [tuple(r) for r in left] == [(ids["other"], "ZZ9")] and not any("1234" in p for p in plates)
    assert sorted(p.name for p in (images / "cp1").iterdir()) == ["z.jpg"]
    assert list_entries(engine, ListKind.WATCH) == [] and len(list_entries(engine, ListKind.ALLOW)) == 1
    erased = entries(engine, limit=1)[0]
    assert (erased.actor, erased.action, erased.detail["detections"], erased.detail["reason"]) == (
        "dpo", "plates.erase", 3, "request 42")
    again = erase_plate(engine, images, PlateKey.of("กข1234"), "dpo")
    assert (again.detections, again.files) == (0, 0)


def test_a_legal_hold_blocks_erasure_until_lifted(engine, held_data):
    """Under a hold (every province, or the one asked) erase is refused and touches nothing; unhold frees it."""
    images, ids = held_data
    hold(engine, PlateKey.of("กข1234", "เชียงใหม่"), "case 7/2569", "legal")
    with pytest.raises(PlateHeld, match="case 7/2569"):
        erase_plate(engine, images, PlateKey.of("กข1234"), "dpo")
    with pytest.raises(PlateHeld):
        erase_plate(engine, images, PlateKey.of("กข1234", "เชียงใหม่"), "dpo")
    assert erase_plate(engine, images, PlateKey.of("กข1234", "กรุงเทพมหานคร"), "dpo").detections == 2
    assert (images / "cp1/c.jpg").exists()
    with pytest.raises(PlateError, match="already"):
        hold(engine, PlateKey.of("กข1234", "เชียงใหม่"), "again", "legal")
    unhold(engine, PlateKey.of("กข1234", "เชียงใหม่"), "legal")
    assert holds_on(engine, PlateKey.of("กข1234")) == []
    assert erase_plate(engine, images, PlateKey.of("กข1234"), "dpo").detections == 1
    assert [e.action for e in entries(engine, limit=4)] == ["plates.erase", "plates.unhold", "plates.erase",
                                                            "plates.hold"]


@pytest.mark.parametrize(("plate", "province"), [("", ""), ("AB*", ""), ("%", ""), ("AB1", "Atlantis"),
                                                 ("A" * 33, "")])
def test_bad_requests_are_refused(plate, province):
    """Wildcards, empty plates and unknown provinces are not a registration."""
    with pytest.raises(PlateError):
        PlateKey.of(plate, province)


def test_watchlist_alerts_about_the_plate_are_exported_and_erased(engine, tmp_path, held_data):
    """A watchlist hit names the plate (subject and detail): export includes it, erase removes it and its
    queued deliveries, and alerts about other plates stay."""
    from datetime import UTC, datetime

    from fleet_store.alerts import Rule, raise_alert, watch_subject
    from fleet_store.schema import alert_deliveries, alerts

    images, ids = held_data
    now = datetime.now(UTC)
    with engine.begin() as conn:
        mine = raise_alert(conn, Rule.WATCHLIST, watch_subject("กข1234", "กรุงเทพมหานคร"), "cp1",
                           {"license_plate": "กข1234", "detection_id": ids["bkk"]}, now, ("webhook",))
        other = raise_alert(conn, Rule.WATCHLIST, watch_subject("ZZ9", ""), "cp1", {"license_plate": "ZZ9"}, now,
                            ("webhook",))
    out = tmp_path / "alerts.zip"
    export_plate(engine, images, PlateKey.of("กข1234"), out, "dpo")
    with zipfile.ZipFile(out) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("alerts.csv").decode("utf-8-sig"))))
        assert json.loads(archive.read("manifest.json"))["counts"]["alerts"] == 1
    assert [int(r["id"]) for r in rows] == [mine.id]
    erase_plate(engine, images, PlateKey.of("กข1234"), "dpo")
    with engine.connect() as conn:
        left = set(conn.execute(select(alerts.c.id)).scalars())
        queued = set(conn.execute(select(alert_deliveries.c.alert_id)).scalars())
    assert left == {other.id} and mine.id not in queued
