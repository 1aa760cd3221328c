"""The CPU path end to end: rendered Thai and Latin plates, real photos, the read-plates command."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys

import cv2
import numpy as np
import pytest

from demo.render import random_latin, random_thai, render_sample


def test_reads_rendered_thai_plates_with_province(recognizer):
    """Rendered two-line Thai plates at an angle read exactly, province included."""
    rng = random.Random(11)
    hits = 0
    for _ in range(4):
        sample = render_sample(rng, random_thai(rng))
        reads = recognizer.recognize(sample.image)
        hits += bool(reads) and (reads[0].text, reads[0].province) == (sample.spec.text, sample.spec.province)
    assert hits >= 3


def test_reads_rendered_latin_plates_and_finds_the_box(recognizer):
    """Rendered Latin plates read exactly, and the reported box overlaps the true plate."""
    rng = random.Random(5)
    for _ in range(3):
        sample = render_sample(rng, random_latin(rng))
        reads = recognizer.recognize(sample.image)
        assert reads and reads[0].text == sample.spec.text
        assert reads[0].box.iou(sample.box) > 0.3


def test_empty_scene_gives_no_plate(recognizer):
    """A frame without text gives no reads."""
    assert recognizer.recognize(np.full((720, 1280, 3), 90, np.uint8)) == []


@pytest.mark.slow
def test_real_photos_sample(recognizer, real_plates):
    """A few of the shared real photos read exactly (full figures are in the benchmark)."""
    rows = list(csv.DictReader(open(real_plates / "manifest.csv", encoding="utf-8")))[::5]
    hits = sum(
        bool(r := recognizer.recognize(cv2.imread(str(real_plates / row["file"])))) and r[0].text == row["plate_text"]
        for row in rows
    )
    assert hits >= len(rows) - 1


@pytest.mark.slow
def test_read_plates_command_prints_json_lines(tmp_path):
    """read-plates prints one JSON line per image, best read first, and exit 1 for a bad file."""
    rng = random.Random(2)
    sample = render_sample(rng, random_latin(rng))
    good = tmp_path / "car.jpg"
    cv2.imwrite(str(good), sample.image)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    proc = subprocess.run(
        [sys.executable, "-m", "edge_agent.vision", "read-plates", "--detector", "cpu", str(good), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1
    assert lines[0]["file"] == str(good) and lines[0]["plates"][0]["text"] == sample.spec.text
    assert len(lines[0]["plates"][0]["box"]) == 4 and 0 < lines[0]["plates"][0]["confidence"] <= 1
    assert lines[1] == {"file": str(bad), "error": "cannot open or decode the image"}


def test_read_plates_help_and_bad_detector():
    """--help explains the command; an unknown detector is a usage error (exit 2)."""
    from edge_agent.vision.cli import read_plates_main

    with pytest.raises(SystemExit) as exc:
        read_plates_main(["--detector", "tpu", "x.jpg"])
    assert exc.value.code == 2
    out = subprocess.run(
        [sys.executable, "-m", "edge_agent.vision", "read-plates", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "JSON" in out and "--detector" in out


def test_hailo_boxes_are_read_by_the_cpu_reader(fake_hailo, write_hef, text_engine):
    """On the Hailo path the HEF's plate box is read by the same reader (lines found inside it)."""
    from edge_agent.vision.hailo import HailoOptions, HailoPlateDetector
    from edge_agent.vision.reader import PlateReader, PlateRecognizer, ReaderOptions

    rng = random.Random(5)
    sample = render_sample(rng, random_latin(rng))
    b = sample.box  # 1280x720 -> 640x640 letterbox: scale 0.5, 140 px on top
    rel = [(b.y * 0.5 + 140) / 640, b.x * 0.5 / 640, ((b.y + b.h) * 0.5 + 140) / 640, (b.x + b.w) * 0.5 / 640, 0.9]
    fake_hailo.SCENARIO.outputs = lambda x: {"plates/nms": [np.array([rel])]}
    hef = write_hef((640, 640, 3), [{"name": "plates/nms", "kind": "nms_by_class", "classes": 1}])
    reader = PlateReader(text_engine, None, ReaderOptions(scripts=("latin",)))
    rec = PlateRecognizer(HailoPlateDetector(HailoOptions(hef)), reader)
    reads = rec.recognize(sample.image)
    assert reads and reads[0].text == sample.spec.text
    rec.close()


def test_an_unsure_thai_read_needs_a_higher_score_than_a_latin_one():
    """Text that is no plate, read as Thai, mostly scores 0.31-0.44 without a sure province: such a
    read is dropped; the same score with a sure province, or on a Latin read, is kept."""
    from edge_agent.vision.base import Box, PlateRead
    from edge_agent.vision.reader import THAI_MIN_SCORE, PlateReader, ReaderOptions

    reader = PlateReader(None, None, ReaderOptions(scripts=("latin",)))
    box = Box(10, 10, 100, 40)
    unsure = PlateRead("ธ1", "ธ1", 0.4, box, "thai", "TH", province_confidence=0.2)
    assert 0.4 < THAI_MIN_SCORE and not reader._kept(unsure)
    assert reader._kept(PlateRead("ธ1", "ธ1 ตาก", 0.4, box, "thai", "TH", "ตาก", province_confidence=0.9))
    assert reader._kept(PlateRead("กข1234", "กข1234", 0.5, box, "thai", "TH", province_confidence=0.2))
    assert reader._kept(PlateRead("ABC1234", "ABC1234", 0.4, box, "latin", "US"))


def test_of_two_plates_in_view_the_nearer_ranks_first():
    """A model badge or a car parked behind may read with a higher score than the gate's car's plate,
    whose text is taller; a sure Thai read still ranks first and overlapping reads collapse."""
    from edge_agent.vision.base import Box, PlateRead
    from edge_agent.vision.reader import rank

    near = PlateRead("SK2W6K", "SK2W6K", 0.60, Box(346, 421, 161, 83), "latin")
    badge = PlateRead("GS300", "GS300", 0.97, Box(637, 369, 97, 26), "latin", "DE")
    assert [r.text for r in rank([badge, near])] == ["SK2W6K", "GS300"]
    same_size = PlateRead("GS300", "GS300", 0.97, Box(637, 369, 97, 83), "latin", "DE")
    assert [r.text for r in rank([near, same_size])] == ["GS300", "SK2W6K"]
    thai = PlateRead("กข12", "กข12 ตาก", 0.3, Box(0, 0, 100, 45), "thai", "TH", "ตาก", province_confidence=0.95)
    assert rank([near, thai])[0] is thai
    overlapping = PlateRead("SK2W6", "SK2W6", 0.5, Box(350, 425, 150, 80), "latin")
    assert rank([overlapping, near, badge]) == [near, badge]
    assert rank([]) == [] and rank([PlateRead("AB12", "AB12", 0.5, Box(0, 0, 0, 0), "latin")])[0].text == "AB12"


def test_a_thai_read_of_the_same_plate_lends_the_kept_read_its_province():
    """A commercial plate in a street photo (held-out crop pasted in): its line 1 read alone scores best
    with the province under the floor; framed with both lines the same registration has the province
    at 0.61. Another registration in the same region lends nothing."""
    from edge_agent.vision.base import Box, PlateRead
    from edge_agent.vision.reader import rank

    line1 = PlateRead("722581", "722581 สงขลา", 0.74, Box(513, 407, 262, 90), "thai", "TH", "",
                      province_confidence=0.27)
    both_lines = PlateRead("722581", "722581 สงขลา", 0.51, Box(513, 407, 262, 104), "thai", "TH", "สงขลา",
                           province_confidence=0.61)
    [read] = rank([both_lines, line1])
    assert (read.text, read.confidence, read.province, read.province_confidence) == ("722581", 0.74, "สงขลา", 0.61)
    other = PlateRead("722681", "722681 ตาก", 0.5, Box(513, 407, 262, 104), "thai", "TH", "ตาก",
                      province_confidence=0.7)
    assert [(r.text, r.province) for r in rank([other, line1])] == [("722581", "")]


def test_rank_weighs_what_a_read_is_evidence_of():
    """Cases from the real Latin photos: a sure Thai read on a sign's small text, a truck's fleet
    number read as a Thai commercial plate with no province line, a plate cut by the frame's edge."""
    from edge_agent.vision.base import Box, PlateRead
    from edge_agent.vision.reader import rank

    plate = PlateRead("CN2X798", "CN2-X798", 0.58, Box(766, 362, 132, 44), "latin")
    sign = PlateRead("พค1", "พค1 กรุงเทพมหานคร", 0.51, Box(1119, 99, 74, 19), "thai", "TH", "กรุงเทพมหานคร",
                     province_confidence=0.9)
    assert rank([sign, plate])[0] is plate
    assert rank([sign, PlateRead("CN2X798", "CN2X798", 0.58, Box(766, 362, 132, 38), "latin")])[0] is sign
    fleet_number = PlateRead("205014", "205014 กรุงเทพมหานคร", 0.85, Box(157, 143, 112, 34), "thai", "TH",
                             province_confidence=0.19)
    latin = PlateRead("91A4ZA", "91A4ZA", 0.54, Box(522, 302, 55, 32), "latin")
    assert rank([fleet_number, latin])[0] is latin
    commercial = PlateRead("205014", "205014 ตาก", 0.85, Box(157, 143, 112, 34), "thai", "TH", "ตาก",
                           province_confidence=0.7)
    assert rank([commercial, latin])[0] is commercial
    cut = PlateRead("6F1A", "6F1A", 0.6, Box(0, 333, 41, 22), "latin")
    whole = PlateRead("CH0P8Y", "CHO=P8Y", 0.55, Box(485, 368, 54, 26), "latin")
    assert rank([cut, whole], width=1280)[0] is whole
    assert rank([cut, whole])[0] is cut  # without the image's width nothing is cut


def test_a_small_far_plate_is_found_by_a_finer_look(recognizer, text_engine, real_plates, monkeypatch):
    """A 1280x720 photo whose 76 px wide plate the text detector loses at 960 px: with nothing read
    well, the recognizer looks again at full size (OCR_DET_RETRY_SIZE) and reads it; off, it does not."""
    from edge_agent.vision.base import Box
    from edge_agent.vision.cpu import CpuPlateDetector
    from edge_agent.vision.reader import PlateRecognizer

    photo = cv2.imread(str(real_plates.parent / "plates-dev" / "us_wts-lg-000029.jpg"))
    if photo is None:
        pytest.skip("../shared/plates-dev/us_wts-lg-000029.jpg not found")
    reads = recognizer.recognize(photo)
    assert reads and reads[0].text == "AYE132" and reads[0].box.intersection(Box(509, 253, 76, 38)) > 0
    without = PlateRecognizer(CpuPlateDetector(text_engine, retry_size=0), recognizer.reader)
    assert "AYE132" not in [r.text for r in without.recognize(photo)]
    # A small image has no finer look to take; a well-read one is not looked at twice.
    assert recognizer.detector.detect_finer(cv2.resize(photo, (640, 360))) is None
    looks = []
    monkeypatch.setattr(recognizer.detector, "detect_finer", lambda image: looks.append(image) or [])
    rng = random.Random(3)
    sample = render_sample(rng, random_latin(rng))
    assert recognizer.recognize(sample.image)[0].confidence >= 0.5 and not looks
    assert recognizer.recognize(np.zeros((720, 1280, 3), np.uint8)) == [] and len(looks) == 1


def test_a_thai_read_of_digits_alone_does_not_replace_a_strong_latin_read_with_letters():
    """An EU plate's ``1T43213`` (PP-OCR 0.999) read by the Thai model as ``114321`` with a "sure"
    province; a commercial Thai plate's digits, which PP-OCR reads the same, still go to the Thai read."""
    from edge_agent.vision.base import Box, PlateRead
    from edge_agent.vision.reader import _thai_wins

    box = Box(225, 214, 86, 21)
    latin = PlateRead("1T43213", "1T43213", 0.999, box, "latin")
    thai = PlateRead("114321", "114321 กรุงเทพมหานคร", 0.27, box, "thai", "TH", "กรุงเทพมหานคร",
                     province_confidence=0.93)
    assert not _thai_wins(thai, latin)
    assert _thai_wins(thai, PlateRead("114321", "11-4321", 0.999, box, "latin"))
    assert _thai_wins(thai, PlateRead("1T43213", "1T43213", 0.6, box, "latin"))
    consonants = PlateRead("กข1234", "กข1234 ตาก", 0.3, box, "thai", "TH", "ตาก", province_confidence=0.9)
    assert _thai_wins(consonants, PlateRead("NW1234", "NW1234", 0.95, box, "latin"))


def test_one_plate_read_in_both_scripts_is_thai_when_the_thai_read_has_consonants_for_the_letters():
    """A small Thai plate in a street photo (held-out crop pasted in): PP-OCR read ``ผค6580`` as ``WA6580``
    at 0.98, fitting a German format; the Thai model read it at 0.93 with a province it was not sure of.
    Other digits, another length, no province or a weak Thai read leave the strong Latin read."""
    from edge_agent.vision.base import Box, PlateRead
    from edge_agent.vision.reader import _thai_wins

    box = Box(578, 297, 77, 36)
    latin = PlateRead("WA6580", "WA6580", 0.98, box, "latin", "DE")

    def thai(text: str, score: float = 0.93, province: str = "ระยอง") -> PlateRead:
        return PlateRead(text, f"{text} {province}", score, box, "thai", "TH", province, province_confidence=0.5)

    assert _thai_wins(thai("ผค6580"), latin) and _thai_wins(thai("ฟค27"), PlateRead("WA27", "WA27", 0.92, box, "latin"))
    assert _thai_wins(thai("1ขย8337", 0.77), PlateRead("1UE8337", "1UE8337", 0.82, box, "latin", "CZ"))
    assert not _thai_wins(thai("ผค6581"), latin)
    assert not _thai_wins(thai("ผ6580"), latin)
    assert not _thai_wins(thai("ผค6580", province=""), latin)
    assert not _thai_wins(thai("ผค6580", 0.55), latin)


def test_when_both_readers_read_the_same_registration_the_thai_read_brings_its_province(monkeypatch):
    """A commercial plate in a street photo: PP-OCR reads its six digits at 0.54, the Thai model the same
    digits at 0.32 with a province at 0.74 (too low alone to be kept): the agreed read carries the
    province; a Thai read that disagrees and is too weak is still dropped."""
    from edge_agent.vision.base import Box, PlateCandidate, PlateRead
    from edge_agent.vision.colour import FrameLight
    from edge_agent.vision.reader import PlateReader, ReaderOptions

    reader = PlateReader(None, object(), ReaderOptions())
    box = Box(520, 299, 63, 32)
    cand, image = PlateCandidate(box, 0.9), np.zeros((720, 1280, 3), np.uint8)
    latin = PlateRead("703229", "703229", 0.54, box, "latin")
    thai = PlateRead("703229", "703229 มหาสารคาม", 0.32, box, "thai", "TH", "มหาสารคาม", province_confidence=0.74)
    assert not reader._kept(thai)
    monkeypatch.setattr(reader, "_read_latin", lambda *a: latin)
    monkeypatch.setattr(reader, "_read_thai", lambda *a: thai)
    read = reader._read_candidate(image, cand, {}, FrameLight(image))
    assert (read.text, read.province, read.script, read.confidence) == ("703229", "มหาสารคาม", "thai", 0.54)
    other = PlateRead("708229", "708229 มหาสารคาม", 0.32, box, "thai", "TH", "มหาสารคาม", province_confidence=0.74)
    monkeypatch.setattr(reader, "_read_thai", lambda *a: other)
    assert reader._read_candidate(image, cand, {}, FrameLight(image)) is latin
    # PP-OCR lost the last digit: the Thai read of all six is taken, with the Latin read's score.
    monkeypatch.setattr(reader, "_read_latin", lambda *a: PlateRead("70322", "70322", 0.54, box, "latin"))
    monkeypatch.setattr(reader, "_read_thai", lambda *a: thai)
    assert reader._read_candidate(image, cand, {}, FrameLight(image)).text == "703229"
    # ... not when the Latin read fits a national format (then it is a plate of its own).
    fits = PlateRead("70322", "70322", 0.54, box, "latin", "US")
    monkeypatch.setattr(reader, "_read_latin", lambda *a: fits)
    assert reader._read_candidate(image, cand, {}, FrameLight(image)) is fits
    # ... nor for a consonant series, whose consonants the Latin read does not back.
    digits = PlateRead("3941", "3941", 0.54, box, "latin")
    series = PlateRead("หฏ3941", "หฏ3941 นราธิวาส", 0.32, box, "thai", "TH", "นราธิวาส", province_confidence=0.74)
    monkeypatch.setattr(reader, "_read_latin", lambda *a: digits)
    monkeypatch.setattr(reader, "_read_thai", lambda *a: series)
    assert reader._read_candidate(image, cand, {}, FrameLight(image)) is digits


def test_of_two_reads_of_one_region_scored_alike_the_one_with_a_province_is_kept():
    """The agreed read of a commercial plate takes the Latin read's score; the Latin read of the same
    line, from another candidate, scores the same and must not win the region."""
    from edge_agent.vision.base import Box, PlateRead
    from edge_agent.vision.reader import rank

    thai = PlateRead("707321", "707321 สมุทรสาคร", 0.54, Box(200, 205, 82, 27), "thai", "TH", "สมุทรสาคร",
                     province_confidence=0.59)
    latin = PlateRead("70732", "70732", 0.54, Box(200, 205, 82, 27), "latin")
    assert rank([latin, thai]) == [thai]


def test_a_commercial_plate_is_also_framed_around_its_middle_row():
    """A commercial plate's six digits are its middle row: the plate's shape centred on a one-row
    candidate is read too, and its read counts only as six digits (read as any plate, it made Thai
    reads of small overlay text on the Latin photos)."""
    from edge_agent.vision.base import Box, PlateCandidate, TextLine
    from edge_agent.vision.colour import FrameLight
    from edge_agent.vision.cpu import group_rows
    from edge_agent.vision.reader import PlateReader, ReaderOptions, commercial_region, plate_regions
    from edge_agent.vision.thai_model import ThaiRead

    image = np.full((720, 1280, 3), 128, np.uint8)
    row = Box(400, 300, 120, 40)
    line = TextLine(np.array([[400, 300], [520, 300], [520, 340], [400, 340]], np.float32), row)
    cand = PlateCandidate(row, 0.5, (line,))
    rows = group_rows([line])
    centred = commercial_region(image, cand, rows)
    assert centred is not None and centred not in plate_regions(image, cand, rows)
    assert abs((centred.y + centred.h / 2) - (row.y + row.h / 2)) <= 0.1 * centred.h  # around the row's middle
    assert centred.w / centred.h == pytest.approx(2.24, rel=0.05)  # a car plate's shape
    province = TextLine(np.array([[420, 345], [500, 345], [500, 360], [420, 360]], np.float32), Box(420, 345, 80, 15))
    assert commercial_region(image, PlateCandidate(row, 0.5, (line, province)), group_rows([line, province])) is None

    class Model:  # the commercial framing is the last crop of the batch
        def __init__(self, last: ThaiRead):
            self.last = last

        def read(self, crops):
            return [ThaiRead("702163", 0.98, "ราชบุรี", 0.2)] * (len(crops) - 1) + [self.last]

    reader = PlateReader(None, Model(ThaiRead("702163", 0.73, "สิงห์บุรี", 0.44)), ReaderOptions())
    read = reader._read_thai(image, row, plate_regions(image, cand, rows), FrameLight(image), None, centred)
    assert (read.text, read.province, read.vehicle_type) == ("702163", "สิงห์บุรี", "commercial")
    reader = PlateReader(None, Model(ThaiRead("พค1", 0.99, "กรุงเทพมหานคร", 0.95)), ReaderOptions())
    read = reader._read_thai(image, row, plate_regions(image, cand, rows), FrameLight(image), None, centred)
    assert (read.text, read.province) == ("702163", "")  # the other framings' read; its province under 0.3
