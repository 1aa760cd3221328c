"""The watchlist page (the list itself is fleet_store.lists, tested in tests/fleet_store/test_lists.py)."""

from __future__ import annotations

import re

from tests.dashboard.support import add_detection


def test_admin_adds_an_entry_and_sees_recent_sightings(admin, sqlite_engine):
    """An admin adds a pattern on the page; matching recent detections are listed and every page carries it."""
    add_detection(sqlite_engine, "WANTED1")
    add_detection(sqlite_engine, "INNOCENT")
    page = admin.get("/watchlist").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = admin.post("/watchlist", data={"pattern": "wanted*", "note": "<b>bold</b>", "csrf_token": token},
                          follow_redirects=True)
    body = response.get_data(as_text=True)
    sightings = body.split("Recent sightings")[1]
    assert "WANTED1" in sightings and "INNOCENT" not in sightings
    assert "&lt;b&gt;bold&lt;/b&gt;" in body
    config = re.search(r'<script type="application/json" id="config">(.*?)</script>', admin.get("/").get_data(
        as_text=True), re.S).group(1)
    assert '"watch": [["WANTED*", ""]]' in config
