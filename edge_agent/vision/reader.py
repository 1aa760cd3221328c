"""Plate reader: turns plate candidates into scored reads, Thai and Latin.

Every text line of a candidate is read as Latin (PP-OCR) and interpreted with the
national formats; the candidate's plate region is also read by the trained Thai plate
model (:mod:`.thai_model`: registration and province in one pass, about 2 ms). The best
interpretation by ``plate-likeness × confidence`` wins, so a plate beats a road sign.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .base import Box, PlateCandidate, PlateDetector, PlateRead, TextLine
from .colour import FrameLight, plate_colours
from .cpu import candidates_from_lines, group_rows
from .layout import PLATE_ASPECT, as_car_layout, rows_as_car_layout
from .ocr import PaddleText
from .plates import DEFAULT_REGIONS, parse_latin
from .thai_model import ThaiPlateModel, ThaiRead, vehicle_type

log = logging.getLogger(__name__)

STRONG_LATIN = 0.85  # a Latin read this good is not displaced by a Thai read without a province
MIN_PROVINCE = 0.3  # a province scored lower is not reported (held-out: 0.3-0.5 right 22 of 28, below 7 of 12)
# A province the model is this sure of means a Thai plate is in view (trained with Latin plates as
# "no province"): its read wins even when one character keeps the registration's score low. On the
# held-out split, 48 of the 57 such reads scored below 0.5 had the right registration (python -m bench.vision).
SURE_PROVINCE = 0.8
SURE_MIN_SCORE = 0.25  # below it, text on Latin photos read as Thai (with a "sure" province) outnumbers plates
# A Thai read without a sure province needs this score: on the 220 Latin photos (no Thai plate in them)
# 11 of 19 Thai reads of other text scored 0.31-0.44 without one, while 1 % of the right reads of the
# held-out crops do (python -m bench.vision; the live pipeline reads a plate in several frames).
THAI_MIN_SCORE = 0.45
# A Thai read with consonants that PP-OCR read as Latin letters, the same digits in both reads: from
# this score (and a province reported) it is taken over a strong Latin read (:func:`_same_plate_in_thai`).
SAME_PLATE_MIN_SCORE = 0.6


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

    def __init__(self, text: PaddleText, thai: ThaiPlateModel | None, options: ReaderOptions) -> None:
        self.text = text
        self.thai = thai if "thai" in options.scripts else None
        self.options = options

    def read(self, image: np.ndarray, candidates: list[PlateCandidate]) -> list[PlateRead]:
        """Reads best first, at most one per plate-sized region; never raises for odd input.

        See :func:`rank` for the order.
        """
        reads, memo = [], {}  # memo: each line is OCR'd once, though candidates share them
        scene = FrameLight(image)  # its light, looked at once for all the plates read in it
        for cand in candidates:
            direct = None
            if not cand.lines and self.thai is not None:  # a detector's plate box: read it as it is
                direct = self._read_thai(image, cand.box, [cand.box.expand(0.04, 0.06, *image.shape[1::-1])], scene)
            for c in self._with_lines(image, cand):
                read = self._read_candidate(image, c, memo, scene)
                if read is not None and self._kept(read):
                    reads.append(read)
            if direct is not None and self._kept(direct):
                reads.append(direct)
        return rank(reads, image.shape[1])

    def _kept(self, read: PlateRead) -> bool:
        floor = max(self.options.min_score, THAI_MIN_SCORE) if read.script == "thai" else self.options.min_score
        return sure_thai(read) or read.confidence >= floor

    def _with_lines(self, image: np.ndarray, cand: PlateCandidate) -> list[PlateCandidate]:
        """A candidate without text lines (from Hailo) gets them from the text detector on its crop."""
        if cand.lines:
            return [cand]
        if "latin" not in self.options.scripts:
            return []
        h, w = image.shape[:2]
        roi = cand.box.expand(0.15, 0.3, w, h)
        if roi.area == 0:
            return []
        crop = image[roi.y : roi.y + roi.h, roi.x : roi.x + roi.w]
        offset = np.array([roi.x, roi.y], np.float32)
        lines = [TextLine(ln.quad + offset, ln.box.shift(roi.x, roi.y)) for ln in self.text.find_lines(crop)]
        return candidates_from_lines(lines)

    def _read_candidate(self, image: np.ndarray, cand: PlateCandidate, memo: dict,
                        scene: FrameLight) -> PlateRead | None:
        best = self._read_latin(image, cand, memo) if "latin" in self.options.scripts else None
        if self.thai is not None:
            rows = group_rows(list(cand.lines))  # grouped once for the three framings' rules
            stacked = rows_as_car_layout(image, rows, cand.box)
            thai = self._read_thai(image, cand.box, plate_regions(image, cand, rows), scene, stacked,
                                   commercial_region(image, cand, rows))
            if thai is not None and best is not None and (thai.text == best.text or _cut_short(best, thai)):
                # Both readers read the same registration (a commercial plate's six digits), or the
                # Latin read is the Thai one with characters lost: the Thai read adds what it saw and
                # its province, even where its own score alone is too low to keep it.
                best = replace(thai, confidence=max(thai.confidence, best.confidence))
            elif thai is not None and self._kept(thai) and (best is None or _thai_wins(thai, best)):
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
            crop, (raw, conf, alternatives) = memo["latin", line]
            parsed = parse_latin(raw, self.options.regions, line.box.h, alternatives)
            if parsed is None:
                continue
            score = parsed.score * conf
            if best is None or score > best.confidence:
                gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
                best = PlateRead(parsed.text, raw, score, line.box, "latin", parsed.region, "", sharpness(gray))
        return best

    def _read_thai(self, image: np.ndarray, box: Box, regions: list[Box], scene: FrameLight,
                   stacked: np.ndarray | None = None, commercial: Box | None = None) -> PlateRead | None:
        """The Thai model's best read of the ``regions`` (framings of one plate, read in one batch),
        as a PlateRead for ``box``; None if none reads as a registration. ``stacked``: the plate
        redrawn from a motorcycle plate's three text rows (:func:`.layout.rows_as_car_layout`),
        read in the same batch. ``commercial``: a framing whose read counts only as a commercial
        plate's six digits (:func:`commercial_region`).

        Best: a valid registration first, then registration score × province score. A framing
        that cuts the province line off or takes in too much reads the province with a low score,
        so this also picks the framing (python -m bench.vision: pasted scenes).
        """
        assert self.thai is not None
        regions = [r for r in regions if r.w >= 8 and r.h >= 8]
        if not regions:
            return None
        crops = [image[r.y : r.y + r.h, r.x : r.x + r.w] for r in regions]
        # A framing that shows a motorcycle plate's three rows is also read redrawn as a car plate.
        redrawn = [(crop, car) for crop in crops if (car := as_car_layout(crop)) is not None]
        if stacked is not None:
            redrawn.append((crops[0], stacked))
        images = crops + [car for _, car in redrawn]
        redraws = range(len(crops), len(images))
        crops += [crop for crop, _ in redrawn]  # a redrawn read's colours and sharpness are its real crop's
        digits_only = -1  # the index of the commercial framing's read, if any
        if commercial is not None and commercial.w >= 8 and commercial.h >= 8:
            digits_only = len(images)
            crops.append(image[commercial.y : commercial.y + commercial.h, commercial.x : commercial.x + commercial.w])
            images.append(crops[-1])
        reads = self.thai.read(images)
        usable = [r.valid and (i != digits_only or r.text.isdigit()) for i, r in enumerate(reads)]
        best = max(range(len(reads)),
                   key=lambda i: (usable[i], reads[i].text_confidence * reads[i].province_confidence))
        if not usable[best]:
            return None
        return thai_plate_read(reads[best], box, crops[best], scene, motorcycle=best in redraws)


def _cut_short(latin: PlateRead, thai: PlateRead) -> bool:
    """A commercial plate (six digits, which both readers read alike) that the Latin read, fitting no
    national format, has with digits left out: PP-OCR read ``707321`` as ``70732`` at 0.54 where the
    Thai model read all six at 0.41 with the province (pasted scenes: one of 170 more). Not for a
    consonant series: there the Latin read backs the digits only, and lent its score it made a wrong
    ``หฏ3941`` outrank the right ``ทฏ3941`` (rendered plates in the real photos' boxes)."""
    if latin.region or not thai.text.isdigit() or len(latin.text) >= len(thai.text):
        return False
    rest = iter(thai.text)
    return all(c in rest for c in latin.text)


def sure_thai(read: PlateRead) -> bool:
    """A Thai read whose province the model is sure of: a Thai plate is in view."""
    sure = (read.province_confidence or 0.0) >= SURE_PROVINCE
    return read.script == "thai" and sure and read.confidence >= SURE_MIN_SCORE


def _thai_wins(thai: PlateRead, latin: PlateRead) -> bool:
    """Whether the Thai read of a candidate replaces its Latin read.

    A Thai read with a province the model is sure of is a Thai plate, whatever PP-OCR made of it,
    unless it is digits alone against a strong Latin read with letters (an EU plate's ``1T43213``
    read as ``114321`` with a "sure" province: the letters are what the Thai read lacks; a Thai
    commercial plate's digits read the same in both scripts). Otherwise it must beat the Latin read
    (with a province: by its score times the province's), and a strong Latin read stays, unless
    both read one plate in two scripts (:func:`_same_plate_in_thai`).
    """
    strong_latin = latin.confidence >= STRONG_LATIN
    if _same_plate_in_thai(thai, latin):
        return True
    if sure_thai(thai) and not (strong_latin and thai.text.isdigit() and not latin.text.isdigit()):
        return True
    if thai.province and thai.confidence * (thai.province_confidence or 0.0) > latin.confidence:
        return True
    return not strong_latin and thai.confidence > latin.confidence


def _same_plate_in_thai(thai: PlateRead, latin: PlateRead) -> bool:
    """Both reads are one plate, and it is Thai: the Thai read has consonants where the Latin read
    has letters (as many characters in all), the same digits (at least two), scores at least
    ``SAME_PLATE_MIN_SCORE`` and reports a province.

    PP-OCR reads a small Thai plate's consonants as look-alike Latin letters (``ผค6580`` as
    ``WA6580``, ``กม7672`` as ``NH7672``, scored 0.82-0.98, fitting a German or Czech format) where
    the Thai model read them at 0.77-1.0 with a province it was not sure of (0.4-0.78), and the
    strong Latin read won. Thai crops pasted into the 220 Latin photos: registration + province
    148 → 152 of 170 with three digits asked, 153 → 154 with two (``ฟค27`` read as ``WA27``); the
    220 Latin photos themselves: no read changed (python -m bench.vision).
    """
    digits = [c for c in thai.text if c.isdigit()]
    return (bool(thai.province) and thai.confidence >= SAME_PLATE_MIN_SCORE and len(digits) >= 2
            and len(digits) < len(thai.text) == len(latin.text) and digits == [c for c in latin.text if c.isdigit()])


def thai_plate_read(
    read: ThaiRead, box: Box, crop: np.ndarray, scene: FrameLight | None = None, motorcycle: bool = False
) -> PlateRead | None:
    """A model read of ``crop`` as the reader's PlateRead (None unless line 1 is a valid registration).

    ``scene``: the frame the crop comes from, which tells a colourless plate black on white from one
    seen by an IR camera, and whether its light leaves the plate's colours any meaning
    (:func:`.colour.plate_colours`). ``motorcycle``: the read came from the crop
    redrawn as a car plate (:mod:`.layout`).
    """
    if not read.valid:
        return None
    province = read.province if read.province_confidence >= MIN_PROVINCE else ""
    raw = f"{read.text} {read.province}".strip()
    return PlateRead(
        read.text, raw, read.text_confidence, box, "thai", "TH", province,
        sharpness(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)),
        province_confidence=read.province_confidence if read.province else None,
        vehicle_type=vehicle_type(read.text, plate_colours(crop, scene), motorcycle),
    )


def plate_regions(image: np.ndarray, cand: PlateCandidate, rows: list[list[TextLine]]) -> list[Box]:
    """Framings of the whole plate around a candidate's text rows, as the Thai model was trained
    to see it; the reader keeps the one that reads best.

    Two rows: their union with a margin. One row: either line 1 alone (the region reaches down
    over where the province line would be) or both lines that the text detector, on a small
    plate, found as one (the row itself with a margin). Three rows (a motorcycle plate): their
    union with a margin, which the reader also redraws as a car plate (:mod:`.layout`). ``rows``:
    the candidate's lines as :func:`.cpu.group_rows` groups them.
    """
    h, w = image.shape[:2]
    box = cand.box
    framed = box.expand(0.06, 0.1, w, h)
    # A car plate's shape (2.24:1) hung from the row's top: right when the row is the plate's width.
    plate_h = int(box.w * 1.12 / PLATE_ASPECT)
    shaped = Box(box.x, box.y - plate_h // 10, box.w, plate_h).expand(0.06, 0.0, w, h)
    if len(rows) == 1:
        grown = Box(box.x, box.y, box.w, int(box.h * 1.9))
        return [grown.expand(0.06, 0.08, w, h), framed, shaped]
    if len(rows) >= 3:
        return [framed]
    return [framed, shaped]


def commercial_region(image: np.ndarray, cand: PlateCandidate, rows: list[list[TextLine]]) -> Box | None:
    """For a one-row candidate, a car plate's shape (2.24:1) centred on the row: where a commercial
    plate's six-digit number, its middle row under a thin "THAILAND" row and over the province, has
    its whole plate. Its read counts only when it is six digits: read as any plate, on the 220 Latin
    photos it turned two small bits of text (a camera overlay, a corner) into Thai reads.
    Pasted Thai scenes, registration + province 153 → 156 of 170 (python -m bench.vision)."""
    if len(rows) != 1:
        return None
    h, w = image.shape[:2]
    box = cand.box
    plate_h = int(box.w * 1.12 / PLATE_ASPECT)
    return Box(box.x, box.y + box.h // 2 - int(plate_h * 0.45), box.w, plate_h).expand(0.06, 0.0, w, h)


def rank(reads: list[PlateRead], width: int | None = None) -> list[PlateRead]:
    """Reads best first, one per plate-sized region (``width``: the image's, when known).

    Overlapping reads collapse to the one with the best (sure Thai read, score). The plates left
    rank the same way with each score weighed by the square root of its text's height against the
    tallest read's: of two plates in view the nearer one (the gate's car, not one parked behind it,
    a model badge or a sign) comes first; on the 220 real Latin photos 187 → 191 first reads right,
    on the pasted Thai scenes 150 → 151 of 170. A Thai read whose province the model is sure of
    still ranks first (it is the most specific evidence) unless a read at least twice its height
    is in view: small Thai-looking text on a sign may score a sure province, a plate that near
    the camera is the gate's car. Two more weights (:func:`_weight`): a Thai read of digits
    alone and a read cut by the image's edge. Found on the misses of the 220 Latin photos
    (197 → 201 first reads right, none lost there or in the 170 pasted Thai scenes), so the
    held-out photos, not these, say what they are worth; on the pasted Thai scenes 158 → 160 of 170
    registrations right, 151 with the province as before.
    """
    # Of two reads of one region scored alike, the one that also says the province.
    kept = _dedupe(sorted(reads, key=lambda r: (sure_thai(r), r.confidence, bool(r.province)), reverse=True))
    tallest = max([1] + [r.box.h for r in kept])
    return sorted(kept, key=lambda r: (sure_thai(r) and r.box.h >= tallest / 2,
                                       _weight(r, width) * (r.box.h / tallest) ** 0.5), reverse=True)


NO_PROVINCE_DIGITS_WEIGHT = 0.5  # a Thai read of digits alone with no province reported
EDGE_CUT_WEIGHT = 0.8  # a read whose box touches the image's left or right edge


def _weight(read: PlateRead, width: int | None) -> float:
    """``read``'s score as evidence of the plate in view.

    A Thai read of digits alone (a commercial plate's six) has no consonant to say it is Thai, only
    the province line under it: with no province reported (scored under ``MIN_PROVINCE``) it
    counts half, as a truck's fleet number or a phone number on a van reads as six digits with no
    province line. (Weighing every digits-only read by its province's score lost a real commercial
    plate with a province at 0.49 to a sign in the pasted scenes.) A read touching the image's left
    or right edge may be part of a plate (a car coming into view): a whole plate in view ranks
    before it.
    """
    score = read.confidence
    if read.script == "thai" and read.text.isdigit() and not read.province:
        score *= NO_PROVINCE_DIGITS_WEIGHT
    if width is not None and (read.box.x <= 0 or read.box.x + read.box.w >= width):
        score *= EDGE_CUT_WEIGHT
    return score


def _dedupe(reads: list[PlateRead]) -> list[PlateRead]:
    """Keep the best read of each region (reads sorted best first).

    A Thai read of the same registration in that region lends the kept read its province when it
    scores the province higher: the same plate read from its line 1 alone (best registration score,
    province under ``MIN_PROVINCE``) and framed with both its lines (the province at 0.61).
    """
    kept: list[PlateRead] = []
    for read in reads:
        same = next((i for i, k in enumerate(kept) if read.box.iou(k.box) >= 0.3 or _inside(read.box, k.box)), None)
        if same is None:
            kept.append(read)
        elif _better_province(read, kept[same]):
            kept[same] = replace(kept[same], province=read.province, province_confidence=read.province_confidence,
                                 raw=read.raw)
    return kept


def _better_province(read: PlateRead, kept: PlateRead) -> bool:
    return (read.script == kept.script == "thai" and read.text == kept.text and bool(read.province)
            and (read.province_confidence or 0.0) > (kept.province_confidence or 0.0))


def _inside(a: Box, b: Box) -> bool:
    return a.intersection(b) >= 0.7 * min(a.area, b.area)


RETRY_BELOW = 0.5  # a best read under this score is worth a finer look at the image


class PlateRecognizer:
    """Detector + reader: what ``read-plates`` and the live pipeline both call."""

    def __init__(self, detector: PlateDetector, reader: PlateReader) -> None:
        self.detector = detector
        self.reader = reader

    def recognize(self, image: np.ndarray, finer: bool = True) -> list[PlateRead]:
        """Plate reads in ``image`` (BGR), best first."""
        return self.find_and_read(image, finer)[1]

    def find_and_read(self, image: np.ndarray, finer: bool = True) -> tuple[list[PlateCandidate], list[PlateRead]]:
        """The plate candidates found in ``image`` and their reads, best first.

        When ``finer``, the best read scores under ``RETRY_BELOW`` (or there is none) and the detector can take
        a finer look (the CPU path on an image it scaled down: ``OCR_DET_RETRY_SIZE``), the reads of
        that look join the first ones: on the 220 real Latin photos it finds four small plates that
        the first look lost and changes no right read. The live pipeline does not ask for it: it
        sees a car over many frames as it comes closer, and the look would cost every frame in
        which a car moves with no plate readable yet.
        """
        candidates = self.detector.detect(image)
        reads = self.reader.read(image, candidates)
        look = getattr(self.detector, "detect_finer", None)
        if not finer or look is None or (reads and reads[0].confidence >= RETRY_BELOW):
            return candidates, reads
        more = look(image)
        if not more:
            return candidates, reads
        return candidates + more, rank(reads + self.reader.read(image, more), image.shape[1])

    def close(self) -> None:
        self.detector.close()
