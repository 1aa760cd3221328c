"""The shipped Thai plate model: loads, reads real Thai crops it never trained on, and retrains.

Full accuracy figures are in the benchmark (``python -m bench.vision``); these tests check that
the model file, the code that runs it and the training command fit together, on real plates.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.vision.base import Box, DetectorError, PlateCandidate
from edge_agent.vision.colour import PlateColours
from edge_agent.vision.thai_model import MODEL_PATH, ThaiPlateModel, decode, valid_line1, vehicle_type

ROOT = Path(__file__).resolve().parents[3]
THAI = ROOT / ".." / "shared" / "thai-plates"


@pytest.fixture(scope="module")
def held_out() -> list[dict[str, str]]:
    """Real crops from the training command's held-out split (never trained on), or skip."""
    if not (THAI / "manifest.csv").is_file():
        pytest.skip(f"real Thai plates not found at {THAI.resolve()} (../shared/thai-plates)")
    from training.data import Sample, manifest

    out = [r for r in manifest(THAI) if r["province"] and valid_line1(r["plate_text"])
           and Sample.from_row(r).held_out]
    return out[::25]  # about 25 plates spread over the split


def test_shipped_model_is_small_and_describes_itself():
    import onnxruntime as ort

    assert MODEL_PATH.is_file() and MODEL_PATH.stat().st_size < 10 * 2**20
    meta = ort.InferenceSession(str(MODEL_PATH), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert set(meta.custom_metadata_map) >= {"charset", "provinces", "input"}


def test_reads_held_out_real_thai_crops_with_province(thai_model, held_out):
    crops = [cv2.imread(str(THAI / "images" / r["file"])) for r in held_out]
    reads = thai_model.read(crops)
    pairs = list(zip(reads, held_out, strict=True))
    both = sum((rd.text, rd.province) == (r["plate_text"], r["province"]) for rd, r in pairs)
    assert both >= 0.8 * len(held_out), [(rd.text, rd.province, r["plate_text"]) for rd, r in pairs]
    assert all(0 <= rd.text_confidence <= 1 and 0 <= rd.province_confidence <= 1 for rd in reads)


def test_reads_a_crop_at_the_plates_shape_and_inside_a_grey_frame(thai_model, held_out):
    """What the reader meets in the field: a 2.24:1 crop, a crop inside a larger frame."""
    from training.data import in_grey_frame

    rows = held_out[:10]
    shaped = [cv2.resize(cv2.imread(str(THAI / "images" / r["file"])), (224, 100)) for r in rows]
    framed = [in_grey_frame(c, 0.75) for c in shaped]
    for crops in (shaped, framed):
        reads = thai_model.read(crops)
        assert sum(rd.text == r["plate_text"] for rd, r in zip(reads, rows, strict=True)) >= 7


def test_reads_held_out_crops_in_night_conditions(thai_model, held_out):
    """The bench's simulated views of real held-out crops (monochrome as from an IR camera; dark with
    sensor noise; blurred; skewed): registration and province still right on most."""
    from bench.vision import _views

    rows = held_out[:20]
    views = [_views(cv2.imread(str(THAI / "images" / r["file"])), seed=i) for i, r in enumerate(rows)]
    for name in ("2.24:1, monochrome (an IR camera)", "2.24:1, monochrome, dark (x0.35) + sensor noise (sigma 6)",
                 "2.24:1, blurred (Gaussian sigma 1.6: motion, focus)",
                 "2.24:1, skewed (seen 6-10 deg off the lane's axis, tilted up to 5 deg)"):
        reads = thai_model.read([v[name] for v in views])
        pairs = zip(reads, rows, strict=True)
        both = sum((rd.text, rd.province) == (r["plate_text"], r["province"]) for rd, r in pairs)
        assert both >= 16, (name, [(rd.text, rd.province) for rd in reads])


def test_recognizer_reads_a_real_thai_crop_end_to_end(recognizer, held_out):
    """The whole CPU path (plate finder, reader ranking) on a real crop: province and scores out."""
    hits = 0
    for r in held_out[:6]:
        image = cv2.resize(cv2.imread(str(THAI / "images" / r["file"])), (336, 150))
        reads = recognizer.recognize(image)
        if reads and (reads[0].text, reads[0].province) == (r["plate_text"], r["province"]):
            hits += 1
            assert reads[0].script == "thai" and reads[0].province_confidence is not None
            want = ("commercial",) if r["plate_text"].isdigit() else ("", "private", "van", "pickup", "taxi")
            assert reads[0].vehicle_type in want
    assert hits >= 4


def test_hailo_box_is_read_directly(thai_model, text_engine, held_out):
    """A detector's plate box (no text lines) goes to the Thai model as it is."""
    from edge_agent.vision.reader import PlateReader, ReaderOptions

    r = held_out[0]
    crop = cv2.resize(cv2.imread(str(THAI / "images" / r["file"])), (224, 100))
    scene = np.full((720, 1280, 3), 70, np.uint8)
    scene[300:400, 500:724] = crop
    reader = PlateReader(text_engine, thai_model, ReaderOptions(scripts=("thai",)))
    reads = reader.read(scene, [PlateCandidate(Box(500, 300, 224, 100), 0.9)])
    assert reads and reads[0].text == r["plate_text"]


def test_odd_input_reads_as_nothing(thai_model):
    reads = thai_model.read([np.zeros((0, 0, 3), np.uint8), np.zeros((2, 50, 3), np.uint8)])
    assert [r.text for r in reads] == ["", ""] and not reads[0].valid
    assert thai_model.read([]) == []


def test_model_for_another_alphabet_is_refused(tmp_path):
    """A model file whose metadata does not match the code is a clear error, not garbage reads."""
    import onnx

    proto = onnx.load(str(MODEL_PATH))
    for prop in proto.metadata_props:
        if prop.key == "charset":
            prop.value = "0123456789ABC"
    path = tmp_path / "other.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(DetectorError, match="different 'charset'"):
        ThaiPlateModel(path).read([np.zeros((64, 160, 3), np.uint8)])
    with pytest.raises(DetectorError, match="not found"):
        ThaiPlateModel(tmp_path / "missing.onnx").read([np.zeros((64, 160, 3), np.uint8)])


def test_decode_collapses_repeats_and_blanks():
    from edge_agent.vision.thai_model import CHARSET, PROVINCE_NONE

    def onehot(classes):
        x = np.full((1, len(classes), len(CHARSET) + 1), -10.0, np.float32)
        for t, c in enumerate(classes):
            x[0, t, c] = 10.0
        return x

    k, one = CHARSET.index("ก") + 1, CHARSET.index("1") + 1
    prov = np.full((1, PROVINCE_NONE + 1), -10.0, np.float32)
    prov[0, PROVINCE_NONE] = 10.0
    read = decode(onehot([k, k, 0, k, one, 0, one, 0]), prov)[0]
    assert read.text == "กก11" and read.province == "" and read.text_confidence > 0.99


def test_vehicle_type_from_the_format_and_the_colours():
    assert vehicle_type("704446") == "commercial"
    assert vehicle_type("704446", PlateColours("white", "black")) == "commercial"  # the format says it alone
    assert vehicle_type("1กข1234", PlateColours("white", "black")) == "private"
    assert vehicle_type("ฮอ8365", PlateColours("white", "blue")) == "van"
    assert vehicle_type("ผธ472", PlateColours("white", "green")) == "pickup"
    assert vehicle_type("ฟค27", PlateColours("yellow", "")) == "taxi"
    assert vehicle_type("1กข1234") == ""  # colours unknown (an IR camera): a consonant series does not say
    assert vehicle_type("1กข1234", PlateColours("white", "")) == ""
    assert vehicle_type("ก0379", PlateColours("red", "")) == ""  # a new car's temporary plate
    assert vehicle_type("AB12", PlateColours("white", "black")) == ""


@pytest.mark.slow
def test_training_command_runs_end_to_end_on_a_tiny_subset(tmp_path):
    """python -m training trains, evaluates and exports a model the run-time code loads."""
    if not (THAI / "manifest.csv").is_file():
        pytest.skip("../shared/thai-plates not found")
    pytest.importorskip("torch")
    out = tmp_path / "tiny.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "training", "--steps", "3", "--batch", "8", "--limit", "60",
         "--eval-every", "2", "--threads", "1", "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| held-out view |" in proc.stdout and "registration + province" in proc.stdout
    assert ThaiPlateModel(out).read([np.zeros((64, 160, 3), np.uint8)])[0].province_confidence >= 0


def test_training_command_rejects_a_wrong_folder(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "training", "--data", str(tmp_path), "--steps", "1"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode != 0 and "manifest.csv" in proc.stderr


def test_label_fixes_apply_to_known_rows_and_keep_the_split(held_out, tmp_path):
    """Audited labels replace the dataset's, valid, without moving any plate across the split; a fix
    made against another version of the data is refused."""
    import csv

    from training import data

    rows = {r["file"]: r for r in data.manifest(THAI)}
    with data.LABEL_FIXES.open(encoding="utf-8") as f:
        fixes = list(csv.DictReader(f))
    assert fixes
    for fix in fixes:
        row = rows[fix["file"]]
        assert (row["plate_text"], row["province"]) == (fix["plate_text"], fix["province"])
        assert valid_line1(row["plate_text"])
        assert row["split_key"] == f"{fix['dataset_plate_text']}|{fix['dataset_province']}"
        fixed, as_given = data.Sample.from_row(row), data.Sample(row["file"], fix["dataset_plate_text"],
                                                                 fix["dataset_province"])
        assert fixed.held_out == as_given.held_out

    changed = tmp_path / "thai-plates"
    changed.mkdir()
    for name in ("consonants.csv", "images"):
        (changed / name).symlink_to((THAI / name).resolve())
    text = (THAI / "manifest.csv").read_text(encoding="utf-8")
    (changed / "manifest.csv").write_text(text.replace(f"{fixes[0]['file']},{fixes[0]['dataset_plate_text']},",
                                                       f"{fixes[0]['file']},1กก1,", 1), encoding="utf-8")
    with pytest.raises(SystemExit, match=fixes[0]["file"]):
        data.manifest(changed)

