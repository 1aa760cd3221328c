"""Second opinion on Thai letters Tesseract confuses (ฌ/ญ read as ณ, ฆ as ม)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from edge_agent.vision.glyphs import FONT_DIR, ConfusableResolver


def _ink(ch: str, font: str = "Loma-Bold") -> np.ndarray:
    path = FONT_DIR / f"{font}.ttf"
    if not path.exists():
        pytest.skip(f"{path} missing (apt-get install fonts-thai-tlwg)")
    img = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(img).text((10, 10), ch, font=ImageFont.truetype(str(path), 56), fill=255)
    return np.asarray(img)


@pytest.fixture(scope="module")
def resolver():
    """One resolver (templates are drawn once)."""
    return ConfusableResolver()


@pytest.mark.parametrize(("seen", "truth"), [("ณ", "ฌ"), ("ณ", "ณ"), ("ม", "ฆ"), ("ม", "ม")])
def test_doubtful_letter_is_settled_by_shape(resolver, seen, truth):
    """A glyph in a typeface not among the templates resolves to its true letter."""
    assert resolver.resolve(seen, _ink(truth)) == truth


def test_other_letters_are_left_alone(resolver):
    """Letters Tesseract reads reliably are returned unchanged, whatever the glyph."""
    assert resolver.resolve("ก", _ink("ข")) == "ก"
