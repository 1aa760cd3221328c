"""Detection search on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm): partial plates, filters, pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.errors import SearchError
from dashboard.search import SearchQuery, export_csv, search
from tests.dashboard.support import add_detection

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def plates(engine):
    """Latin and Thai plates on two checkpoints, one minute apart."""
    values = [("ABC1234", "cp1", 95.0), ("กข 1234", "cp1", 80.0), ("XYZ9876", "cp2", 60.0),
              ("1กก 5678", "cp2", 99.0), ("abc9999", "cp2", 70.0)]
    return {plate: add_detection(engine, plate, cp, when=T0 + timedelta(minutes=i), confidence=conf)
            for i, (plate, cp, conf) in enumerate(values)}


def _plates(engine, **query) -> list[str]:
    return [row.license_plate for row in search(engine, SearchQuery(**query)).rows]


@pytest.mark.parametrize(("part", "expected"), [
    ("123", ["กข 1234", "ABC1234"]),
    ("abc", ["abc9999", "ABC1234"]),
    ("กข", ["กข 1234"]),
    ("กข 12", ["กข 1234"]),
    ("กก 56", ["1กก 5678"]),
    ("9", ["abc9999", "XYZ9876"]),
    ("nothing", []),
    ("%", ["abc9999", "1กก 5678", "XYZ9876", "กข 1234", "ABC1234"]),
])
def test_partial_plates_match_anywhere_case_insensitively(engine, plates, part, expected):
    """A part of a plate (Thai or Latin, 1 or more characters) finds every plate containing it."""
    assert _plates(engine, plate=part) == expected


def test_filters_combine(engine, plates):
    """Checkpoint, time range and minimum confidence narrow the results together."""
    assert _plates(engine, checkpoint_id="cp2") == ["abc9999", "1กก 5678", "XYZ9876"]
    assert _plates(engine, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)) == \
        ["XYZ9876", "กข 1234"]
    assert _plates(engine, min_confidence=90) == ["1กก 5678", "ABC1234"]
    assert _plates(engine, plate="1234", checkpoint_id="cp1", min_confidence=90) == ["ABC1234"]


def test_pages_continue_by_id(engine, plates):
    """Keyset pages cover every row once, newest first."""
    first = search(engine, SearchQuery(), page_size=2)
    second = search(engine, SearchQuery(before_id=first.next_before), page_size=2)
    third = search(engine, SearchQuery(before_id=second.next_before), page_size=2)
    seen = [r.license_plate for page in (first, second, third) for r in page.rows]
    assert seen == ["abc9999", "1กก 5678", "XYZ9876", "กข 1234", "ABC1234"]
    assert third.next_before is None


def test_search_follows_inserts_and_deletes(engine, plates):
    """The trigram index is kept in step with the table (new rows found, deleted rows gone)."""
    from sqlalchemy import delete

    from fleet_store.schema import lpr_detections

    add_detection(engine, "NEW777")
    assert _plates(engine, plate="w77") == ["NEW777"]
    with engine.begin() as conn:
        conn.execute(delete(lpr_detections).where(lpr_detections.c.license_plate == "NEW777"))
    assert _plates(engine, plate="w77") == []


def test_a_corrected_read_is_found_by_either_read_with_the_filters(engine, plates):
    """Both databases find a corrected detection by its read now and its read before the correction,
    by parts long enough for the trigram index and by shorter ones, with other filters applied."""
    from fleet_store.corrections import correct

    correct(engine, plates["XYZ9876"], "XYZ9376", "", actor="ed")
    for part in ("9376", "9876", "Z98", "YZ"):
        assert _plates(engine, plate=part) == ["XYZ9376"], part
        assert _plates(engine, plate=part, checkpoint_id="cp1") == [], part
    assert _plates(engine, plate="987") == ["XYZ9376"]
    assert _plates(engine, plate="123") == ["กข 1234", "ABC1234"]


def test_bad_queries_are_refused():
    """An inverted time range or an impossible confidence is a SearchError."""
    with pytest.raises(SearchError):
        SearchQuery(start=T0, end=T0 - timedelta(hours=1))
    with pytest.raises(SearchError):
        SearchQuery(min_confidence=150)


def test_export_writes_every_match_in_the_display_zone(engine, plates):
    """CSV export starts with a BOM (Excel on Thai Windows), has a header, every matching row and local times."""
    text = "".join(export_csv(engine, SearchQuery(plate="1234"), ZoneInfo("Asia/Bangkok")))
    assert text.startswith("\ufeff")
    lines = text[1:].strip().splitlines()
    assert lines[0].startswith("id,timestamp,checkpoint_id,license_plate,province,")
    assert len(lines) == 3
    assert "2026-11-01T19:01:00+07:00,cp1,กข 1234,,80.0" in lines[1]


def test_search_page_and_csv_download(admin, sqlite_engine):
    """The search page lists matches with links; the CSV link downloads the same rows."""
    add_detection(sqlite_engine, "QQ1234", "cp9")
    add_detection(sqlite_engine, "ZZ0000", "cp9")
    page = admin.get("/detections?plate=Q12&checkpoint=cp9").get_data(as_text=True)
    assert "QQ1234" in page and "ZZ0000" not in page
    response = admin.get("/detections.csv?plate=Q12&checkpoint=cp9")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=\"detections-")
    assert response.get_data(as_text=True).count("QQ1234") == 1


def test_search_filters_by_province(admin, sqlite_engine):
    """The same registration from two provinces is two cars: the province filter tells them apart."""
    add_detection(sqlite_engine, "1กข1234", province="กรุงเทพมหานคร")
    add_detection(sqlite_engine, "1กข1234", province="เชียงใหม่")
    page = admin.get("/detections?plate=กข1234&province=เชียงใหม่").get_data(as_text=True)
    assert page.count('<td class="province">') == 1 and '<td class="province">เชียงใหม่</td>' in page
    assert '<option selected>เชียงใหม่</option>' in page
    csv_text = admin.get("/detections.csv?province=เชียงใหม่").get_data(as_text=True)
    assert csv_text.count("เชียงใหม่") == 1 and "กรุงเทพมหานคร" not in csv_text


def test_older_pages_keep_the_filters_and_render(admin, sqlite_engine):
    """Three clicks on Older walk through the matches; each page renders and keeps only the search filters."""
    for n in range(130):
        add_detection(sqlite_engine, f"OLD{n:03d}", "cp7")
    add_detection(sqlite_engine, "OTHER", "cp8")
    url, seen = "/detections?plate=OLD&checkpoint=cp7&endpoint=x&_external=1", []
    for _ in range(3):
        response = admin.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        seen += re.findall(r">(OLD\d{3})</a>", page)
        older = re.search(r'id="older" href="([^"]+)"', page)
        if older is None:
            break
        url = html.unescape(older.group(1))
        assert "endpoint" not in url and "_external" not in url and "checkpoint=cp7" in url
    assert len(seen) == 130 and len(set(seen)) == 130


def test_search_page_explains_bad_input(admin):
    """A malformed date is answered 400 with the reason, not a crash."""
    response = admin.get("/detections?start=yesterday")
    assert response.status_code == 400
    assert "not a date and time" in response.get_data(as_text=True)
