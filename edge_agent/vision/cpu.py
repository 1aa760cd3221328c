"""CPU plate detector: PP-OCR text lines grouped into plate-shaped candidates.

A Latin plate is usually one text row; a Thai car plate is a row (series + number)
with a smaller province row right under it. Rows are built from lines that sit side
by side; a row plus the row just below it becomes a two-line candidate as well.
The reader decides which candidate actually holds a plate.
"""

from __future__ import annotations

import logging

import numpy as np

from .base import Box, PlateCandidate, TextLine
from .ocr import PaddleText

log = logging.getLogger(__name__)

MIN_LINE_HEIGHT = 6  # px; below this no engine reads anything
MOTORCYCLE_PROVINCE_WIDEST = 3.0  # a motorcycle plate's province row, against its series row's width


def group_rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Lines of similar height that overlap vertically and nearly touch form one row (left to right)."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda ln: ln.box.x):
        for row in rows:
            last = row[-1].box
            overlap = min(last.y + last.h, line.box.y + line.box.h) - max(last.y, line.box.y)
            gap = line.box.x - (last.x + last.w)
            low, high = sorted((last.h, line.box.h))
            # Side by side and top- or bottom-aligned. A Thai series with a ฎ/ฏ tail is taller
            # than its number but shares its top; a province under a series shares neither.
            aligned = min(abs(last.y - line.box.y), abs(last.y + last.h - line.box.y - line.box.h)) <= 0.35 * low
            if overlap >= 0.5 * low and low >= 0.45 * high and aligned and -0.6 * low <= gap <= 1.2 * high:
                row.append(line)
                break
        else:
            rows.append([line])
    return sorted(rows, key=lambda r: (Box.union([ln.box for ln in r]).y, r[0].box.x))


def _below(upper: Box, lower: Box, widest: float = 1.4) -> bool:
    """``lower`` looks like a Thai province line under the series line ``upper``, at most ``widest``
    times as wide (a motorcycle plate's province runs wider than its short series)."""
    gap = lower.y - (upper.y + upper.h)
    cx = lower.x + lower.w / 2
    return (
        -0.3 * upper.h <= gap <= 0.8 * upper.h
        and upper.x <= cx <= upper.x + upper.w
        and lower.h <= upper.h
        and lower.w <= widest * upper.w
    )


def _number_under(series: Box, province: Box, number: Box) -> bool:
    """``number`` is a motorcycle plate's number row under its ``province``, below the ``series``:
    about as tall as the series, under the province, across the same middle."""
    gap = number.y - (province.y + province.h)
    cx = number.x + number.w / 2
    return (
        -0.3 * province.h <= gap <= 0.8 * series.h
        and series.x <= cx <= series.x + series.w
        and 0.6 * series.h <= number.h <= 1.6 * series.h
        and number.h > province.h
    )


def candidates_from_lines(lines: list[TextLine]) -> list[PlateCandidate]:
    """Plate candidates: every row alone, every row with a smaller row just under it (a car plate's
    series over its province), and such a pair with a taller row under it (a motorcycle plate's
    series, province and number). A motorcycle plate's series is not also a candidate alone or with
    its province: read as a car plate, its top two rows give a confident read of part of it (``ร1``
    for ``ปอช / อุดรธานี``) that outranks the whole plate's."""
    lines = [ln for ln in lines if ln.box.h >= MIN_LINE_HEIGHT]
    rows = group_rows(lines)
    boxes = [Box.union([ln.box for ln in row]) for row in rows]
    out = []
    for i, (row, box) in enumerate(zip(rows, boxes, strict=True)):
        triple = _motorcycle_rows(boxes, i)
        if triple is not None:
            j, k = triple
            out.append(PlateCandidate(Box.union([box, boxes[j], boxes[k]]), 0.6,
                                      tuple(row) + tuple(rows[j]) + tuple(rows[k])))
            continue
        out.append(PlateCandidate(box, 0.5, tuple(row)))
        below = [j for j in range(i + 1, len(rows)) if _below(box, boxes[j])]
        if below:  # the widest row under it: a province split by the detector leaves slivers
            j = max(below, key=lambda k: boxes[k].w)
            out.append(PlateCandidate(Box.union([box, boxes[j]]), 0.6, tuple(row) + tuple(rows[j])))
    return out


def _motorcycle_rows(boxes: list[Box], i: int) -> tuple[int, int] | None:
    """The province and number rows (indexes into ``boxes``, the rows' boxes top to bottom) of a
    motorcycle plate whose series is row ``i``, or None: the first row under the series that has a
    number row under it. The province may run
    up to three times the series' width (a long name under a short series), and the number row, as
    tall as the series, may itself pass for a province line: the nearest row that has a number
    under it is the province. A "number" with a province line of its own under it is a car plate's
    line 1 (under a sign and a badge that pass for a series and a province): no motorcycle plate."""
    for j in range(i + 1, len(boxes)):
        if not _below(boxes[i], boxes[j], widest=MOTORCYCLE_PROVINCE_WIDEST):
            continue
        numbers = [k for k in range(j + 1, len(boxes)) if _number_under(boxes[i], boxes[j], boxes[k])]
        if numbers:
            k = min(numbers, key=lambda n: boxes[n].y)
            if any(_below(boxes[k], boxes[m]) for m in range(k + 1, len(boxes))):
                return None
            return j, k
    return None


class CpuPlateDetector:
    """Finds plate candidates with PP-OCR's text detector (any script, offline, CPU)."""

    name = "cpu"

    def __init__(self, text: PaddleText, retry_size: int = 0) -> None:
        self.text = text
        self.retry_size = retry_size
        self.last_error: str | None = None  # ONNX Runtime on the CPU has no transient failures

    def detect(self, image: np.ndarray) -> list[PlateCandidate]:
        """Candidates in ``image`` (BGR); ``[]`` for an empty or unreadable frame."""
        if image is None or image.size == 0:
            return []
        return candidates_from_lines(self.text.find_lines(image))

    def detect_finer(self, image: np.ndarray) -> list[PlateCandidate] | None:
        """Candidates found with the image scaled down less (up to ``retry_size``): small, far plates
        that :meth:`detect` lost in the scaling. None when there is no finer look to take."""
        if image is None or image.size == 0 or self.text.det_limit_type != "max":
            return None
        side = max(image.shape[:2])
        if side <= self.text.det_limit_side_len or self.retry_size <= self.text.det_limit_side_len:
            return None
        return candidates_from_lines(self.text.find_lines(image, min(side, self.retry_size)))

    def close(self) -> None:
        """Nothing to release: the sessions go with the object."""
