"""JPEG preparation at enqueue time: compress once, never per send attempt.

A picture larger than the configured box (640x480 by default) is scaled down
to fit and re-encoded at the configured quality; a JPEG already within the box
(and within ``max_bytes``, when set) is kept byte for byte (re-encoding it
would only lose quality). A re-encode still over ``max_bytes`` (the protocol's
limit for that picture) is halved in size until it fits. Anything that is not
a decodable picture raises :class:`~edge_agent.errors.ImageError`.
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
    """The box pictures are fitted into, the quality used when re-encoding, and a byte limit (None: none)."""

    max_width: int = 640
    max_height: int = 480
    quality: int = 75
    max_bytes: int | None = None


def prepare_jpeg(data: bytes, limits: ImageLimits) -> bytes:
    """Return JPEG bytes within ``limits``: ``data`` itself if it already fits, else a re-encode."""
    if _fits_as_is(data, limits):
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG" and _fits(image.size, limits) and _small(len(data), limits):
                inspect_jpeg(data, MAX_PIXELS)  # structure + EOI: a cut file fails, no decode needed
                return data
            return _reencode(image, limits)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            ProtocolError) as exc:
        raise ImageError(f"not a usable image: {exc}") from None


def _fits_as_is(data: bytes, limits: ImageLimits) -> bool:
    """True for a complete JPEG already within the box and the byte limit, read from its headers alone.

    The common case (a camera frame already at 640x480) costs a header walk (~10 µs), not a Pillow
    open (~80 µs); anything else, including a JPEG the walk refuses, takes Pillow's path below.
    """
    if not _small(len(data), limits):
        return False
    try:
        info = inspect_jpeg(data, MAX_PIXELS)
    except ProtocolError:
        return False
    return _fits((info.width, info.height), limits)


def _fits(size: tuple[int, int], limits: ImageLimits) -> bool:
    return size[0] <= limits.max_width and size[1] <= limits.max_height


def _small(size: int, limits: ImageLimits) -> bool:
    return limits.max_bytes is None or size <= limits.max_bytes


def _reencode(image: Image.Image, limits: ImageLimits) -> bytes:
    box = (limits.max_width, limits.max_height)
    if image.format == "JPEG":
        image.draft("RGB", box)  # DCT-domain downscale: decodes at 1/2..1/8 size, much cheaper
    image = image.convert("RGB")
    while True:
        image.thumbnail(box, Image.Resampling.BILINEAR, reducing_gap=2.0)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=limits.quality, optimize=False)
        if _small(out.tell(), limits):
            return out.getvalue()
        if min(image.size) <= 16:
            raise ImageError(f"cannot fit the picture into {limits.max_bytes} bytes")
        box = (max(1, image.width // 2), max(1, image.height // 2))
