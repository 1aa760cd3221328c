"""Watchlist and allow-list CSV on the page and the CLI: Thai text, tags, notes, expiry, all or nothing."""

from __future__ import annotations

import csv
import io

import pytest

from fleet_store.audit import entries
from fleet_store.lists import ListKind, list_entries
from tests.dashboard.cli import run_dashboard
from tests.dashboard.conftest import csrf_token

GOOD = ("\ufeffplate,province,note,tags,expires,tolerance\n"
        "1กข1234,กรุงเทพมหานคร,รถหาย แจ้งความแล้ว,stolen;police,2099-01-31,1\n"
        "ABC*,,\"note, with comma\",,,0\n")
BAD = ("plate,province,note,tags,expires,tolerance\n"
       "GOOD1,,,,,0\n"
       "กข 99,Atlantis,,,,0\n"
       ",,,,,0\n"
       "GOOD2,,,,tomorrow,0\n"
       "GOOD1,,,,,0\n")


def _upload(client, path: str, data: bytes, name: str = "list.csv"):
    token = csrf_token(client.get(path.rsplit("/", 1)[0]).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_import_then_export_round_trips_thai(admin, sqlite_engine):
    """A UTF-8 file with a BOM, Thai, tags, a quoted note and an expiry imports; the export reads back the same."""
    answer = _upload(admin, "/watchlist/import", GOOD.encode())
    assert answer.status_code == 302
    assert "Imported: 2 added, 0 updated." in admin.get("/watchlist").get_data(as_text=True)
    [thai, abc] = list_entries(sqlite_engine, ListKind.WATCH)
    assert (thai.pattern, thai.province, thai.note, thai.fields.tags, thai.fields.tolerance) == (
        "1กข1234", "กรุงเทพมหานคร", "รถหาย แจ้งความแล้ว", ("stolen", "police"), 1)
    assert abc.note == "note, with comma" and abc.fields.expires_at is None
    exported = admin.get("/watchlist.csv")
    assert exported.headers["Content-Disposition"].startswith('attachment; filename="watchlist-')
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).removeprefix("\ufeff"))))
    assert [(r["plate"], r["tags"], r["expires"][:10]) for r in rows] == [("1กข1234", "stolen;police", "2099-01-31"),
                                                                         ("ABC*", "", "")]
    again = _upload(admin, "/watchlist/import", exported.get_data())
    assert again.status_code == 302 and len(list_entries(sqlite_engine, ListKind.WATCH)) == 2
    assert [e.action for e in entries(sqlite_engine) if e.action.startswith("list.")] == [
        "list.import", "list.export", "list.import"]


def test_a_bad_line_imports_nothing_and_names_every_problem(admin, sqlite_engine):
    """Each bad line is listed with its number and reason; the good lines are not written either."""
    answer = _upload(admin, "/watchlist/import", BAD.encode())
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "Nothing was imported" in page
    for expected in ("line 3: &#39;Atlantis&#39; is not a Thai province", "line 4: a plate or pattern",
                     "line 5: expires must be a date", "line 6: GOOD1 repeats line 2"):
        assert expected in page, expected
    assert list_entries(sqlite_engine, ListKind.WATCH) == []


@pytest.mark.parametrize(("data", "why"), [
    (b"plate,colour\nAB1,red\n", "unknown column(s) colour"),
    ("plate,note\nAB1,ทดสอบ\n".encode("cp874"), "line 2: not UTF-8"),
    (b"", "the header must name"),
    (b"plate\nAB1,extra\n", "more cells than the header")])
def test_malformed_files_are_refused(admin, sqlite_engine, data, why):
    """Unknown columns, a Windows-874 file, an empty file and extra cells are refused with a reason."""
    answer = _upload(admin, "/watchlist/import", data)
    assert answer.status_code == 400 and why in answer.get_data(as_text=True)
    assert list_entries(sqlite_engine, ListKind.WATCH) == []


def test_allowlist_has_sites_and_checkpoints(admin, sqlite_engine):
    """The allow-list takes site and checkpoint columns and shows them; a tolerance is refused there."""
    text = "plate,province,note,tags,expires,tolerance,site,checkpoint\nกก1,,resident,,,0,Site A,\nขข2,,,,,0,,cp-7\n"
    assert _upload(admin, "/allowlist/import", text.encode()).status_code == 302
    page = admin.get("/allowlist").get_data(as_text=True)
    assert "Site A" in page and "cp-7" in page and "resident" in page
    bad = _upload(admin, "/allowlist/import", "plate,tolerance\nคค3,1\n".encode())
    assert bad.status_code == 400 and "always 0 on the allow-list" in bad.get_data(as_text=True)


def test_viewers_may_export_but_not_import(viewer, sqlite_engine):
    """A viewer downloads the CSV; an upload with a valid CSRF token is refused (403) and nothing changes."""
    assert viewer.get("/allowlist.csv").status_code == 200
    assert 'id="import-form"' not in viewer.get("/watchlist").get_data(as_text=True)
    assert _upload(viewer, "/watchlist/import", GOOD.encode()).status_code == 403
    assert viewer.post("/watchlist/import", data={}).status_code in (400, 403)
    assert list_entries(sqlite_engine, ListKind.WATCH) == []


def test_cli_imports_and_exports(sqlite_engine, sqlite_url, tmp_path):
    """``lists import`` writes all lines or none (errors on stderr, exit 1); ``lists export`` reads them back."""
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(BAD, encoding="utf-8")
    good.write_text(GOOD, encoding="utf-8")
    refused = run_dashboard(sqlite_url, "lists", "import", "watchlist", str(bad))
    assert refused.returncode == 1 and "line 3:" in refused.stderr and "line 6:" in refused.stderr
    assert list_entries(sqlite_engine, ListKind.WATCH) == []
    done = run_dashboard(sqlite_url, "lists", "import", "watchlist", str(good))
    assert done.returncode == 0 and "2 added, 0 updated" in done.stdout
    out = tmp_path / "out.csv"
    assert run_dashboard(sqlite_url, "lists", "export", "watchlist", "-o", str(out)).returncode == 0
    assert "1กข1234" in out.read_text(encoding="utf-8-sig")
    assert "ABC*" in run_dashboard(sqlite_url, "lists", "export", "watchlist").stdout
    assert [(e.actor, e.action) for e in entries(sqlite_engine)][:2] == [("cli", "list.export"), ("cli", "list.export")]
