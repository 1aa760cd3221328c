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
