"""The PP-OCR text engine: the vendored model files, its pre/post-processing, real Latin plates."""

from __future__ import annotations

import csv
import hashlib
import re

import cv2
import numpy as np
import pytest

from edge_agent.vision.base import DetectorError
from edge_agent.vision.ocr import MODELS_DIR, PaddleText, ctc_decode, load_charset, rectify

# Photo in ../shared/plates -> its plate text; each reads exactly (separators aside) in its plate box.
LATIN_SAMPLES = {
    "us_us1.jpg": "4PCI264",
    "us_us3.jpg": "9185914",
    "us_car1.jpg": "627WWI",
    "eu_eu10.jpg": "WA56660",
    "eu_test_080.jpg": "RK003AB",
    "br_NYY1710.jpg": "NYY1710",
}


def _readme_sums() -> dict[str, str]:
    table = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `([\w.]+)` \|.*\| `([0-9a-f]{64})` \|$", table, re.MULTILINE))


def test_vendored_files_match_the_sums_in_their_readme():
    """det.onnx, rec.onnx and dict.txt are byte for byte the files the README names."""
    sums = _readme_sums()
    assert sorted(sums) == ["det.onnx", "dict.txt", "rec.onnx"]
    for name, want in sums.items():
        assert hashlib.sha256((MODELS_DIR / name).read_bytes()).hexdigest() == want, name


def test_the_licence_ships_beside_the_models():
    """The Apache-2.0 text travels with the files it covers."""
    assert (MODELS_DIR / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")


def test_charset_matches_the_recogniser_classes():
    """Blank + 18708 dictionary characters + space = the recogniser's 18710 output classes."""
    import onnxruntime as ort

    charset = load_charset(MODELS_DIR / "dict.txt")
    assert charset[0] == "" and charset[-1] == " " and len(charset) == 18710
    assert all(len(c) == 1 for c in charset[1:])  # the CRLF line ends are not characters
    rec = ort.InferenceSession(str(MODELS_DIR / "rec.onnx"), providers=["CPUExecutionProvider"])
    assert rec.get_outputs()[0].shape[-1] == len(charset)


def test_ctc_merges_repeats_drops_blanks_and_averages_the_kept_steps():
    """Steps A A _ A B -> "AAB"; the confidence is the mean of the three kept steps' best."""
    charset = ["", "A", "B"]
    best = [(1, 0.9), (1, 0.8), (0, 0.99), (1, 0.7), (2, 0.6)]
    probs = np.zeros((2, len(best), 3), np.float32)
    for t, (cls, p) in enumerate(best):
        probs[0, t, cls] = p
    probs[1, :, 0] = 1.0  # all blank
    (text, conf, alternatives), empty = ctc_decode(probs, charset)
    assert text == "AAB" and conf == pytest.approx((0.9 + 0.7 + 0.6) / 3)
    assert alternatives == (pytest.approx({"A": 0.9}), pytest.approx({"A": 0.7}), pytest.approx({"B": 0.6}))
    assert empty == ("", 0.0, ())


def test_ctc_keeps_what_else_the_recogniser_weighed_for_each_character():
    """A step that read 1 at 0.55 with I at 0.40 keeps both; a class under 0.001 is left out."""
    charset = ["", "1", "I", "7", "-"]
    probs = np.zeros((1, 2, 5), np.float32)
    probs[0, 0] = [0.0, 0.55, 0.40, 0.0005, 0.0495]
    probs[0, 1] = [1.0, 0.0, 0.0, 0.0, 0.0]
    (read,) = ctc_decode(probs, charset)
    assert read.text == "1" and read.alternatives == (pytest.approx({"1": 0.55, "I": 0.40}),)


def test_rectify_warps_the_quad_upright_and_turns_tall_crops():
    """A 40x10 box comes out 40 wide; a 10x40 one is turned to lie 40 wide."""
    image = np.zeros((100, 100, 3), np.uint8)
    wide = np.float32([[10, 10], [50, 10], [50, 20], [10, 20]])
    tall = np.float32([[10, 10], [20, 10], [20, 50], [10, 50]])
    assert rectify(image, wide).shape == (10, 40, 3)
    assert rectify(image, tall).shape == (10, 40, 3)


def test_blank_and_tiny_images_have_no_lines(text_engine):
    """Nothing to find is an empty list, also below the network's 32 x 32 minimum."""
    assert text_engine.find_lines(np.full((720, 1280, 3), 128, np.uint8)) == []
    assert text_engine.find_lines(np.full((20, 30, 3), 200, np.uint8)) == []
    assert text_engine.read([]) == []


def test_missing_model_files_are_a_detector_error(tmp_path):
    """A release without the models fails at load with the path, not on the first frame."""
    with pytest.raises(DetectorError, match="det.onnx"):
        PaddleText(models=tmp_path)


def test_unknown_limit_type_is_refused():
    """The detector's resize rule is 'max' or 'min'."""
    with pytest.raises(ValueError, match="det_limit_type"):
        PaddleText(det_limit_type="long")


def test_real_latin_plates_are_found_and_read(text_engine, real_plates):
    """In each real photo's plate box (with a margin), a found line reads as the plate, confidently."""
    boxes = {r["file"]: r for r in csv.DictReader(open(real_plates / "bboxes.csv", encoding="utf-8"))}
    for name, plate in LATIN_SAMPLES.items():
        image = cv2.imread(str(real_plates / name))
        x, y, w, h = (int(boxes[name][k]) for k in "xywh")
        region = image[max(0, y - h // 2) : y + h + h // 2, max(0, x - w // 4) : x + w + w // 4]
        lines = text_engine.find_lines(region)
        reads = text_engine.read([text_engine.crop(region, ln) for ln in lines])
        best = {re.sub(r"[^0-9A-Z]", "", text): conf for text, conf, _ in reads}
        assert best.get(plate, 0.0) >= 0.9, (name, reads)
