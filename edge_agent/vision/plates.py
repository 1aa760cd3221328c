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
# What a camera prints over its picture: a date (2014-05-09, 09/05/2014, a year and month cut off
# at the frame's edge) or a clock time with seconds (07:08:50). Digits only, so they would pass as a plate.
_STAMP = re.compile(
    r"(19|20)\d\d[-/.](0?[1-9]|1[0-2])([-/.]((0?[1-9]|[12]\d|3[01])[-/.]?)?)?"
    r"|(0?[1-9]|[12]\d|3[01])[-/.](0?[1-9]|1[0-2])[-/.](19|20)\d\d"
    r"|([01]?\d|2[0-3]):[0-5]\d:[0-5]\d"
)

GENERIC_WEIGHT = 0.6  # a read that fits no national format but is still plate-shaped
SUBSTITUTION_COST = 0.12
MAX_SUBSTITUTIONS = 1
# A separator printed inside one of the format's groups: the plate's grouping is surer than one
# character's letter/digit class, so this costs more than a substitution (``AY0-9034``: BR ``AYO9034``).
SEPARATOR_COST = 0.15
# A substitution needs the recogniser to have weighed the new character at that step: on the shared
# real photos the right ones had 0.08-0.46 of the probability, the wrong ones ("1268205" made into a
# Czech "1Z68205") under 0.007. Without that evidence (a caller that has none) any listed pair may go.
SUBSTITUTE_MIN_PROB = 0.02
EMBLEM_MAX_PROB = 0.5  # an end character read at under this may be a flag or crest, not a character
# The same where the whole line fits no format: an Arizona plate's cactus read as "4" at 0.75-0.81
# in front of an exact ``LLL9999`` (python -m bench.vision: real Latin photos 202 -> 203 of 220).
EMBLEM_UNFIT_MAX_PROB = 0.9
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


def _fits(ch: str, cls: str, weighed: str | None = None) -> tuple[str, int] | None:
    """Coerce one character into a class: (character, substitutions) or None. ``weighed``: the
    characters the recogniser gave some probability at this position (None: not known)."""
    if cls == "A" or (cls == "L" and ch.isalpha()) or (cls == "9" and ch.isdigit()):
        return ch, 0
    table = _TO_DIGIT if cls == "9" else _TO_LETTER
    if ch not in table or (weighed is not None and table[ch] not in weighed):
        return None
    return table[ch], 1


def match_format(
    text: str, fmt: str, weighed: tuple[str, ...] | None = None, breaks: frozenset[int] = frozenset()
) -> tuple[str, int, int] | None:
    """Fit ``text`` to ``fmt``: (fitted, substitutions, separators misplaced) or None.

    ``weighed``, one string per character of ``text``: the characters the recogniser also found
    likely there; a substitution must be one of them. ``breaks``: the positions in ``text`` before
    which the line showed a separator; one inside a group of the format (``AY0-9034`` fitted as
    ``LL99999``) is misplaced. The fit with the fewest of both wins, fewer substitutions first."""
    tokens = _tokens(fmt)
    # A group ends where the character class changes or a repeated token ends (DE: ``L{1,3}L{1,2}``).
    ends_group = [
        i + 1 == len(tokens) or tokens[i][0] != tokens[i + 1][0] or tokens[i][2] > 1 or tokens[i + 1][2] > 1
        for i in range(len(tokens))
    ]

    @cache
    def walk(ti: int, pos: int) -> tuple[str, int, int] | None:
        if ti == len(tokens):
            return ("", 0, 0) if pos == len(text) else None
        cls, lo, hi = tokens[ti]
        best: tuple[str, int, int] | None = None
        out, subs = "", 0
        for n in range(1, hi + 1):
            at = pos + n - 1
            if pos + n > len(text) or (got := _fits(text[at], cls, weighed and weighed[at])) is None:
                break
            out, subs = out + got[0], subs + got[1]
            if n >= lo and (rest := walk(ti + 1, pos + n)) is not None:
                misplaced = sum(pos < b < pos + n for b in breaks) + (pos + n in breaks and not ends_group[ti])
                fit = (out + rest[0], subs + rest[1], misplaced + rest[2])
                if best is None or (fit[1] + fit[2], fit[1]) < (best[1] + best[2], best[1]):
                    best = fit
        return best

    return walk(0, 0)


def _breaks(raw: str) -> frozenset[int]:
    """Where ``raw`` shows a separator (or an emblem) between characters, as positions in its cleaned text."""
    out, count = set(), 0
    for ch in raw.upper():
        if ch.isascii() and ch.isalnum():
            count += 1
        elif count:
            out.add(count)
    return frozenset(b for b in out if b < count)


def _generic_ok(text: str) -> bool:
    return 4 <= len(text) <= 8 and any(ch.isdigit() for ch in text)


def parse_latin(
    raw: str,
    regions: tuple[str, ...] = DEFAULT_REGIONS,
    text_height: float | None = None,
    alternatives: tuple[dict[str, float], ...] = (),
) -> PlateText | None:
    """Interpret one line of Latin text as a plate, or ``None`` when it cannot be one.

    The best-fitting national format among ``regions`` settles O/0, I/1 and the like
    by position, where the recogniser's ``alternatives`` for that character (one mapping per
    character of ``raw``, see ``ocr.LineText``) allow it; text fitting no format is kept at a
    lower score when plate-shaped, its O written as 0. A first or last character the recogniser gave under
    ``EMBLEM_MAX_PROB`` (``EMBLEM_UNFIT_MAX_PROB`` when the whole line fits no format) may be an
    emblem (a flag, a coat of arms, a state's cactus): without it the line may fit a format exactly,
    which then counts as one substitution.
    """
    best = _best_fit(raw, regions, alternatives)
    if alternatives and len(alternatives) == len(raw) and (best is None or best.score < 1.0):
        limit = EMBLEM_UNFIT_MAX_PROB if best is not None and not best.region else EMBLEM_MAX_PROB
        for end, rest in ((0, slice(1, None)), (-1, slice(None, -1))):
            if alternatives[end].get(raw[end], 1.0) >= limit:
                continue
            trimmed = _best_fit(raw[rest], regions, alternatives[rest])
            if trimmed is not None and trimmed.score == 1.0 and (best is None or 1.0 - SUBSTITUTION_COST > best.score):
                best = PlateText(trimmed.text, trimmed.region, 1.0 - SUBSTITUTION_COST)
    if best is None:
        return None
    return PlateText(best.text, best.region, best.score * _size_factor(text_height) * _case_factor(raw))


def _best_fit(raw: str, regions: tuple[str, ...], alternatives: tuple[dict[str, float], ...]) -> PlateText | None:
    """The best format fit of ``raw`` (or the generic plate-shaped score); None when no plate."""
    text = clean_latin(raw)
    if not _generic_ok(text) or not _raw_plausible(raw):
        return None
    weighed = _weighed(raw, text, alternatives)
    breaks = _breaks(raw)
    # With no format to place it, a round character is the digit: most serials issue no letter O
    # (US states; on the 110 US photos of ../shared the labels hold 27 zeros and no O).
    best = PlateText(text.replace("O", "0"), "", GENERIC_WEIGHT * (0.9 if text.isdigit() else 1.0))
    for region in regions:
        for fmt in LATIN_FORMATS.get(region, ()):
            fitted = match_format(text, fmt, weighed, breaks)
            if fitted is not None and fitted[1] <= _max_substitutions(fmt):
                score = 1.0 - SUBSTITUTION_COST * fitted[1] - SEPARATOR_COST * fitted[2]
                if score > best.score:
                    best = PlateText(fitted[0], region, score)
    return best


def _weighed(raw: str, text: str, alternatives: tuple[dict[str, float], ...]) -> tuple[str, ...] | None:
    """For each character of ``text`` (``raw`` cleaned), the letters and digits the recogniser gave
    at least ``SUBSTITUTE_MIN_PROB`` there, either case; None when ``alternatives`` do not line up."""
    if len(alternatives) != len(raw):
        return None
    out = []
    for ch, weights in zip(raw, alternatives, strict=True):
        if ch.isascii() and ch.isalnum():
            either_case: dict[str, float] = {}
            for k, p in weights.items():
                either_case[k.upper()] = either_case.get(k.upper(), 0.0) + p
            out.append("".join(k for k, p in either_case.items() if p >= SUBSTITUTE_MIN_PROB))
    return tuple(out) if len(out) == len(text) else None


def _max_substitutions(fmt: str) -> int:
    """Only long fixed-layout formats are specific enough to correct characters by position."""
    fixed = "{" not in fmt and len(fmt) >= 7
    return MAX_SUBSTITUTIONS if fixed else 0


def _raw_plausible(raw: str) -> bool:
    """Plates carry letters, digits and a few separators, and may carry one emblem between two
    groups (a state outline read as ``+``, a registration seal); anything else is other text, and
    so is a date or clock time a camera prints over its picture."""
    if _STAMP.fullmatch(raw.strip()):
        return False
    odd = [i for i, ch in enumerate(raw) if not (ch.isascii() and ch.isalnum()) and ch not in _SEPARATORS]
    between = len(odd) == 1 and 0 < odd[0] < len(raw) - 1 and raw[odd[0] - 1].isalnum() and raw[odd[0] + 1].isalnum()
    return (not odd or between) and raw.count(" ") <= 2


def _size_factor(height: float | None) -> float:
    if height is None:
        return 1.0
    return min(1.0, max(height, 1.0) / MIN_TEXT_HEIGHT)


def _case_factor(raw: str) -> float:
    """Plates are upper case; a line with lower-case letters is usually a sign or a sticker."""
    return 0.5 if any(ch.islower() for ch in raw) else 1.0
