"""The watchlist page (the list itself is fleet_store.lists, tested in tests/fleet_store/test_lists.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fleet_store.alerts import WatchMatcher
from fleet_store.records import StoredDetection
from tests.dashboard.support import add_detection

now = datetime.now(UTC)


def test_admin_adds_an_entry_and_sees_recent_sightings(admin, sqlite_engine):
    """An admin adds a pattern on the page; sightings are the ingest's stored hits; no page carries the list."""
    page = admin.get("/watchlist").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = admin.post("/watchlist", data={"pattern": "wanted*", "note": "<b>bold</b>", "csrf_token": token},
                          follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "&lt;b&gt;bold&lt;/b&gt;" in body
    assert "No watchlist plate has been seen." in body.split("Recent sightings")[1]
    detections = [StoredDetection(add_detection(sqlite_engine, plate), "cp1", None, plate, "", 90.0, now, now, "pi",
                                  "", None, None, False, False) for plate in ("WANTED1", "INNOCENT")]
    with sqlite_engine.begin() as conn:
        WatchMatcher().match(conn, detections)
    sightings = admin.get("/watchlist").get_data(as_text=True).split("Recent sightings")[1]
    assert "WANTED1" in sightings and "INNOCENT" not in sightings
    config = re.search(r'<script type="application/json" id="config">(.*?)</script>', admin.get("/").get_data(
        as_text=True), re.S).group(1)
    assert "WANTED" not in config  # the browser no longer matches: the rule lives only on the server
