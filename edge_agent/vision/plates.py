"""Plate text rules: Latin national formats and plate-likeness (Thai: thai_model.py).

Pure functions, no I/O. The reader turns every piece of text it sees into a
:class:`PlateText` (or ``None`` when it cannot be a plate); the one with the highest
``score`` wins, which is how a plate is chosen over road signs and stickers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

# Consonants the renderer draws in plate series (all but the obsolete ฃ and ฅ).
THAI_PLATE_LETTERS = "กขคฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ"

# Latin formats per region: L letter, 9 digit, A either; {m,n} repeats the class before it.
LATIN_FORMATS: dict[str, tuple[str, ...]] = {
    "US": ("9LLL999", "LLL9999", "LLL999", "999LLL"),
    "BR": ("LLL9999", "LLL9L99"),
    "SK": ("LL999LL",),
    "IT": ("LL999LL",),
    "FR": ("LL999LL",),
    "CZ": ("9L99999", "9LA9999"),
    "PL": ("LL99999", "LL9999L", "LLL9999", "LLL99LL", "LL999LL"),
    "DE": ("L{1,3}L{1,2}9{1,4}",),
    "ES": ("9999LLL",),
    "NL": ("LL999L", "L999LL", "99LLL9", "9LLL99", "LL99LL"),
    "GB": ("LL99LLL",),
}
DEFAULT_REGIONS: tuple[str, ...] = tuple(LATIN_FORMATS)

# Only the pairs OCR really confuses on plates; a wider table "corrects" good reads into bad ones.
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "Z": "2", "S": "5", "B": "8", "G": "6"}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G"}
_SEPARATORS = set(" -·.:=•_")

GENERIC_WEIGHT = 0.6  # a read that fits no national format but is still plate-shaped
SUBSTITUTION_COST = 0.12
MAX_SUBSTITUTIONS = 1
MIN_TEXT_HEIGHT = 16  # px; smaller text is (usually) an overlay clock or a sticker


@dataclass(frozen=True, slots=True)
class PlateText:
    """A piece of text interpreted as a plate: normalised text, region and plate-likeness 0-1."""

    text: str
    region: str
    score: float
    province: str = ""


def clean_latin(raw: str) -> str:
    """Upper-case letters and digits only (separators and other symbols dropped)."""
    return "".join(ch for ch in raw.upper() if ch.isascii() and ch.isalnum())


@lru_cache(maxsize=64)
def _tokens(fmt: str) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (c, int(lo or 1), int(hi or lo or 1)) for c, lo, hi in re.findall(r"([L9A])(?:\{(\d+),?(\d*)\})?", fmt)
    )


def _fits(ch: str, cls: str) -> tuple[str, int] | None:
    """Coerce one character into a class: (character, substitutions) or None."""
    if cls == "A" or (cls == "L" and ch.isalpha()) or (cls == "9" and ch.isdigit()):
        return ch, 0
    table = _TO_DIGIT if cls == "9" else _TO_LETTER
    return (table[ch], 1) if ch in table else None


def match_format(text: str, fmt: str) -> tuple[str, int] | None:
    """Fit ``text`` to ``fmt`` with the fewest O/0-style substitutions: (fitted, count) or None."""
    tokens = _tokens(fmt)

    @cache
    def walk(ti: int, pos: int) -> tuple[str, int] | None:
        if ti == len(tokens):
            return ("", 0) if pos == len(text) else None
        cls, lo, hi = tokens[ti]
        best: tuple[str, int] | None = None
        out, subs = "", 0
        for n in range(1, hi + 1):
            if pos + n > len(text) or (got := _fits(text[pos + n - 1], cls)) is None:
                break
            out, subs = out + got[0], subs + got[1]
            if n >= lo and (rest := walk(ti + 1, pos + n)) is not None:
                if best is None or subs + rest[1] < best[1]:
                    best = (out + rest[0], subs + rest[1])
        return best

    return walk(0, 0)


def _generic_ok(text: str) -> bool:
    return 4 <= len(text) <= 8 and any(ch.isdigit() for ch in text)


def parse_latin(
    raw: str, regions: tuple[str, ...] = DEFAULT_REGIONS, text_height: float | None = None
) -> PlateText | None:
    """Interpret one line of Latin text as a plate, or ``None`` when it cannot be one.

    The best-fitting national format among ``regions`` settles O/0, I/1 and the like
    by position; text fitting no format is kept at a lower score when plate-shaped.
    """
    text = clean_latin(raw)
    if not _generic_ok(text) or not _raw_plausible(raw):
        return None
    best = PlateText(text, "", GENERIC_WEIGHT * (0.9 if text.isdigit() else 1.0))
    for region in regions:
        for fmt in LATIN_FORMATS.get(region, ()):
            fitted = match_format(text, fmt)
            if fitted is not None and fitted[1] <= _max_substitutions(fmt):
                score = 1.0 - SUBSTITUTION_COST * fitted[1]
                if score > best.score:
                    best = PlateText(fitted[0], region, score)
    return PlateText(best.text, best.region, best.score * _size_factor(text_height) * _case_factor(raw))


def _max_substitutions(fmt: str) -> int:
    """Only long fixed-layout formats are specific enough to correct characters by position."""
    fixed = "{" not in fmt and len(fmt) >= 7
    return MAX_SUBSTITUTIONS if fixed else 0


def _raw_plausible(raw: str) -> bool:
    """Plates carry letters, digits and a few separators; anything else is other text."""
    odd = sum(1 for ch in raw if not (ch.isascii() and ch.isalnum()) and ch not in _SEPARATORS)
    return odd == 0 and raw.count(" ") <= 2


def _size_factor(height: float | None) -> float:
    if height is None:
        return 1.0
    return min(1.0, max(height, 1.0) / MIN_TEXT_HEIGHT)


def _case_factor(raw: str) -> float:
    """Plates are upper case; a line with lower-case letters is usually a sign or a sticker."""
    return 0.5 if any(ch.islower() for ch in raw) else 1.0
