"""Motorcycle plates: three rows found, redrawn as a car plate, read by the car-plate model."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from demo.render import random_thai, random_thai_motorcycle, render_plate, render_sample
from edge_agent.vision.base import Box, TextLine
from edge_agent.vision.cpu import candidates_from_lines
from edge_agent.vision.layout import as_car_layout, motorcycle_rows, text_rows
from edge_agent.vision.thai_model import vehicle_type

THAI = Path(__file__).resolve().parents[3] / ".." / "shared" / "thai-plates"


def test_rendered_motorcycle_plates_are_redrawn_and_read(thai_model):
    """Rendered plates only (the real data has one motorcycle plate, half hidden): a smoke test of
    the redrawing; python -m bench.vision prints the scene figures."""
    right = 0
    for seed in range(20):
        rng = random.Random(seed)
        spec = random_thai_motorcycle(rng)
        redrawn = as_car_layout(render_plate(spec, rng))
        assert redrawn is not None, spec
        assert redrawn.shape[1] > redrawn.shape[0]  # a car plate's landscape shape
        right += thai_model.read([redrawn])[0].text == spec.text
    assert right >= 12


def test_car_plates_are_not_taken_for_motorcycle_plates():
    taken = sum(as_car_layout(render_plate(random_thai(random.Random(s)), random.Random(s))) is not None
                for s in range(40))
    assert taken <= 1
    assert as_car_layout(np.full((100, 224, 3), 240, np.uint8)) is None  # a blank plate
    assert as_car_layout(np.zeros((10, 10, 3), np.uint8)) is None


def test_real_car_and_commercial_crops_are_rarely_taken_for_motorcycle_plates():
    if not (THAI / "manifest.csv").is_file():
        pytest.skip(f"real Thai plates not found at {THAI.resolve()} (../shared/thai-plates)")
    with (THAI / "manifest.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::20]
    taken = sum(as_car_layout(cv2.imread(str(THAI / "images" / r["file"]))) is not None for r in rows)
    assert taken <= 0.02 * len(rows), taken


def test_rows_of_a_motorcycle_plate_between_a_frame_and_a_bumper():
    assert motorcycle_rows([(3, 12), (18, 45), (57, 69), (83, 111), (119, 125)]) == ((18, 45), (57, 69), (83, 111))
    assert motorcycle_rows([(10, 60), (70, 100)]) is None  # a car plate: series + province
    assert motorcycle_rows([(5, 15), (20, 70), (80, 110)]) is None  # commercial: THAILAND, number, province
    gray = np.full((128, 128), 235, np.uint8)
    for first, end in ((18, 45), (57, 69), (83, 111)):
        gray[first:end, 20:108:6] = 20
    assert text_rows(gray) == [(18, 45), (57, 69), (83, 111)]


def test_three_text_rows_make_a_motorcycle_candidate():
    def line(x, y, w, h):
        return TextLine(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32), Box(x, y, w, h))

    series, province, number = line(100, 100, 120, 50), line(110, 160, 100, 22), line(105, 190, 110, 55)
    boxes = [c.box.as_list() for c in candidates_from_lines([series, province, number])]
    assert [100, 100, 120, 145] in boxes  # all three rows
    assert [100, 100, 120, 82] in boxes  # series + province, as a car plate's two lines
    car = candidates_from_lines([line(100, 100, 200, 50), line(130, 160, 140, 25)])
    assert all(len(c.lines) < 3 for c in car)


def test_a_motorcycle_in_a_scene_is_read_with_its_type(recognizer):
    rng = random.Random(100)
    spec = random_thai_motorcycle(rng)
    sample = render_sample(rng, spec)
    reads = recognizer.recognize(sample.image)
    assert reads and (reads[0].text, reads[0].province) == (spec.text, spec.province)
    assert reads[0].vehicle_type == "motorcycle" and reads[0].box.iou(sample.box) > 0.2
    assert vehicle_type("กข123", motorcycle=True) == "motorcycle"
    assert vehicle_type("704446", motorcycle=True) == "commercial"
