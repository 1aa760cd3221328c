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
    assert match_format("PP587A0", "LL999LL") == ("PP587AO", 1, 0)
    plate = parse_latin("PP-587A0", ("SK",))
    assert plate is not None and plate.text == "PP587AO" and plate.region == "SK"
    plate = parse_latin("AY0-9034", ("BR",))
    assert plate is not None and plate.text == "AYO9034"


def test_a_separator_inside_a_group_is_misplaced():
    """A Brazilian ``AY0-9034`` whose 0 the recogniser also found O-like: the hyphen ends a group of
    letters, so ``LLL9999`` (one substitution) beats the Polish ``LL99999`` that fits the characters
    exactly but puts the hyphen inside its digits. Separators where the groups end cost nothing, also
    between a German plate's letter groups."""
    assert match_format("AY09034", "LL99999", breaks=frozenset({3})) == ("AY09034", 0, 1)
    assert match_format("AY09034", "LL99999", breaks=frozenset({2})) == ("AY09034", 0, 0)
    plate = parse_latin("AY0-9034", alternatives=_sure("AY0-9034", p2={"0": 0.755, "O": 0.24}))
    assert plate is not None and (plate.text, plate.score) == ("AYO9034", pytest.approx(0.88))
    plate = parse_latin("AY09034", alternatives=_sure("AY09034", p2={"0": 0.755, "O": 0.24}))
    assert (plate.text, plate.region, plate.score) == ("AY09034", "PL", 1.0)
    for raw, text, region in (("B-AB 1234", "BAB1234", "DE"), ("XX-999-X", "XX999X", "NL"),
                              ("WA 12345", "WA12345", "PL"), ("ABC 1234", "ABC1234", "US")):
        plate = parse_latin(raw, alternatives=_sure(raw))
        assert (plate.text, plate.region, plate.score) == (text, region, 1.0)


def _sure(raw: str, **unsure: dict[str, float]) -> tuple[dict[str, float], ...]:
    """Recogniser alternatives: every character read at 0.99, except positions given as ``p<i>``."""
    return tuple(unsure.get(f"p{i}", {ch: 0.99}) for i, ch in enumerate(raw))


def test_a_substitution_needs_the_recogniser_to_have_weighed_it():
    """A confidently read 1 stays a 1 (a US all-digit plate is not made Czech); a 0 the recogniser
    also found O-like at 0.43 becomes the O the format wants; without evidence any pair may go."""
    plate = parse_latin("1268205", ("CZ",), alternatives=_sure("1268205"))
    assert plate is not None and (plate.text, plate.region) == ("1268205", "")
    assert parse_latin("1268205", ("CZ",)).text == "1Z68205"  # no evidence given: as before
    plate = parse_latin("RK-550A0", ("SK",), alternatives=_sure("RK-550A0", p7={"0": 0.57, "O": 0.43}))
    assert plate is not None and (plate.text, plate.region, plate.score) == ("RK550AO", "SK", pytest.approx(0.88))
    plate = parse_latin("RK-550A0", ("SK",), alternatives=_sure("RK-550A0", p7={"0": 0.995, "O": 0.004}))
    assert plate.region == "" and plate.text == "RK550A0"


def test_an_unsure_end_character_may_be_an_emblem():
    """A flag or crest read as a character at 0.36-0.48 is dropped when the rest then fits a format
    exactly (scored as one substitution); read surely, it stays and the line is no plate or generic."""
    plate = parse_latin("&RK-373AK", ("SK",), alternatives=_sure("&RK-373AK", p0={"&": 0.36, "G": 0.1}))
    assert plate is not None and (plate.text, plate.region, plate.score) == ("RK373AK", "SK", pytest.approx(0.88))
    plate = parse_latin("BRK-878AC", ("SK",), alternatives=_sure("BRK-878AC", p0={"B": 0.48}))
    assert (plate.text, plate.region) == ("RK878AC", "SK")
    assert parse_latin("&RK-373AK", ("SK",), alternatives=_sure("&RK-373AK")) is None
    plate = parse_latin("BRK-878AC", ("SK",), alternatives=_sure("BRK-878AC"))
    assert (plate.text, plate.region) == ("BRK878AC", "")


def test_an_end_character_before_an_exact_fit_may_be_an_emblem_when_the_line_fits_nothing():
    """An Arizona plate's cactus read as "4" at 0.81: ``4ASC7399`` fits no format, ``ASC7399`` fits
    ``LLL9999`` exactly, so the 4 goes; read at 0.95 it stays. A line that fits a format whole keeps an
    end character read at 0.81 (the 0.5 limit)."""
    plate = parse_latin("4ASC7399", ("US",), alternatives=_sure("4ASC7399", p0={"4": 0.81, "L": 0.008}))
    assert plate is not None and (plate.text, plate.region, plate.score) == ("ASC7399", "US", pytest.approx(0.88))
    plate = parse_latin("4ASC7399", ("US",), alternatives=_sure("4ASC7399", p0={"4": 0.95}))
    assert (plate.text, plate.region) == ("4ASC7399", "")
    plate = parse_latin("7ABC123", ("US",), alternatives=_sure("7ABC123", p0={"7": 0.81}))
    assert (plate.text, plate.region, plate.score) == ("7ABC123", "US", 1.0)


def test_one_emblem_between_groups_is_a_separator():
    """A Texas plate's state outline between its groups reads as "+": the plate is still read;
    two symbols, or one at an end, are not a plate."""
    plate = parse_latin("CWL+9084", ("US",))
    assert plate is not None and (plate.text, plate.region, plate.score) == ("CWL9084", "US", 1.0)
    assert parse_latin("CW+L+9084", ("US",)) is None
    assert parse_latin("+CWL9084", ("US",)) is None


def test_text_fitting_no_format_is_kept_at_lower_score():
    """A plate-shaped read that fits no configured format is kept as is, with a lower score."""
    plate = parse_latin("YG8=E4F", ("US",))
    assert plate is not None and plate.text == "YG8E4F" and plate.region == "" and plate.score < 0.7


def test_a_read_fitting_no_format_writes_the_round_character_as_a_digit():
    """No format places it: the digit 0 (US serials issue no letter O); a format that wants O keeps it."""
    plate = parse_latin("HB6-LOZ")
    assert plate is not None and (plate.text, plate.region) == ("HB6L0Z", "")
    plate = parse_latin("PP587AO")
    assert plate is not None and (plate.text, plate.region) == ("PP587AO", "SK")


@pytest.mark.parametrize("raw", ["WASHINGTON", "2014-06-17 08:38:22", "Cumberland Ave", "KIA", "FedEx",
                                 "2014-05-09", "2014-05-", "09/05/2014", "07:08:50", "7:23:54"])
def test_signs_and_stamps_are_not_plates(raw):
    """Words without digits, a camera's date and time stamps (whole or cut off at the frame's edge)
    and long texts are not plates: on 3 of the 220 real Latin photos the stamp was the only read."""
    assert parse_latin(raw) is None


@pytest.mark.parametrize("raw", ["1049338", "AB-12-34", "12:34", "2014-13-01", "FBZ·9581"])
def test_digits_with_separators_that_are_no_date_stay_plates(raw):
    assert parse_latin(raw) is not None


def test_plate_beats_sign():
    """A format-matching plate scores above a sign with digits."""
    plate = parse_latin("WA56660", text_height=23)
    sign = parse_latin("EXIT 79B", text_height=24)
    assert plate and sign
    assert plate.score > sign.score


def test_audited_latin_labels_fit_their_national_format(tmp_path):
    """bench/latin_label_fixes.csv: each fix applies to a shared photo, and the audited label fits a
    format of the plate's country where the dataset's does not; a fix against other data is refused."""
    import csv

    from bench import vision
    from training.data import apply_label_fixes

    rows = vision._latin_rows()
    if not rows:
        pytest.skip("real Latin photos not found (../shared/plates, ../shared/plates-dev)")
    by_file = {r["file"]: r for r in rows}
    with vision.LATIN_LABEL_FIXES.open(encoding="utf-8") as f:
        fixes = list(csv.DictReader(f))
    country = {"eu_test_033.jpg": "SK", "eu_test_024.jpg": "SK", "eu_eu5.jpg": "GB"}
    assert {fix["file"] for fix in fixes} == set(country)
    for fix in fixes:
        row = by_file[fix["file"]]
        assert (row["plate_text"], row["dataset_plate_text"]) == (fix["plate_text"], fix["dataset_plate_text"])
        fitted = parse_latin(fix["plate_text"], (country[fix["file"]],))
        assert fitted is not None and (fitted.text, fitted.region, fitted.score) == (fix["plate_text"],
                                                                                    country[fix["file"]], 1.0)
        assert parse_latin(fix["dataset_plate_text"], (country[fix["file"]],)).score < 1.0

    stale = [dict(r, plate_text="X" + r["plate_text"]) if r["file"] == fixes[0]["file"] else r
             for r in vision._real_rows(vision.REAL_DEV)]
    with pytest.raises(SystemExit, match=fixes[0]["file"]):
        apply_label_fixes(stale, vision.LATIN_LABEL_FIXES, ("plate_text",), "stale rows")
