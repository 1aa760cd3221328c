"""Plate reader: turns plate candidates into scored reads, Thai and Latin.

Every text line of a candidate is read as Latin (PP-OCR) and interpreted with the
national formats; a candidate with two rows, or whose Latin read is weak, is also
read as a Thai plate (Tesseract ``tha``). The best interpretation by
``plate-likeness × OCR confidence`` wins, so a plate beats a road sign.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .base import Box, PlateCandidate, PlateDetector, PlateRead, TextLine
from .cpu import candidates_from_lines, group_rows
from .glyphs import ConfusableResolver
from .ocr import PaddleText, TesseractThai
from .plates import DEFAULT_REGIONS, THAI_PLATE_LETTERS, parse_latin, parse_thai

log = logging.getLogger(__name__)

STRONG_LATIN = 0.85  # a Latin read this good is not re-read as Thai
THAI_LINE_HEIGHT = 56  # px; Tesseract reads Thai best around this line height
ROW_PAD = 0.12  # share of the line height added above and below a row before rectifying


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian at a fixed height of 48 px (higher is sharper)."""
    if gray.size == 0:
        return 0.0
    scale = 48.0 / max(gray.shape[0], 1)
    resized = cv2.resize(
        gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    return float(cv2.Laplacian(resized, cv2.CV_64F).var())


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """How plates are read: which scripts, which Latin regions, the lowest score kept."""

    scripts: tuple[str, ...] = ("thai", "latin")
    regions: tuple[str, ...] = DEFAULT_REGIONS
    min_score: float = 0.3


class PlateReader:
    """Reads plates out of candidates. ``thai`` may be ``None`` when Thai is not wanted."""

    def __init__(self, text: PaddleText, thai: TesseractThai | None, options: ReaderOptions) -> None:
        self.text = text
        self.thai = thai if "thai" in options.scripts else None
        self.options = options
        self.glyphs = ConfusableResolver() if self.thai is not None else None

    def read(self, image: np.ndarray, candidates: list[PlateCandidate]) -> list[PlateRead]:
        """Reads best first, at most one per plate-sized region; never raises for odd input.

        A Thai read with a recognised province ranks first: it is the most specific evidence.
        """
        reads, memo = [], {}  # memo: each line/row is OCR'd once, though candidates share them
        for cand in candidates:
            for c in self._with_lines(image, cand):
                read = self._read_candidate(image, c, memo)
                if read is not None and read.confidence >= self.options.min_score:
                    reads.append(read)
        return _dedupe(sorted(reads, key=lambda r: (bool(r.province), r.confidence), reverse=True))

    def _with_lines(self, image: np.ndarray, cand: PlateCandidate) -> list[PlateCandidate]:
        """A candidate without text lines (from Hailo) gets them from the text detector on its crop."""
        if cand.lines:
            return [cand]
        h, w = image.shape[:2]
        roi = cand.box.expand(0.15, 0.3, w, h)
        if roi.area == 0:
            return []
        crop = image[roi.y : roi.y + roi.h, roi.x : roi.x + roi.w]
        offset = np.array([roi.x, roi.y], np.float32)
        lines = [TextLine(ln.quad + offset, ln.box.shift(roi.x, roi.y)) for ln in self.text.find_lines(crop)]
        return candidates_from_lines(lines)

    def _read_candidate(self, image: np.ndarray, cand: PlateCandidate, memo: dict) -> PlateRead | None:
        best = self._read_latin(image, cand, memo) if "latin" in self.options.scripts else None
        two_rows = len(group_rows(list(cand.lines))) >= 2  # a Thai car plate's shape
        if self.thai is not None and (two_rows or best is None or best.confidence < STRONG_LATIN):
            thai = self._read_thai(image, cand, memo)
            # A Thai read whose second row is a province is a Thai plate, whatever PP-OCR made of it.
            if thai is not None and (best is None or thai.province or thai.confidence > best.confidence):
                best = thai
        return best

    def _read_latin(self, image: np.ndarray, cand: PlateCandidate, memo: dict) -> PlateRead | None:
        # TextLines hash by identity; keying on the objects keeps them alive for the call.
        todo = [ln for ln in cand.lines if ("latin", ln) not in memo]
        crops = [self.text.crop(image, ln) for ln in todo]
        for line, crop, result in zip(todo, crops, self.text.read(crops), strict=True):
            memo["latin", line] = (crop, result)
        best = None
        for line in cand.lines:
            crop, (raw, conf) = memo["latin", line]
            parsed = parse_latin(raw, self.options.regions, line.box.h)
            if parsed is None:
                continue
            score = parsed.score * conf
            if best is None or score > best.confidence:
                gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
                best = PlateRead(parsed.text, raw, score, line.box, "latin", parsed.region, "", sharpness(gray))
        return best

    def _read_thai(self, image: np.ndarray, cand: PlateCandidate, memo: dict) -> PlateRead | None:
        assert self.thai is not None
        rows = group_rows(list(cand.lines))
        texts = []
        for n, row in enumerate(rows[:2]):
            key = ("thai", n, tuple(row))
            if key not in memo:
                crop = _row_crop(image, row)
                memo[key] = self._read_series_line(crop) if n == 0 else self.thai.read_line(crop)
            texts.append(memo[key])
        line2 = texts[1][0] if len(texts) > 1 else ""
        parsed = parse_thai(texts[0][0], line2)
        if parsed is None:
            return None
        conf = float(np.mean([c for _, c in texts]))
        gray = cv2.cvtColor(self.text.crop(image, rows[0][0]), cv2.COLOR_BGR2GRAY)
        raw = " / ".join(t for t, _ in texts)
        return PlateRead(
            parsed.text, raw, parsed.score * conf, cand.box, "thai", "TH", parsed.province, sharpness(gray)
        )

    def _read_series_line(self, crop: np.ndarray) -> tuple[str, float]:
        """Line 1 of a Thai plate, read by structure: [digit] + 2 consonants, gap, 1-4 digits.

        Tesseract ``tha`` misreads Arabic digits set in Thai fonts (9 as อ, 3 as ร), so the
        glyphs are split at the widest gap: the number goes to PP-OCR, which reads digits
        well, a third glyph before the two consonants is read as a digit, and only the
        consonants go to Tesseract. Falls back to Tesseract on the whole line.
        """
        assert self.thai is not None
        spans = glyph_spans(crop)
        if len(spans) >= 3:
            cut = max(range(1, len(spans)), key=lambda i: spans[i][0] - spans[i - 1][1])
            series, number = spans[:cut], spans[cut:]
            if len(series) in (2, 3) and len(number) <= 4:
                structured = self._read_structured(crop, series, number)
                if parse_thai(structured[0]) is not None:
                    return structured
        return self.thai.read_line(crop)

    def _read_structured(
        self, crop: np.ndarray, series: list[tuple[int, int]], number: list[tuple[int, int]]
    ) -> tuple[str, float]:
        assert self.thai is not None
        pieces = [_cut(crop, number[0][0], number[-1][1])]
        prefix = ""
        if len(series) == 3:
            pieces.append(_cut(crop, series[0][0], series[0][1]))
        reads = self.text.read([cv2.cvtColor(p, cv2.COLOR_GRAY2BGR) for p in pieces])
        digits = "".join(ch for ch in reads[0][0] if ch.isdigit())
        if len(series) == 3:
            prefix = "".join(ch for ch in reads[1][0] if ch.isdigit())[:1]
        letters, conf = self.thai.read_line(_cut(crop, series[-2][0], series[-1][1]))
        letters = "".join(ch for ch in letters if ch in THAI_PLATE_LETTERS)
        if len(letters) == 2 and self.glyphs is not None:  # one letter per glyph: check the doubtful ones
            inks = [(crop[:, x0:x1] < 128).astype(np.uint8) * 255 for x0, x1 in series[-2:]]
            letters = "".join(self.glyphs.resolve(ch, ink) for ch, ink in zip(letters, inks, strict=True))
        return f"{prefix}{letters} {digits}", min(conf, reads[0][1])


def glyph_spans(crop: np.ndarray) -> list[tuple[int, int]]:
    """Horizontal extents of the glyphs in a binarised line (dark ink), left to right.

    Components that overlap horizontally (a consonant's tail, a mark above it) count as one.
    """
    ink = (crop < 128).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h = crop.shape[0]
    spans = sorted((int(x), int(x + w)) for x, _, w, hh, _ in stats[1:count] if hh >= 0.2 * (h - 24))
    merged: list[tuple[int, int]] = []
    for x0, x1 in spans:
        if merged and x0 < merged[-1][1] - 0.5 * min(x1 - x0, merged[-1][1] - merged[-1][0]):
            merged[-1] = (merged[-1][0], max(merged[-1][1], x1))
        else:
            merged.append((x0, x1))
    return merged


def _cut(crop: np.ndarray, x0: int, x1: int) -> np.ndarray:
    """Columns ``x0..x1`` of a white-background line crop, with a white margin."""
    piece = crop[:, max(0, x0 - 2) : x1 + 2]
    return cv2.copyMakeBorder(piece, 0, 0, 10, 10, cv2.BORDER_CONSTANT, value=255)


def _row_crop(image: np.ndarray, row: list[TextLine]) -> np.ndarray:
    """One text row rectified (rotation removed), binarised and scaled for Tesseract.

    Dark-on-light after Otsu; blobs touching the crop's edge (the plate frame, the
    neighbouring row) are wiped, as Tesseract reads them as letters.
    """
    left, right = min(row, key=lambda ln: ln.box.x), max(row, key=lambda ln: ln.box.x + ln.box.w)
    quad = np.array([left.quad[0], right.quad[1], right.quad[2], left.quad[3]], np.float32)
    down = (quad[3] - quad[0] + quad[2] - quad[1]) / 2
    quad += np.array([-1, -1, 1, 1], np.float32)[:, None] * ROW_PAD * down  # room for ฎ/ฏ tails
    height = max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]), 1.0)
    width = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]), 1.0)
    scale = THAI_LINE_HEIGHT / height
    out_w, out_h = int(width * scale) + 1, THAI_LINE_HEIGHT
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    warped = cv2.warpPerspective(
        gray,
        cv2.getPerspectiveTransform(quad, dst),
        (out_w, out_h),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return _clean_binary(warped)


def _clean_binary(gray: np.ndarray) -> np.ndarray:
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if np.count_nonzero(ink) > 0.5 * ink.size:  # light text on a dark plate
        ink = 255 - ink
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = ink.shape
    for i in range(1, count):
        x, y, bw, bh, _ = stats[i]
        side = x == 0 or x + bw >= w
        frame_line = (y == 0 or y + bh >= h) and bw > 0.5 * w
        from_row_above = y == 0 and y + bh < h / 2
        from_row_below = y + bh >= h and y > h / 2  # a descender (ฎ, ฏ) starts above the middle
        if side or frame_line or from_row_above or from_row_below:
            ink[labels == i] = 0
    return cv2.copyMakeBorder(255 - ink, 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=255)


def _dedupe(reads: list[PlateRead]) -> list[PlateRead]:
    """Keep the best read of each region (reads sorted best first)."""
    kept: list[PlateRead] = []
    for read in reads:
        if all(read.box.iou(k.box) < 0.3 and not _inside(read.box, k.box) for k in kept):
            kept.append(read)
    return kept


def _inside(a: Box, b: Box) -> bool:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ix * iy >= 0.7 * min(a.area, b.area)


class PlateRecognizer:
    """Detector + reader: what ``read-plates`` and the live pipeline both call."""

    def __init__(self, detector: PlateDetector, reader: PlateReader) -> None:
        self.detector = detector
        self.reader = reader

    def recognize(self, image: np.ndarray) -> list[PlateRead]:
        """Plate reads in ``image`` (BGR), best first."""
        return self.reader.read(image, self.detector.detect(image))

    def close(self) -> None:
        self.detector.close()
