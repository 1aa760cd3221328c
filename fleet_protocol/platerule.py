"""The plate-list rule, shared by both ends: when a list entry catches a read (no I/O).

The central's watchlist matcher (``fleet_store.lists``, ``fleet_store.alerts``)
and an edge's gate decision use these functions and nothing else, so a plate
cannot be caught on one side and missed on the other.

Plate and pattern are compared after both lose spaces and dashes and Latin
letters are upper-cased. ``*`` stands for any run of characters and ``?`` for
exactly one; anything else matches literally and the whole plate must match.
With ``tolerance=1`` a pattern without wildcards also catches a plate one edit
away (one character read wrong, missing or extra). An entry naming a province
catches only reads of that province; an expired entry catches nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

_STRIP = re.compile(r"[\s\-]+")


def normalise(plate: str) -> str:
    """A plate as compared: no spaces or dashes, upper case."""
    return _STRIP.sub("", plate).upper()


@lru_cache(maxsize=4096)
def compiled_pattern(pattern: str) -> re.Pattern:
    """``pattern`` as a regular expression over normalised plates (use ``fullmatch``)."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in normalise(pattern))
    return re.compile("".join(parts), re.DOTALL)


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with at most one character substituted, inserted or removed."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i, (x, y) in enumerate(zip(short, long_, strict=False)) if x != y), len(short))
    return short[i:] == long_[i + 1:]


def matches(pattern: str, plate: str, tolerance: int = 0) -> bool:
    """Whether ``plate`` is caught by ``pattern`` (module docstring), allowing ``tolerance`` edits."""
    plate = normalise(plate)
    if compiled_pattern(pattern).fullmatch(plate) is not None:
        return True
    literal = normalise(pattern)
    return tolerance > 0 and "*" not in literal and "?" not in literal and one_edit_apart(literal, plate)


def entry_catches(pattern: str, province: str, tolerance: int, expires_at: datetime | None,
                  plate: str, read_province: str, now: datetime | None = None) -> bool:
    """Whether an entry (``pattern``, ``province``, ``tolerance``, ``expires_at``) catches a read at ``now``."""
    if now is not None and expires_at is not None and expires_at <= now:
        return False
    return (not province or province == read_province) and matches(pattern, plate, tolerance)
