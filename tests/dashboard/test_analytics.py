"""Statistics as pictures: per site, busiest hours, repeat plates, travel times, and their CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dashboard import analytics, queries
from tests.dashboard.support import add_checkpoint, add_detection

BANGKOK = ZoneInfo("Asia/Bangkok")


def test_busiest_hours_are_local(sqlite_engine):
    """A detection at 01:30 UTC on a Monday counts at Monday 08:00 in Bangkok."""
    monday = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    for _ in range(3):
        add_detection(sqlite_engine, "AB1", when=monday)
    add_detection(sqlite_engine, "AB2", when=monday + timedelta(days=2, hours=20))  # Thu 04:30 Bangkok
    heat = analytics.busiest_hours(sqlite_engine, monday - timedelta(days=1), monday + timedelta(days=5), BANGKOK)
    assert heat.cells[0][8] == 3 and heat.cells[3][4] == 1 and heat.peak == 3 and heat.share(3, 4) == 1 / 3


def test_repeat_plates_and_per_site(sqlite_engine):
    """Plates seen twice or more, most first, with how many checkpoints; checkpoint counts sum per site."""
    add_checkpoint(sqlite_engine, "n1", site="North")
    add_checkpoint(sqlite_engine, "n2", site="North")
    add_checkpoint(sqlite_engine, "s1", site="South")
    now = datetime.now(UTC)
    for cp in ("n1", "n2", "s1"):
        add_detection(sqlite_engine, "กข1", cp, when=now - timedelta(minutes=5), province="ภูเก็ต")
    add_detection(sqlite_engine, "CD2", "n1", when=now - timedelta(minutes=4))
    add_detection(sqlite_engine, "CD2", "n1", when=now - timedelta(minutes=3))
    add_detection(sqlite_engine, "ONCE", "s1", when=now - timedelta(minutes=3))
    repeats = analytics.top_repeats(sqlite_engine, now - timedelta(days=1), now)
    assert [(r.plate, r.province, r.sightings, r.checkpoints) for r in repeats] == [("กข1", "ภูเก็ต", 3, 3),
                                                                                  ("CD2", "", 2, 1)]
    assert analytics.top_repeats(sqlite_engine, now - timedelta(days=1), now, frozenset({"s1"})) == []
    counts = queries.detection_counts(sqlite_engine, now - timedelta(hours=2), now + timedelta(hours=1), "hour",
                                      BANGKOK)
    sites = analytics.per_site(counts, analytics.sites_of(sqlite_engine))
    assert {site: sum(v) for site, v in sites.items()} == {"North": 4, "South": 2}


def test_travel_time_takes_the_next_arrival(sqlite_engine):
    """Each departure pairs with the first later arrival of the same plate within a day; others are ignored."""
    start = datetime.now(UTC) - timedelta(days=2)
    for plate, leave, arrive in (("AA1", 0, 30), ("BB2", 60, 90), ("CC3", 120, 180), ("DD4", 0, 60 * 30)):
        add_detection(sqlite_engine, plate, "a", when=start + timedelta(minutes=leave))
        add_detection(sqlite_engine, plate, "b", when=start + timedelta(minutes=arrive))
    add_detection(sqlite_engine, "EE5", "b", when=start)  # arrives before it leaves: no trip
    add_detection(sqlite_engine, "EE5", "a", when=start + timedelta(minutes=10))
    travel = analytics.travel_times(sqlite_engine, "a", "b", start - timedelta(hours=1), datetime.now(UTC))
    assert travel.minutes == (30.0, 30.0, 60.0) and travel.median == 30.0 and travel.quantile(0.9) == 60.0
    assert sum(n for _, _, n in travel.histogram(4)) == 3


def test_statistics_page_and_csv(admin, sqlite_engine):
    """The page shows the heat map, repeats and a travel summary; each table downloads as CSV."""
    add_checkpoint(sqlite_engine, "a", site="North")
    add_checkpoint(sqlite_engine, "b", site="South")
    now = datetime.now(UTC)
    add_detection(sqlite_engine, "กข1", "a", when=now - timedelta(minutes=50))
    add_detection(sqlite_engine, "กข1", "b", when=now - timedelta(minutes=20))
    assert 'id="site-chart"' in admin.get("/statistics").get_data(as_text=True)
    assert 'id="heatmap"' in admin.get("/statistics?view=hours").get_data(as_text=True)
    assert "กข1" in admin.get("/statistics?view=repeats").get_data(as_text=True)
    page = admin.get("/statistics?view=travel&from=a&to=b").get_data(as_text=True)
    assert "1 trips from a to b: median 30.0 min" in page
    for table, header in (("checkpoints", "time"), ("sites", "time"), ("hours", "weekday"), ("repeats", "plate"),
                          ("travel", "from")):
        answer = admin.get(f"/statistics.csv?table={table}&from=a&to=b")
        rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).removeprefix("\ufeff"))))
        assert answer.status_code == 200 and rows[0][0] == header, table
    assert admin.get("/statistics.csv?table=../../etc").status_code == 400
    assert "Choose two different checkpoints" in admin.get("/statistics?view=travel&from=a&to=a").get_data(
        as_text=True)
    assert admin.get("/statistics?view=<script>").status_code == 200
