"""The fleet map: fitting, grid and optional tiles."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dashboard.config import DashboardSettings
from dashboard.fleetmap import HEIGHT, PAD, WIDTH, Place, build_map, world

BANGKOK = [Place("a", 13.72, 100.53, "online"), Place("b", 13.91, 100.61, "offline"),
           Place("c", 13.72, 100.49, "never")]


def test_points_fit_inside_the_view_with_north_up():
    """Every checkpoint lands inside the padded view; the northern one is drawn higher."""
    points = {p.checkpoint_id: p for p in build_map(BANGKOK).points}
    for p in points.values():
        assert PAD - 1 <= p.x <= WIDTH - PAD + 1 and PAD - 1 <= p.y <= HEIGHT - PAD + 1
    assert points["b"].y < points["a"].y and points["c"].x < points["a"].x
    assert build_map(BANGKOK).tiles == []
    assert any(g.label.endswith("°") for g in build_map(BANGKOK).grid)


def test_a_single_checkpoint_is_centred():
    """One checkpoint is drawn in the middle."""
    point = build_map([Place("solo", 13.7, 100.5, "online")]).points[0]
    assert (round(point.x), round(point.y)) == (WIDTH // 2, HEIGHT // 2)


def test_tiles_cover_the_view_at_a_whole_zoom():
    """With a tile template, whole-zoom tiles cover the view and the points sit on the right pixels."""
    fleet_map = build_map(BANGKOK, "https://tiles.example/{z}/{x}/{y}.png")
    zoom = int(fleet_map.tiles[0].url.split("/")[3])
    assert all(f"/{zoom}/" in t.url for t in fleet_map.tiles)
    assert min(t.x for t in fleet_map.tiles) <= 0 and max(t.x for t in fleet_map.tiles) + 256 >= WIDTH
    assert min(t.y for t in fleet_map.tiles) <= 0 and max(t.y for t in fleet_map.tiles) + 256 >= HEIGHT
    a, b = fleet_map.points[0], fleet_map.points[1]
    (ax, ay), (bx, by) = world(13.72, 100.53, zoom), world(13.91, 100.61, zoom)
    assert (round(b.x - a.x, 3), round(b.y - a.y, 3)) == (round(bx - ax, 3), round(by - ay, 3))


def test_tile_setting_is_validated_and_allowed_by_the_policy():
    """A tile template needs {z}/{x}/{y}; its origin is what the CSP allows."""
    settings = DashboardSettings(dashboard_map_tiles_url="https://tiles.example:8443/{z}/{x}/{y}.png")
    assert settings.tiles_origin == "https://tiles.example:8443"
    assert DashboardSettings(dashboard_map_tiles_url="/tiles/{z}/{x}/{y}.png").tiles_origin is None
    with pytest.raises(ValidationError):
        DashboardSettings(dashboard_map_tiles_url="https://tiles.example/tile.png")


def test_overlapping_gates_cluster_and_sites_are_labelled():
    """Three gates metres apart become one cluster (worst state, shared site); a far gate stays alone."""
    from dashboard.fleetmap import Place, build_map

    places = [Place("g1", 13.7563, 100.5018, "online", "Village A"), Place("g2", 13.7564, 100.5019, "offline",
                                                                           "Village A"),
              Place("g3", 13.7565, 100.5017, "online", "Village A"), Place("far", 18.79, 98.98, "never", "North")]
    fleet_map = build_map(places)
    assert [p.checkpoint_id for p in fleet_map.points] == ["far"]
    [group] = fleet_map.clusters
    assert (sorted(group.checkpoint_ids), group.status, group.site) == (["g1", "g2", "g3"], "offline", "Village A")
    assert [s.name for s in fleet_map.sites] == ["North", "Village A"] and fleet_map.placed == 4
