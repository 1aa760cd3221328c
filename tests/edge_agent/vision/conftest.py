"""Fixtures for the vision tests: the fake hailo_platform, rendered plates, the shared CPU engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FAKE_HAILO_DIR = Path(__file__).parent / "fake_hailo"
REAL_PLATES = Path(__file__).resolve().parents[3] / ".." / "shared" / "plates"


@pytest.fixture
def real_plates() -> Path:
    """The shared real photos folder (``../shared/plates`` from the repo root), or skip."""
    if not (REAL_PLATES / "manifest.csv").is_file():
        pytest.skip(f"real plate photos not found at {REAL_PLATES.resolve()} (../shared/plates)")
    return REAL_PLATES


@pytest.fixture
def fake_hailo(monkeypatch):
    """Put the fake ``hailo_platform`` on the import path for one test; yields its module."""
    monkeypatch.syspath_prepend(str(FAKE_HAILO_DIR))
    sys.modules.pop("hailo_platform", None)
    import hailo_platform

    hailo_platform.reset()
    yield hailo_platform
    sys.modules.pop("hailo_platform", None)


@pytest.fixture
def write_hef(tmp_path):
    """Write a fake HEF (JSON description of the network) and return its path."""

    def write(input_shape, outputs, name="model.hef"):
        path = tmp_path / name
        path.write_text(json.dumps({"input": list(input_shape), "outputs": outputs}))
        return path

    return write


@pytest.fixture(scope="session")
def text_engine():
    """One PP-OCR engine for the whole session (loading it takes about a second)."""
    from edge_agent.vision.ocr import PaddleText

    return PaddleText(threads=1)


@pytest.fixture(scope="session")
def thai_model():
    """The shipped Thai plate model (edge_agent/vision/models/thai_plate_reader.onnx)."""
    from edge_agent.vision.thai_model import ThaiPlateModel

    return ThaiPlateModel(threads=1)


@pytest.fixture(scope="session")
def recognizer(text_engine, thai_model):
    """The CPU recognizer (PP-OCR plate finder + Latin reader, Thai model) the CLI and pipeline use."""
    from edge_agent.vision.config import VisionSettings
    from edge_agent.vision.cpu import CpuPlateDetector
    from edge_agent.vision.reader import PlateReader, PlateRecognizer, ReaderOptions

    detector = CpuPlateDetector(text_engine, retry_size=VisionSettings().ocr_det_retry_size)
    return PlateRecognizer(detector, PlateReader(text_engine, thai_model, ReaderOptions()))
