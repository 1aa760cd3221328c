"""Misread correction through the dashboard: editors and admins correct, viewers cannot, search finds both reads."""

from __future__ import annotations

import csv
import re

import pytest

from dashboard.users import Role, add_user
from fleet_store.audit import entries
from fleet_store.corrections import corrections_of
from tests.dashboard.cli import run_dashboard
from tests.dashboard.conftest import csrf_token, login
from tests.dashboard.support import add_detection


@pytest.fixture
def editor(app, sqlite_engine):
    """A test client logged in as an editor."""
    add_user(sqlite_engine, "ed", "editor-pass-123", Role.EDITOR)
    client = app.test_client()
    assert login(client, "ed", "editor-pass-123").status_code == 302
    return client


def _correct(client, row_id: int, **form):
    token = csrf_token(client.get(f"/detections/{row_id}").get_data(as_text=True))
    return client.post(f"/detections/{row_id}/correct", data={"csrf_token": token, **form})


def test_an_editor_corrects_and_search_finds_both_reads(editor, sqlite_engine):
    """The detail page shows the corrected read and the original; search by either finds the row."""
    row_id = add_detection(sqlite_engine, "กข1234", province="ขอนแก่น")
    add_detection(sqlite_engine, "ZZ999")
    answer = _correct(editor, row_id, plate="กข1284", province="ขอนแก่น", note="3 is an 8")
    assert answer.status_code == 302
    page = editor.get(f"/detections/{row_id}").get_data(as_text=True)
    assert 'id="detail-plate">กข1284' in page
    assert re.search(r'id="original-read">.*กข1234', page) and "3 is an 8" in page
    for part in ("1284", "1234", "กข12"):
        found = editor.get("/detections", query_string={"plate": part}).get_data(as_text=True)
        assert f"/detections/{row_id}" in found and "ZZ999" not in found, part
    actions = [(e.actor, e.action, e.remote) for e in entries(sqlite_engine)]
    assert ("ed", "correct", "127.0.0.1") in actions and ("ed", "view", "127.0.0.1") in actions


def test_search_by_original_province(admin, sqlite_engine):
    """A corrected province does not hide the row from a search by the province first read."""
    row_id = add_detection(sqlite_engine, "AB1", province="ภูเก็ต")
    assert _correct(admin, row_id, plate="AB1", province="ยะลา").status_code == 302
    for province in ("ภูเก็ต", "ยะลา"):
        found = admin.get("/detections", query_string={"province": province}).get_data(as_text=True)
        assert f"/detections/{row_id}" in found


def test_a_viewer_cannot_correct(viewer, sqlite_engine):
    """A viewer sees no correction form, and a forged POST is refused (403) and changes nothing."""
    row_id = add_detection(sqlite_engine, "AB1")
    page = viewer.get(f"/detections/{row_id}").get_data(as_text=True)
    assert 'id="correct-form"' not in page
    token = csrf_token(page)
    answer = viewer.post(f"/detections/{row_id}/correct", data={"csrf_token": token, "plate": "EVIL"})
    assert answer.status_code == 403 and corrections_of(sqlite_engine, row_id) == []


def test_corrections_need_csrf_and_valid_input(editor, sqlite_engine):
    """No CSRF token: 400; a bad province or an empty plate: an error message and no change; unknown id: 404."""
    row_id = add_detection(sqlite_engine, "AB1")
    assert editor.post(f"/detections/{row_id}/correct", data={"plate": "AB7"}).status_code == 400
    bad = _correct(editor, row_id, plate="AB7", province="<script>")
    assert "not a Thai province" in editor.get(bad.location).get_data(as_text=True)
    empty = _correct(editor, row_id, plate="")
    assert "Enter the registration" in editor.get(empty.location).get_data(as_text=True)
    assert corrections_of(sqlite_engine, row_id) == []
    token = csrf_token(editor.get(f"/detections/{row_id}").get_data(as_text=True))
    assert editor.post("/detections/9999/correct", data={"csrf_token": token, "plate": "X1"}).status_code == 404


def test_cli_exports_the_labelled_set(sqlite_engine, sqlite_url, tmp_path):
    """``corrections export DIR`` writes labels.csv and the crops, and audits the export."""
    images = tmp_path / "images"
    (images / "cp1").mkdir(parents=True)
    (images / "cp1/p.jpg").write_bytes(b"\xff\xd8crop")
    from fleet_store.corrections import correct

    correct(sqlite_engine, add_detection(sqlite_engine, "AB1", plate_image_path="cp1/p.jpg"), "AB7", "", "ann")
    done = run_dashboard(sqlite_url, "corrections", "export", str(tmp_path / "set"), env={"IMAGE_DIR": str(images)})
    assert done.returncode == 0, done.stderr
    assert "1 corrected detections, 1 crops" in done.stdout
    with open(tmp_path / "set/labels.csv", encoding="utf-8") as handle:
        assert [(r["plate"], r["read_plate"], r["crop"]) for r in csv.DictReader(handle)] == [
            ("AB7", "AB1", "crops/1.jpg")]
    assert [(e.actor, e.action, e.subject) for e in entries(sqlite_engine)][0] == ("cli", "export", "corrections")
