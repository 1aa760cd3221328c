"""JPEG preparation at enqueue time: compress once, never per send attempt.

A scene larger than the configured box (640x480 by default) is scaled down to
fit and re-encoded at the configured quality; a JPEG already within the box is
kept byte for byte (re-encoding it would only lose quality). Anything that is
not a decodable picture raises :class:`~edge_agent.errors.ImageError`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from fleet_protocol import ProtocolError, inspect_jpeg

from .errors import ImageError

MAX_PIXELS = 64_000_000  # a 64 MP frame is already absurd for a gate camera
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """The box scenes are fitted into and the quality used when re-encoding."""

    max_width: int = 640
    max_height: int = 480
    quality: int = 75


def prepare_jpeg(data: bytes, limits: ImageLimits) -> bytes:
    """Return JPEG bytes within ``limits``: ``data`` itself if it already fits, else a re-encode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG" and _fits(image.size, limits):
                inspect_jpeg(data, MAX_PIXELS)  # structure + EOI: a cut file fails, no decode needed
                return data
            return _reencode(image, limits)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            ProtocolError) as exc:
        raise ImageError(f"not a usable image: {exc}") from None


def _fits(size: tuple[int, int], limits: ImageLimits) -> bool:
    return size[0] <= limits.max_width and size[1] <= limits.max_height


def _reencode(image: Image.Image, limits: ImageLimits) -> bytes:
    box = (limits.max_width, limits.max_height)
    if image.format == "JPEG":
        image.draft("RGB", box)  # DCT-domain downscale: decodes at 1/2..1/8 size, much cheaper
    image = image.convert("RGB")
    image.thumbnail(box, Image.Resampling.BILINEAR, reducing_gap=2.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=limits.quality, optimize=False)
    return out.getvalue()
