"""Plate text rules: Thai parsing and provinces, Latin national formats, plate-likeness."""

from __future__ import annotations

import pytest

from edge_agent.vision.plates import THAI_PROVINCES, match_format, parse_latin, parse_thai, snap_province


def test_there_are_77_distinct_provinces():
    """The province list is complete and has no duplicates."""
    assert len(THAI_PROVINCES) == len(set(THAI_PROVINCES)) == 77


def test_thai_digits_become_arabic_and_province_snaps():
    """Thai digits map to Arabic, spaces go, and a misread province snaps to the nearest name."""
    plate = parse_thai("๑กข ๑๒๓๔", "กรุงเทพมหานค")
    assert plate is not None
    assert (plate.text, plate.province, plate.region) == ("1กข1234", "กรุงเทพมหานคร", "TH")


@pytest.mark.parametrize("line1", ["กข", "1234", "กขค 12", "กข 12345", "12กข 12", "AB 1234"])
def test_thai_line1_that_is_not_a_plate_is_rejected(line1):
    """Line 1 must be [digit] + two consonants + 1-4 digits."""
    assert parse_thai(line1, "ชลบุรี") is None


def test_unknown_province_is_left_empty():
    """Text that resembles no province gives no province rather than a wrong one."""
    assert snap_province("xyz") == ("", 0.0)
    plate = parse_thai("กข 12", "")
    assert plate is not None and plate.province == "" and plate.score < 0.85


def test_format_settles_o_and_0_by_position():
    """A Slovak LL999LL read with a zero in a letter slot is corrected; digits stay digits."""
    assert match_format("PP587A0", "LL999LL") == ("PP587AO", 1)
    plate = parse_latin("PP-587A0", ("SK",))
    assert plate is not None and plate.text == "PP587AO" and plate.region == "SK"
    plate = parse_latin("AY0-9034", ("BR",))
    assert plate is not None and plate.text == "AYO9034"


def test_text_fitting_no_format_is_kept_at_lower_score():
    """A plate-shaped read that fits no configured format is kept as is, with a lower score."""
    plate = parse_latin("YG8=E4F", ("US",))
    assert plate is not None and plate.text == "YG8E4F" and plate.region == "" and plate.score < 0.7


@pytest.mark.parametrize("raw", ["WASHINGTON", "2014-06-17 08:38:22", "Cumberland Ave", "KIA", "FedEx"])
def test_signs_and_stamps_are_not_plates(raw):
    """Words without digits, timestamps and long texts are not plates."""
    assert parse_latin(raw) is None


def test_plate_beats_sign_and_small_overlay():
    """A format-matching plate scores above a sign with digits and above a small clock overlay."""
    plate = parse_latin("WA56660", text_height=23)
    sign = parse_latin("EXIT 79B", text_height=24)
    clock = parse_latin("07:23:54", text_height=10)
    assert plate and sign and clock
    assert plate.score > sign.score and plate.score > clock.score
