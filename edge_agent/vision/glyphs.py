"""A second opinion on Thai consonants that Tesseract's ``tha`` model systematically confuses.

Tesseract reads ฌ and ญ as ณ, ฆ as ม and ฐ as จ in most typefaces (they are rare in running
text, which its model was trained on). For exactly those outputs this module compares
the glyph's shape with templates of the candidates, drawn at start-up from Thai fonts
(Debian ``fonts-thai-tlwg``), and picks the nearest. The template typefaces are disjoint
from the ones ``render.py`` draws plates with, so the rendered benchmark measures a
change of typeface, not a memorised one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

FONT_DIR = Path("/usr/share/fonts/truetype/tlwg")
TEMPLATE_FONTS = (
    "Norasi-Bold",
    "Norasi",
    "TlwgTypo-Bold",
    "TlwgTypo",
    "Laksaman-Bold",
    "Laksaman",
    "Umpush-Bold",
    "Umpush",
    "Waree-Bold",
    "Waree",
    "Sawasdee-Bold",
    "TlwgTypist-Bold",
)
# Tesseract's output -> the letters it is known to stand for.
CONFUSED: dict[str, str] = {"ณ": "ณฌญ", "ม": "มฆฌ", "ญ": "ญฌ", "จ": "จฐ"}
SIDE = 32


def glyph_feature(ink: np.ndarray) -> np.ndarray:
    """Unit-norm shape vector of one glyph (``ink`` > 0 where the glyph is), scale-free."""
    ys, xs = np.nonzero(ink)
    vec = np.zeros(SIDE * SIDE, np.float32)
    if len(xs) == 0:
        return vec
    g = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = g.shape
    m = max(h, w)
    square = np.zeros((m, m), np.uint8)
    square[(m - h) // 2 : (m - h) // 2 + h, (m - w) // 2 : (m - w) // 2 + w] = g
    small = cv2.resize(square, (SIDE, SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    vec = cv2.GaussianBlur(small, (3, 3), 0).ravel()
    vec -= vec.mean()
    return vec / (np.linalg.norm(vec) + 1e-6)


class ConfusableResolver:
    """Nearest-template choice among the letters Tesseract confuses; a no-op without fonts."""

    def __init__(self) -> None:
        letters = sorted({ch for group in CONFUSED.values() for ch in group})
        feats, labels = [], []
        for name in TEMPLATE_FONTS:
            path = FONT_DIR / f"{name}.ttf"
            if not path.exists():
                continue
            font = ImageFont.truetype(str(path), 64)
            for ch in letters:
                for stroke in (0, 1):  # regular and heavier strokes, like bold plate lettering
                    img = Image.new("L", (120, 120), 0)
                    ImageDraw.Draw(img).text((20, 10), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
                    feats.append(glyph_feature(np.asarray(img)))
                    labels.append(ch)
        self._feats = np.array(feats, np.float32).reshape(len(feats), SIDE * SIDE)
        self._labels = labels
        if not labels:
            log.warning("no template fonts in %s: Thai letters are taken from Tesseract as read", FONT_DIR)

    def resolve(self, letter: str, glyph_ink: np.ndarray) -> str:
        """``letter`` as Tesseract read it, or the nearest template among its confusables."""
        group = CONFUSED.get(letter)
        if group is None or not self._labels:
            return letter
        sims = self._feats @ glyph_feature(glyph_ink)
        best = max((i for i, lab in enumerate(self._labels) if lab in group), key=lambda i: sims[i])
        return self._labels[best]
