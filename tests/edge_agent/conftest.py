"""Fixtures for the edge agent tests: a temp outbox, JPEGs, plate events."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from datetime import UTC, datetime

import pytest
from PIL import Image

from edge_agent.events import PlateEvent
from edge_agent.images import ImageLimits
from edge_agent.outbox import Identity, Outbox, OutboxConfig


def make_jpeg(width: int = 320, height: int = 240, quality: int = 80, colour=(90, 120, 200)) -> bytes:
    """A real JPEG of the given size (with some structure so it compresses like a photo)."""
    image = Image.new("RGB", (width, height), colour)
    for x in range(0, width, 16):
        image.paste((x % 256, 40, 200 - x % 200), (x, 0, x + 8, height))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def outside_sql(outbox: Outbox, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    """Run one statement on its own connection, as an outside program (or old SQL) would; return its rows."""
    with contextlib.closing(sqlite3.connect(outbox.config.db_path, isolation_level=None)) as con:
        con.row_factory = sqlite3.Row
        return con.execute(sql, params).fetchall()


def make_event(plate: str = "AB1234", scene: bytes | None = None, **kw) -> PlateEvent:
    """A plate event with small real images."""
    return PlateEvent(license_plate=plate, confidence=kw.pop("confidence", 91.5),
                      timestamp=kw.pop("timestamp", datetime.now(UTC)),
                      scene_jpeg=scene if scene is not None else make_jpeg(),
                      plate_jpeg=kw.pop("plate_jpeg", make_jpeg(120, 40)), **kw)


@pytest.fixture
def outbox_config(tmp_path):
    return OutboxConfig(db_path=tmp_path / "db" / "lpr_data.db", image_dir=tmp_path / "images",
                        image_limits=ImageLimits(), synchronous="NORMAL", local_tz=UTC)


@pytest.fixture
def outbox(outbox_config):
    box = Outbox.open(outbox_config, Identity("cp-1", "edge-test"))
    yield box
    box.close()
