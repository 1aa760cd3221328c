"""The overview at scale: problems first, filters, pages, fleet-wide counts (pure functions and the page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from dashboard.fleetview import FleetQuery, counts_of, fleet_page, problems_of
from dashboard.queries import CheckpointSummary
from tests.dashboard.support import add_checkpoint, add_detection, add_health, ago


def _cp(cp_id: str, status: str = "online", count: int = 5, worst: str | None = "PASS", backlog=None, before=None,
        site: str = "A", name: str = "") -> CheckpointSummary:
    return CheckpointSummary(cp_id, name, status, status == "online", datetime.now(UTC), None, None, count, worst,
                             backlog, (), site, before)


def test_problems_come_first_most_urgent_first():
    """offline, then FAIL, then silent, then a growing backlog; then never seen, WARN, and the rest by id."""
    fleet = [_cp("ok-1"), _cp("warn", worst="WARN"), _cp("never", status="never", count=0, worst=None),
             _cp("backlog", backlog=80, before=20), _cp("steady", backlog=80, before=79),
             _cp("silent", count=0), _cp("fail", worst="FAIL"), _cp("off", status="offline", count=0),
             _cp("ok-0")]
    page = fleet_page(fleet, FleetQuery())
    assert [s.checkpoint_id for s in page.rows] == ["off", "fail", "silent", "backlog", "never", "warn", "ok-0",
                                                    "ok-1", "steady"]
    assert problems_of(_cp("both", status="offline", worst="FAIL")) == ("offline", "fail")
    counts = counts_of(fleet)
    assert (counts["problems"], counts["offline"], counts["silent"], counts["all"]) == (4, 1, 1, 9)


def test_filters_and_pages_keep_fleet_wide_counts():
    """Site, state and text filters narrow the rows, pages cut 50 at a time, counts stay those of the fleet."""
    fleet = [_cp(f"cp-{i:03d}", site=f"Site {'AB'[i % 2]}", name=f"Gate {i}",
                 status="offline" if i % 10 == 0 else "online") for i in range(120)]
    first = fleet_page(fleet, FleetQuery())
    assert (len(first.rows), first.pages, first.counts["all"], first.counts["offline"]) == (50, 3, 120, 12)
    last = fleet_page(fleet, FleetQuery(page=3))
    assert len(last.rows) == 20 and not last.complete
    site_b = fleet_page(fleet, FleetQuery(site="Site B", state="offline"))
    assert site_b.rows == [] and site_b.counts["all"] == 120
    site_a = fleet_page(fleet, FleetQuery(site="Site A", state="offline"))
    assert len(site_a.rows) == 12
    assert [s.checkpoint_id for s in fleet_page(fleet, FleetQuery(text="gate 11")).rows] == [
        "cp-110", "cp-011", "cp-111", "cp-112", "cp-113", "cp-114", "cp-115", "cp-116", "cp-117", "cp-118",
        "cp-119"]
    assert fleet_page(fleet, FleetQuery(page=99)).page == 3


def test_bad_arguments_fall_back():
    """An unknown state or a page that is not a number shows everything from page 1."""
    query = FleetQuery.from_args({"state": "<script>", "page": "x' OR 1=1", "site": "S" * 100})
    assert (query.state, query.page, len(query.site)) == ("", 1, 64)


def test_overview_page_with_filters(admin, sqlite_engine):
    """The page shows problems first, the counts bar, a site filter and a pager that keeps the filter."""
    for i in range(60):
        add_checkpoint(sqlite_engine, f"cp-{i:02d}", status="offline" if i == 42 else "online",
                       site="North" if i % 2 else "South", name=f"Gate {i}")
        if i != 7:
            add_detection(sqlite_engine, "AB1", f"cp-{i:02d}")
    add_health(sqlite_engine, "cp-13", "camera", "FAIL", message="no frames")
    add_health(sqlite_engine, "cp-21", "outbox", "PASS", when=ago(minutes=20), outbox_backlog=5)
    add_health(sqlite_engine, "cp-21", "outbox", "PASS", outbox_backlog=400)
    page = admin.get("/").get_data(as_text=True)
    ids = re.findall(r'<tr data-cp="([^"]+)"', page)
    assert ids[:4] == ["cp-42", "cp-13", "cp-07", "cp-21"] and len(ids) == 50
    assert 'id="n-all">60<' in page and 'id="n-problems">4<' in page and 'id="n-fail">1<' in page
    assert 'id="next-page" href="/?page=2"' in page
    north = admin.get("/?site=North&state=problems").get_data(as_text=True)
    assert re.findall(r'<tr data-cp="([^"]+)"', north) == ["cp-13", "cp-07", "cp-21"]
    assert 'id="n-all">60<' in north
    none = admin.get("/?q=nothing-like-this").get_data(as_text=True)
    assert "No checkpoint matches. Clear the filter to see all 60." in none
