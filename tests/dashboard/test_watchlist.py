"""Watchlist patterns: matching rule, storage, and the admin page."""

from __future__ import annotations

import re

import pytest

from dashboard.errors import DashboardError
from dashboard.watchlist import add_entry, catches, list_entries, matches, normalise, remove_entry
from tests.dashboard.support import add_detection


@pytest.mark.parametrize(("pattern", "plate", "hit"), [
    ("ABC1234", "ABC1234", True),
    ("abc 1234", "ABC-1234", True),
    ("ABC*", "ABC1234", True),
    ("ABC*", "XABC1234", False),
    ("*123*", "กข 1234", True),
    ("กข????", "กข 1234", True),
    ("กข???", "กข 1234", False),
    ("A.C", "ABC", False),
    ("1234", "ABC1234", False),
])
def test_matching_rule(pattern, plate, hit):
    """Whole-plate match after removing spaces/dashes; * any run, ? one character, others literal."""
    assert matches(pattern, plate) is hit


def test_an_entry_naming_a_province_catches_only_that_province(sqlite_engine):
    """1กข1234 in Bangkok is not 1กข1234 in Chiang Mai; an entry without a province catches both."""
    bangkok = add_entry(sqlite_engine, "1กข1234", "", "boss", province="กรุงเทพมหานคร")
    anywhere = add_entry(sqlite_engine, "1กข1234", "", "boss")
    assert catches(bangkok, "1กข 1234", "กรุงเทพมหานคร") and not catches(bangkok, "1กข1234", "เชียงใหม่")
    assert catches(anywhere, "1กข1234", "เชียงใหม่") and catches(anywhere, "1กข1234", "")
    with pytest.raises(DashboardError, match="not a Thai province"):
        add_entry(sqlite_engine, "2กข1234", "", "boss", province="Bangkok")
    assert [(e.pattern, e.province) for e in list_entries(sqlite_engine)] == [
        ("1กข1234", ""), ("1กข1234", "กรุงเทพมหานคร")]


def test_entries_are_stored_normalised_and_unique(sqlite_engine):
    """Patterns are kept normalised; a duplicate or an all-wildcard pattern is refused."""
    entry = add_entry(sqlite_engine, "abc 12*", "stolen", "boss")
    assert entry.pattern == "ABC12*" == normalise("ABC-12*")
    with pytest.raises(DashboardError):
        add_entry(sqlite_engine, "ABC12*", "", "boss")
    with pytest.raises(DashboardError):
        add_entry(sqlite_engine, "**", "", "boss")
    assert [e.pattern for e in list_entries(sqlite_engine)] == ["ABC12*"]
    assert remove_entry(sqlite_engine, entry.id) and not remove_entry(sqlite_engine, entry.id)


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
