"""JPEG preparation at enqueue: fit the box, keep what fits, respect a byte limit."""

from __future__ import annotations

import io
import random

from PIL import Image

from edge_agent.images import ImageLimits, prepare_jpeg
from tests.edge_agent.conftest import make_jpeg


def noise_jpeg(width: int, height: int, quality: int) -> bytes:
    """A JPEG of random pixels: the worst case for size."""
    rng = random.Random(5)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_picture_within_box_but_over_byte_limit_is_reencoded_then_halved_until_it_fits():
    """A 640x480 noise JPEG at q100 fits the box, not 256 KiB: re-encoded at q75; under 64 KiB only once halved."""
    big = noise_jpeg(640, 480, 100)
    assert len(big) > 256 * 1024
    for max_bytes, size in ((256 * 1024, (640, 480)), (64 * 1024, (320, 240))):
        prepared = prepare_jpeg(big, ImageLimits(max_bytes=max_bytes))
        with Image.open(io.BytesIO(prepared)) as image:
            assert len(prepared) <= max_bytes and image.size == size


def test_picture_within_box_and_byte_limit_is_kept_byte_for_byte():
    """A small JPEG under the byte limit is returned unchanged."""
    small = make_jpeg(200, 80)
    assert prepare_jpeg(small, ImageLimits(max_bytes=256 * 1024)) is small
