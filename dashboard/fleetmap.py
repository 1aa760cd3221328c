"""The fleet map: checkpoints placed by latitude/longitude, drawn as SVG by the server.

Web Mercator (the projection of web map tiles), auto-fitted to the placed
checkpoints. Without a tile server it draws a labelled latitude/longitude grid
and needs no network at all; with ``DASHBOARD_MAP_TILES_URL`` (a
``{z}/{x}/{y}`` template) the tiles covering the view are drawn underneath, at
a whole zoom level so they line up.

Checkpoints closer than :data:`CLUSTER_PX` on screen are drawn as one cluster
(a larger dot with the count, coloured by its worst state, linking to its
site's overview when they share one); each site is labelled at the centre of
its checkpoints when they are close together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT, PAD = 1000, 560, 40
TILE = 256
MAX_ZOOM = 18
CLUSTER_PX = 22
STATE_RANK = {"offline": 2, "never": 1, "online": 0}


@dataclass(frozen=True, slots=True)
class Place:
    """Something to put on the map."""

    checkpoint_id: str
    latitude: float
    longitude: float
    status: str
    site: str = ""


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A checkpoint in SVG coordinates."""

    checkpoint_id: str
    x: float
    y: float
    status: str
    site: str = ""


@dataclass(frozen=True, slots=True)
class MapCluster:
    """Checkpoints too close to tell apart, drawn as one dot with their count."""

    x: float
    y: float
    status: str
    checkpoint_ids: tuple[str, ...]
    site: str = ""


@dataclass(frozen=True, slots=True)
class SiteLabel:
    """A site's name at the centre of its checkpoints."""

    name: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class GridLine:
    """A labelled line of equal latitude or longitude."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class Tile:
    """One map tile: its URL and where its top-left corner goes."""

    url: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class FleetMap:
    """Everything the template draws; ``size`` is the SVG viewBox."""

    points: list[MapPoint]
    grid: list[GridLine]
    tiles: list[Tile]
    size: tuple[int, int] = (WIDTH, HEIGHT)
    clusters: list[MapCluster] = field(default_factory=list)
    sites: list[SiteLabel] = field(default_factory=list)

    @property
    def placed(self) -> int:
        """How many checkpoints the map shows, single or clustered."""
        return len(self.points) + sum(len(c.checkpoint_ids) for c in self.clusters)


def world(lat: float, lon: float, zoom: float) -> tuple[float, float]:
    """Web Mercator pixel coordinates of a position at ``zoom``."""
    lat = max(-85.05, min(85.05, lat))
    size = TILE * 2 ** zoom
    phi = math.radians(lat)
    return (lon + 180) / 360 * size, (1 - math.log(math.tan(phi) + 1 / math.cos(phi)) / math.pi) / 2 * size


def _fit_zoom(places: list[Place], whole: bool) -> float:
    xs, ys = zip(*(world(p.latitude, p.longitude, 0) for p in places), strict=True)
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    fit = min((WIDTH - 2 * PAD) / span_x if span_x else math.inf, (HEIGHT - 2 * PAD) / span_y if span_y else math.inf)
    zoom = min(MAX_ZOOM, math.log2(fit)) if fit != math.inf else 12
    return math.floor(zoom) if whole else zoom


def build_map(places: list[Place], tiles_url: str | None = None) -> FleetMap:
    """Fit ``places`` into the view; add tiles when ``tiles_url`` is given."""
    if not places:
        return FleetMap([], [], [])
    zoom = max(0, _fit_zoom(places, whole=bool(tiles_url)))
    xs, ys = zip(*(world(p.latitude, p.longitude, zoom) for p in places), strict=True)
    ox, oy = (min(xs) + max(xs)) / 2 - WIDTH / 2, (min(ys) + max(ys)) / 2 - HEIGHT / 2
    points = [MapPoint(p.checkpoint_id, x - ox, y - oy, p.status, p.site)
              for p, x, y in zip(places, xs, ys, strict=True)]
    tiles = _tiles(tiles_url, int(zoom), ox, oy) if tiles_url else []
    singles, clusters = cluster(points)
    return FleetMap(singles, _grid(zoom, ox, oy), tiles, clusters=clusters, sites=site_labels(points))


def cluster(points: list[MapPoint], radius: float = CLUSTER_PX) -> tuple[list[MapPoint], list[MapCluster]]:
    """Points alone, and clusters of points within ``radius`` of a cluster's first point (greedy, in order)."""
    groups: list[list[MapPoint]] = []
    cells: dict[tuple[int, int], list[int]] = {}
    for point in points:
        cx, cy = int(point.x // radius), int(point.y // radius)
        near = [g for dx in (-1, 0, 1) for dy in (-1, 0, 1) for g in cells.get((cx + dx, cy + dy), ())
                if math.dist((groups[g][0].x, groups[g][0].y), (point.x, point.y)) < radius]
        if near:
            groups[near[0]].append(point)
            continue
        cells.setdefault((cx, cy), []).append(len(groups))
        groups.append([point])
    singles = [g[0] for g in groups if len(g) == 1]
    clusters = [MapCluster(sum(p.x for p in g) / len(g), sum(p.y for p in g) / len(g),
                           max((p.status for p in g), key=lambda s: STATE_RANK.get(s, 0)),
                           tuple(p.checkpoint_id for p in g), g[0].site if len({p.site for p in g}) == 1 else "")
                for g in groups if len(g) > 1]
    return singles, clusters


def site_labels(points: list[MapPoint], spread: float = 150, apart: float = 60) -> list[SiteLabel]:
    """Each named site at the mean position of its checkpoints, when they lie within ``spread`` of it (a
    site scattered over the map has no one place) and the label keeps ``apart`` from those placed before."""
    by_site: dict[str, list[MapPoint]] = {}
    for p in points:
        if p.site:
            by_site.setdefault(p.site, []).append(p)
    labels: list[SiteLabel] = []
    for name, ps in sorted(by_site.items()):
        x, y = sum(p.x for p in ps) / len(ps), sum(p.y for p in ps) / len(ps)
        compact = max(math.dist((x, y), (p.x, p.y)) for p in ps) <= spread
        if compact and all(math.dist((x, y), (other.x, other.y)) >= apart for other in labels):
            labels.append(SiteLabel(name, x, y))
    return labels


def _tiles(template: str, zoom: int, ox: float, oy: float) -> list[Tile]:
    count = 2 ** zoom
    tiles = []
    for ty in range(max(0, math.floor(oy / TILE)), min(count - 1, math.floor((oy + HEIGHT) / TILE)) + 1):
        for tx in range(math.floor(ox / TILE), math.floor((ox + WIDTH) / TILE) + 1):
            url = template.format(z=zoom, x=tx % count, y=ty)
            tiles.append(Tile(url, tx * TILE - ox, ty * TILE - oy))
    return tiles


def _inverse(x: float, y: float, zoom: float) -> tuple[float, float]:
    size = TILE * 2 ** zoom
    lon = x / size * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / size))))
    return lat, lon


def _grid(zoom: float, ox: float, oy: float) -> list[GridLine]:
    north, west = _inverse(ox, oy, zoom)
    south, east = _inverse(ox + WIDTH, oy + HEIGHT, zoom)
    span = max(north - south, east - west)
    step = next((s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 45) if span / s <= 10), 90)
    lines = []
    for index in range(math.floor(south / step) + 1, math.ceil(north / step)):
        lat = index * step
        _, y = world(lat, 0, zoom)
        lines.append(GridLine(f"{lat:.2f}°", 0, y - oy, WIDTH, y - oy))
    for index in range(math.floor(west / step) + 1, math.ceil(east / step)):
        lon = index * step
        x, _ = world(0, lon, zoom)
        lines.append(GridLine(f"{lon:.2f}°", x - ox, 0, x - ox, HEIGHT))
    return lines
