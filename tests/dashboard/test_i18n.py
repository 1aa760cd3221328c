"""The Thai catalogue: complete, compiled, and covering every string the templates and views use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

HERE = Path(__file__).resolve().parents[2] / "dashboard"
PO = HERE / "translations/th/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")


def test_every_message_is_translated_and_compiled():
    """Each msgid in messages.po has a Thai string, and messages.mo holds the same catalogue."""
    with open(PO, "rb") as handle:
        po = read_po(handle, locale="th")
    with open(MO, "rb") as handle:
        mo = read_mo(handle)
    strings = {m.id: m.string for m in po if m.id}
    assert all(strings.values()), [k for k, v in strings.items() if not v]
    assert {m.id: m.string for m in mo if m.id} == strings


def test_catalogue_covers_the_source(tmp_path):
    """Extracting the templates and views finds no string missing from messages.po."""
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(HERE / "babel.cfg"),
                    "-k", "_", "-k", "gettext", "-o", str(pot), "."], cwd=HERE.parent, check=True,
                   capture_output=True)
    with open(pot, "rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    with open(PO, "rb") as handle:
        have = {m.id for m in read_po(handle) if m.id}
    assert wanted <= have, sorted(wanted - have)
