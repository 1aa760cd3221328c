"""The synthetic plate renderer: deterministic scenes, accuracy sets and demo footage."""

from __future__ import annotations

import json
import random

import cv2
import numpy as np

from demo.render import (
    composite_into_photo,
    random_latin,
    random_thai,
    render_sample,
    write_accuracy_set,
    write_demo_footage,
)
from edge_agent.vision.base import Box
from edge_agent.vision.plates import parse_latin
from edge_agent.vision.thai_model import valid_line1


def test_same_seed_same_scene():
    """A seed fully determines a rendered scene."""
    a = render_sample(random.Random(3), random_thai(random.Random(3)))
    b = render_sample(random.Random(3), random_thai(random.Random(3)))
    assert np.array_equal(a.image, b.image) and a.box == b.box


def test_random_plates_follow_the_formats():
    """Generated Thai and Latin texts parse as plates of their kind."""
    rng = random.Random(1)
    for _ in range(50):
        thai, latin = random_thai(rng), random_latin(rng)
        assert valid_line1(thai.text) and thai.province
        parsed = parse_latin(latin.text, (latin.region,))
        assert parsed is not None and parsed.region == latin.region


def test_accuracy_set_manifest(tmp_path):
    """The accuracy set writes its images and a manifest with text and box."""
    rows = write_accuracy_set(tmp_path, seed=2, count=3)
    assert (tmp_path / "manifest.csv").read_text(encoding="utf-8").count("\n") == 4
    for row in rows:
        image = cv2.imread(str(tmp_path / row["file"]))
        x, y, w, h = map(int, row["box"].split())
        assert image.shape == (720, 1280, 3) and w > 50 and 0 <= x and x + w <= 1280


def test_demo_footage_frames_and_manifest(tmp_path):
    """Demo footage has gap + dwell frames per car and describes each car."""
    cars = write_demo_footage(tmp_path, seed=4, vehicles=2, fps=5, dwell_s=1.0, gap_s=1.0)
    frames = sorted(tmp_path.glob("frame_*.jpg"))
    assert len(frames) == 2 * (5 + 5) + 5
    meta = json.loads((tmp_path / "footage.json").read_text(encoding="utf-8"))
    assert [v["text"] for v in meta["vehicles"]] == [c.spec.text for c in cars]
    assert cars[0].first_frame == 5 and cars[0].last_frame == 9


def test_composite_covers_the_annotated_box():
    """A plate composited into a photo changes the pixels of the annotated box."""
    photo = np.full((400, 600, 3), 30, np.uint8)
    out = composite_into_photo(photo, Box(200, 180, 160, 40), random_thai(random.Random(0)), random.Random(0))
    assert out[180:220, 200:360].mean() > 100 and out[10, 10].mean() == 30
