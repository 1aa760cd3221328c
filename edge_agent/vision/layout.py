"""A Thai motorcycle plate laid out as a car plate, so that the car-plate model reads it.

A motorcycle plate stacks three rows: the series (``1กข``), the province, the number (``139``).
The Thai model reads line 1 left to right (CTC) and the province under it, as on a car plate,
where the series and the number share line 1. :func:`car_layout` puts the series and the number
side by side over the province, in a car plate's proportions. The rows come from the text
detector (:func:`rows_as_car_layout`: its three rows of a candidate, each rectified along its quad)
or from the ink in each pixel row (Otsu) of a crop (:func:`as_car_layout`, for a detector's box
read as it is), which answers only for a crop with that shape: two tall rows with a shorter one
between them; a car plate (two rows) or a commercial plate (a thin "THAILAND" row on top) gives None.

The real training data holds one motorcycle plate (``th_00008``), so the model never learned the
layout itself; docs/vision.md says what was measured.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Box, TextLine
from .ocr import rectify

_SIDE = 128  # the crop is looked at on a square of this side: its aspect may be stretched anyway
INK_ROW_MIN = 0.06  # a pixel row with less ink than this share of the plate's width is a gap
MIN_ROW = 0.12  # the series and the number are each at least this share of the plate's height
PROVINCE_MAX = 0.85  # the province row is shorter than this share of the shorter of the other two
PROVINCE_HEIGHT = 0.5  # of line 1's
FRAME_ROW_MIN = 0.75  # a pixel row with this much ink is a frame's edge
PLATE_ASPECT = 2.24  # a Thai car plate, 340 x 150 mm (two lines); a short registration is centred, not stretched
MERGE_GAP = 0.025  # ink bands closer than this share of the height are one row


def text_rows(gray: np.ndarray) -> list[tuple[int, int]]:
    """Bands of pixel rows with ink in ``gray`` (dark text on a light plate), top to bottom, as
    (first, end) on a ``_SIDE``-high view; the plate's frame and thin specks are left out."""
    small = cv2.resize(gray, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    inner = ink[:, int(_SIDE * 0.1) : int(_SIDE * 0.9)]
    profile = inner.mean(axis=1)
    profile[: int(_SIDE * 0.03)] = 0  # the frame's top and bottom edges
    profile[-int(_SIDE * 0.03) :] = 0
    profile[profile >= FRAME_ROW_MIN] = 0  # a pixel row inked almost across: the plate's frame, not text
    runs, start = [], None
    for y, share in enumerate(np.append(profile, 0.0)):
        if share >= INK_ROW_MIN and start is None:
            start = y
        elif share < INK_ROW_MIN and start is not None:
            runs.append((start, y))
            start = None
    rows: list[tuple[int, int]] = []
    for first, end in runs:  # a consonant's tail (ฎ ฏ ฐ) or a thin digit leaves a gap of a row or two
        if rows and first - rows[-1][1] <= MERGE_GAP * _SIDE:
            rows[-1] = (rows[-1][0], end)
        else:
            rows.append((first, end))
    return [(first, end) for first, end in rows if end - first >= _SIDE * 0.04]


def motorcycle_rows(rows: list[tuple[int, int]]) -> tuple[tuple[int, int], ...] | None:
    """Of the ink ``rows``, three in a row that have a motorcycle plate's shape (the tallest such),
    or None. Bands above or below them (the plate's frame, a bumper) are left out."""
    best = None
    for i in range(len(rows) - 2):
        series, province, number = (end - first for first, end in rows[i : i + 3])
        low, high = sorted((series, number))
        if low < MIN_ROW * _SIDE or high > 1.7 * low or province > PROVINCE_MAX * low:
            continue
        if best is None or series + province + number > sum(e - f for f, e in best):
            best = tuple(rows[i : i + 3])
    return best


def as_car_layout(crop: np.ndarray) -> np.ndarray | None:
    """The motorcycle plate in ``crop`` (BGR) redrawn as a car plate, or None if it is not one."""
    if crop.ndim != 3 or crop.shape[2] != 3 or min(crop.shape[:2]) < 24:
        return None
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    rows = motorcycle_rows(text_rows(gray))
    if rows is None:
        return None
    (s0, s1), (p0, p1), (n0, n1) = rows
    h, w = crop.shape[:2]
    scale = h / _SIDE

    def band(first: int, end: int) -> np.ndarray:
        pad = 0.02 * _SIDE
        top, bottom = int(max(0, (first - pad) * scale)), int(min(h, (end + pad) * scale))
        piece = crop[top:bottom]
        return _trim_columns(piece, gray[top:bottom])

    return car_layout(band(s0, s1), band(p0, p1), band(n0, n1), _paper(crop, gray))


def car_layout(series: np.ndarray, province: np.ndarray, number: np.ndarray,
               paper: tuple[int, int, int]) -> np.ndarray:
    """A motorcycle plate's three rows (BGR pieces, each cut tight) set out as a car plate on
    ``paper``: the series and the number side by side at one height, the province under them at
    half that height, in a car plate's proportions (a short registration centred, not stretched)."""
    line_h = 100
    gap = np.full((line_h, line_h // 3, 3), paper, np.uint8)
    line1 = np.hstack([_to_height(series, line_h), gap, _to_height(number, line_h)])
    out = np.full((2 * line_h, max(int(line1.shape[1] * 1.1), int(2 * line_h * PLATE_ASPECT)), 3), paper, np.uint8)
    _paste_centred(out, line1, int(line_h * 0.2))
    prov = _to_height(province, int(line_h * PROVINCE_HEIGHT))
    if prov.shape[1] > out.shape[1] * 0.9:
        prov = cv2.resize(prov, (int(out.shape[1] * 0.9), prov.shape[0]), interpolation=cv2.INTER_AREA)
    _paste_centred(out, prov, int(line_h * 1.32))
    return out


def rows_as_car_layout(image: np.ndarray, rows: list[list[TextLine]], plate: Box) -> np.ndarray | None:
    """A motorcycle plate redrawn from the three text rows the text detector found on it (series,
    province, number: :func:`.cpu.candidates_from_lines`), or None unless there are three.

    Each row is cut along the detector's quad (rectified: a tilted plate's rows come out level),
    which holds where a pixel-row profile of the plate (:func:`as_car_layout`) runs rows together or
    into the frame. ``plate``: the plate's region, whose brighter half gives the background colour.
    """
    if len(rows) != 3 or plate.w < 8 or plate.h < 8:
        return None
    pieces = []
    for row in rows:
        if len(row) == 1:
            piece = rectify(image, row[0].quad, turn=False)
        else:  # a row the detector split (a series with a gap): their box, as it is
            box = Box.union([line.box for line in row])
            piece = image[box.y : box.y + box.h, box.x : box.x + box.w]
        if min(piece.shape[:2]) < 4:
            return None
        pieces.append(piece)
    crop = image[plate.y : plate.y + plate.h, plate.x : plate.x + plate.w]
    return car_layout(*pieces, _paper(crop, cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)))


def _trim_columns(piece: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """``piece`` cut to the columns with ink (plus a margin), the plate's side frame left out."""
    if piece.size == 0:
        return piece
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    w = ink.shape[1]
    cols = ink.mean(axis=0)
    cols[: int(w * 0.05)] = 0
    cols[-int(w * 0.05) or w :] = 0
    found = np.flatnonzero(cols >= 0.08)
    if found.size == 0:
        return piece
    pad = int(w * 0.03)
    return piece[:, max(0, found[0] - pad) : min(w, found[-1] + 1 + pad)]


def _to_height(img: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(img.shape[1] * height / max(img.shape[0], 1)))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def _paper(crop: np.ndarray, gray: np.ndarray) -> tuple[int, int, int]:
    """The plate's background colour: the median of its brighter half."""
    bright = crop[gray >= np.median(gray)]
    return tuple(int(v) for v in np.median(bright, axis=0)) if bright.size else (235, 235, 235)


def _paste_centred(canvas: np.ndarray, img: np.ndarray, top: int) -> None:
    h, w = img.shape[:2]
    h, w = min(h, canvas.shape[0] - top), min(w, canvas.shape[1])
    left = (canvas.shape[1] - w) // 2
    canvas[top : top + h, left : left + w] = img[:h, :w]
