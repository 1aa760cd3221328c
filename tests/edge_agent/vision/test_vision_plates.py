"""Plate text rules: Thai registration shape and provinces, Latin national formats, plate-likeness."""

from __future__ import annotations

import pytest

from edge_agent.vision.plates import match_format, parse_latin
from edge_agent.vision.thai_model import valid_line1
from fleet_protocol.provinces import THAI_PROVINCES


def test_there_are_77_distinct_provinces():
    """The province list is complete and has no duplicates."""
    assert len(THAI_PROVINCES) == len(set(THAI_PROVINCES)) == 77


@pytest.mark.parametrize("line1", ["กข", "1234", "กขคง12", "กข12345", "12กข12", "AB1234", "12345"])
def test_thai_line1_that_is_not_a_plate_is_rejected(line1):
    """Line 1 is [digit] + one to three consonants + 1-4 digits, or six digits."""
    assert not valid_line1(line1)


@pytest.mark.parametrize("line1", ["1กข1234", "กข12", "ก1", "กขค123", "704446"])
def test_thai_line1_shapes_that_are_plates(line1):
    assert valid_line1(line1)


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
