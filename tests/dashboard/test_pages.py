"""Pages render real data: overview with map, live feed, health view, statistics, detail with image."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dashboard import queries
from fleet_store.imagefiles import stored_image
from tests.dashboard.support import add_checkpoint, add_connection_event, add_detection, add_health, ago
from tests.support.images import scene_jpeg


def test_overview_shows_state_counts_health_and_map(admin, sqlite_engine):
    """Each checkpoint has its state, last-hour count, worst component and backlog; placed ones are on the map."""
    add_checkpoint(sqlite_engine, "north", lat=13.9, lon=100.6, name="North gate")
    add_checkpoint(sqlite_engine, "south", status="offline", lat=13.6, lon=100.4)
    add_checkpoint(sqlite_engine, "nowhere", status="never", lat=None, lon=None)
    add_detection(sqlite_engine, "AB1", "north")
    add_detection(sqlite_engine, "AB2", "north")
    add_detection(sqlite_engine, "OLD", "north", when=ago(hours=3))
    add_health(sqlite_engine, "north", "camera", "PASS", outbox_backlog=7)
    add_health(sqlite_engine, "north", "disk", "WARN", message="disk 91% full")
    page = admin.get("/").get_data(as_text=True)
    north = re.search(r'<tr data-cp="north".*?</tr>', page, re.S).group(0)
    assert '<td class="count">2</td>' in north
    assert "s-WARN" in north and "disk 91% full" in north
    assert '<td class="backlog">7</td>' in north
    assert page.count('class="dot s-') == 2 and 'data-cp="south"' in page
    assert "Without position" in page and "nowhere" in page
    assert 'id="n-online">1<' in page and 'id="n-offline">1<' in page


def test_overview_of_an_empty_fleet(admin):
    """With no checkpoints the overview says so instead of failing."""
    assert "No checkpoints registered yet." in admin.get("/").get_data(as_text=True)


def test_health_view_has_components_series_and_history(admin, sqlite_engine):
    """The health view lists component statuses, chart data and the connection history."""
    add_checkpoint(sqlite_engine, "cp1")
    for minutes, cpu in ((30, "10%"), (20, "35%"), (10, "80%")):
        add_health(sqlite_engine, "cp1", "camera", "PASS", when=ago(minutes=minutes), cpu_usage=cpu,
                   memory_usage="50%", temperature="61.5C", outbox_backlog=minutes)
    add_health(sqlite_engine, "cp1", "uplink", "FAIL", message="server unreachable")
    add_connection_event(sqlite_engine, "cp1", "connected")
    add_connection_event(sqlite_engine, "cp1", "offline")
    page = admin.get("/checkpoints/cp1").get_data(as_text=True)
    assert "server unreachable" in page and "s-FAIL" in page
    assert '"cpu_percent": [10.0, 35.0, 80.0]' in page and '"temperature_c": [61.5, 61.5, 61.5]' in page
    history = re.search(r'<table class="grid-table" id="history">.*?</table>', page, re.S).group(0)
    assert history.index("offline") < history.index("connected")
    assert admin.get("/checkpoints/missing").status_code == 404


def test_live_feed_lists_the_newest_first(admin, sqlite_engine):
    """The live page starts with the latest detections, newest on top."""
    add_detection(sqlite_engine, "FIRST1")
    add_detection(sqlite_engine, "SECOND2")
    page = admin.get("/live").get_data(as_text=True)
    assert page.index("SECOND2") < page.index("FIRST1")


def test_detail_serves_the_stored_image(admin, sqlite_engine, settings):
    """The detail page shows the row and its stored JPEG; a missing file is a 404, not a crash."""
    jpeg = scene_jpeg(160, 120)
    path = settings.image_dir / "2026/11/24/cp1/a.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(jpeg)
    with_image = add_detection(sqlite_engine, "IMG1", image_path="2026/11/24/cp1/a.jpg", image_size=len(jpeg))
    without = add_detection(sqlite_engine, "NOIMG", image_path="2026/11/24/cp1/gone.jpg")
    assert 'id="detail-image"' in admin.get(f"/detections/{with_image}").get_data(as_text=True)
    image = admin.get(f"/detections/{with_image}/image")
    assert image.mimetype == "image/jpeg" and image.data == jpeg
    assert "No stored image." in admin.get(f"/detections/{without}").get_data(as_text=True)
    assert admin.get(f"/detections/{without}/image").status_code == 404
    assert admin.get("/detections/999999").status_code == 404


def test_province_and_plate_crop_are_shown_beside_the_plate(admin, sqlite_engine, settings):
    """The live feed and the detail page show the province; the detail page and lists show the plate crop."""
    crop = scene_jpeg(160, 72, seed=5)
    path = settings.image_dir / "2026/11/24/cp1/p.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(crop)
    found = add_detection(sqlite_engine, "1กข1234", province="เชียงใหม่", province_confidence=88.0,
                          plate_raw="1กข 1234", plate_image_path="2026/11/24/cp1/p.jpg")
    live = admin.get("/live").get_data(as_text=True)
    assert '<td class="province">เชียงใหม่</td>' in live and f"/detections/{found}/plate" in live
    detail = admin.get(f"/detections/{found}").get_data(as_text=True)
    assert 'id="detail-province">เชียงใหม่<' in detail and "(88.0)" in detail and "1กข 1234" in detail
    assert 'id="detail-plate-image"' in detail
    image = admin.get(f"/detections/{found}/plate")
    assert image.data == crop and "private" in image.headers["Cache-Control"]
    assert "public" not in image.headers["Cache-Control"]


def test_detail_names_the_vehicle_type_in_the_users_language(admin, sqlite_engine):
    """The Thai reader's vehicle types by name (English, Thai); another sender's value as it came."""
    pickup = add_detection(sqlite_engine, "ผธ472", province="ชลบุรี", vehicle_type="pickup")
    other = add_detection(sqlite_engine, "XY12", vehicle_type="sedan <b>")
    unknown = add_detection(sqlite_engine, "ZZ99")
    assert 'id="detail-vehicle">Pickup (private truck)' in admin.get(f"/detections/{pickup}").get_data(as_text=True)
    thai = admin.get(f"/detections/{pickup}", headers={"Accept-Language": "th"}).get_data(as_text=True)
    assert 'id="detail-vehicle">รถกระบะ (รถบรรทุกส่วนบุคคล)' in thai
    assert 'id="detail-vehicle">sedan &lt;b&gt;' in admin.get(f"/detections/{other}").get_data(as_text=True)
    assert 'id="detail-vehicle">–' in admin.get(f"/detections/{unknown}").get_data(as_text=True)


def test_image_paths_cannot_escape_the_image_dir(tmp_path):
    """A row whose image_path climbs out of IMAGE_DIR never serves that file."""
    (tmp_path / "secret.txt").write_text("x")
    (tmp_path / "images").mkdir()
    assert stored_image(tmp_path / "images", "../secret.txt") is None


def test_statistics_count_per_hour_and_local_day(sqlite_engine):
    """Counts are bucketed per hour, and per day in the fleet's zone (not UTC)."""
    bangkok = ZoneInfo("Asia/Bangkok")
    start = datetime(2026, 11, 1, 0, 0, tzinfo=bangkok)
    add_detection(sqlite_engine, "A", "cp1", when=datetime(2026, 11, 1, 16, 30, tzinfo=UTC))  # 23:30 local, day 1
    add_detection(sqlite_engine, "B", "cp1", when=datetime(2026, 11, 1, 17, 30, tzinfo=UTC))  # 00:30 local, day 2
    add_detection(sqlite_engine, "C", "cp2", when=datetime(2026, 11, 1, 17, 40, tzinfo=UTC))
    days = queries.detection_counts(sqlite_engine, start, start + timedelta(days=3), "day", bangkok)
    assert [b.day for b in days.buckets] == [1, 2, 3]
    assert days.series == {"cp1": [1, 1, 0], "cp2": [0, 1, 0]}
    hours = queries.detection_counts(sqlite_engine, start, start + timedelta(days=1, hours=1), "hour", bangkok)
    assert len(hours.buckets) == 25 and hours.totals == {"cp1": 2, "cp2": 1}


def test_statistics_page(admin, sqlite_engine):
    """The statistics page renders totals and chart data for both groupings."""
    add_detection(sqlite_engine, "S1", "cp7")
    for by in ("hour", "day"):
        page = admin.get(f"/statistics?by={by}").get_data(as_text=True)
        assert "<td>cp7</td><td>1</td>" in page and '"series": {"cp7"' in page


def test_language_follows_the_browser_then_the_users_choice(admin):
    """Thai is shown to a Thai browser; a saved choice wins over the browser."""
    thai = admin.get("/", headers={"Accept-Language": "th-TH,th;q=0.9"}).get_data(as_text=True)
    assert "ภาพรวมจุดตรวจ" in thai and '<html lang="th">' in thai
    page = admin.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    admin.post("/language", data={"locale": "th", "csrf_token": token, "next": "/"})
    assert "ภาพรวมจุดตรวจ" in admin.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_times_are_shown_in_the_fleet_zone(admin, sqlite_engine):
    """A UTC timestamp is displayed in Asia/Bangkok (UTC+7)."""
    add_detection(sqlite_engine, "TZ1", when=datetime(2026, 11, 1, 3, 0, tzinfo=UTC))
    assert "2026-11-01 10:00:00" in admin.get("/live").get_data(as_text=True)


def test_health_series_merges_one_round_of_components(sqlite_engine):
    """Components reported at the same moment become one chart point with every metric."""
    when = ago(minutes=5)
    add_health(sqlite_engine, "cp1", "system", "PASS", "CPU 20%, memory 50%", when=when,
               cpu_usage="20%", memory_usage="50%")
    add_health(sqlite_engine, "cp1", "temperature", "PASS", "SoC at 55.0 °C", when=when, temperature_c=55.0)
    add_health(sqlite_engine, "cp1", "outbox", "PASS", "4 detections unsent", when=when, outbox_backlog=4)
    series = queries.health_series(sqlite_engine, "cp1", ago(hours=1))
    assert len(series.t) == 1
    assert {k: v[0] for k, v in series.values.items()} == {
        "cpu_percent": 20.0, "memory_percent": 50.0, "disk_percent": None, "temperature_c": 55.0,
        "outbox_backlog": 4.0, "uptime_s": None}
