"""JPEG checks that need no pixels decoded.

``inspect_jpeg`` walks the marker segments of a JPEG up to its first scan and
checks that the file ends with an EOI marker. That finds what matters at ingest:
something that is not a JPEG, a file cut short (``Image.verify()`` does not
notice those), and a decompression bomb (absurd dimensions in the frame header),
in a few microseconds instead of the ~0.2-1 ms a decode costs.
``decode_check`` adds a real (reduced-size) decode with Pillow for operators who
want to pay for it.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from .errors import ErrorCode, ProtocolError

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}
_SOS, _EOI, _SOI = 0xDA, 0xD9, 0xD8
_SEGMENT = struct.Struct(">BBH")  # 0xFF, marker, segment length
_SOF = struct.Struct(">HHB")  # after the precision byte: height, width, components


@dataclass(frozen=True, slots=True)
class JpegInfo:
    """What the frame header says about a JPEG."""

    width: int
    height: int
    components: int


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_IMAGE, message)


def inspect_jpeg(data: bytes, max_pixels: int, max_side: int = 16384) -> JpegInfo:
    """Check the structure of a JPEG and return its dimensions.

    Raises :class:`ProtocolError` with ``invalid_image`` for anything that is not a
    complete baseline/progressive JPEG, and ``image_too_large`` when the frame
    header declares more than ``max_pixels`` pixels or a side over ``max_side``.
    """
    if len(data) < 128 or data[:2] != b"\xff\xd8":
        raise _bad("image is not a JPEG (no SOI marker)")
    if not data.endswith(b"\xff\xd9") and data.rstrip(b"\x00")[-2:] != b"\xff\xd9":  # rstrip copies: rare path
        raise _bad("JPEG is incomplete (no EOI marker at the end; truncated?)")
    info = _walk_headers(data)
    if info.width == 0 or info.height == 0:
        raise _bad("JPEG frame header has a zero dimension")
    if info.width > max_side or info.height > max_side or info.width * info.height > max_pixels:
        raise ProtocolError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"JPEG declares {info.width}x{info.height} pixels, over the limit of {max_pixels}",
        )
    return info


def _walk_headers(data: bytes) -> JpegInfo:
    """Walk the marker segments after SOI until the first SOS; return the SOF info."""
    pos, end, info = 2, len(data), None
    segment = _SEGMENT.unpack_from  # one C call per segment: 3.7 µs a scene instead of 8.5 with slices
    while pos + 4 <= end:
        ff, marker, length = segment(data, pos)
        if ff != 0xFF:
            raise _bad(f"JPEG marker expected at byte {pos}")
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == _SOI or marker == _EOI:
            raise _bad("JPEG ends or restarts before its first scan")
        if length < 2 or pos + 2 + length > end:
            raise _bad("JPEG segment runs past the end of the data")
        if marker in _SOF_MARKERS:
            info = _read_sof(data, pos + 4, length)
        elif marker == _SOS:
            if info is None:
                raise _bad("JPEG scan starts before any frame header")
            if pos + 2 + length + 2 >= end:
                raise _bad("JPEG has no scan data")
            return info
        pos += 2 + length
    raise _bad("JPEG has no scan (truncated header)")


def _read_sof(data: bytes, start: int, length: int) -> JpegInfo:
    if length < 8:
        raise _bad("JPEG frame header is too short")
    height, width, components = _SOF.unpack_from(data, start + 1)
    return JpegInfo(width=width, height=height, components=components)


def decode_check(data: bytes, max_pixels: int) -> JpegInfo:
    """``inspect_jpeg`` plus a real decode at 1/8 scale with Pillow (catches corrupt scans)."""
    from PIL import Image  # imported here: the structural path must not pay for Pillow

    info = inspect_jpeg(data, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("L", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise _bad(f"JPEG does not decode: {exc}") from exc
    return info
