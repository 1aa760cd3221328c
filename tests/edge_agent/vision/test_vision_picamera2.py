"""The Pi camera source against a fake picamera2: streams, BGR order, metadata units, failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edge_agent.vision.base import SourceError
from edge_agent.vision.sources import Picamera2Source, open_source_spec


@pytest.fixture
def fake_picamera2(monkeypatch):
    """Put the fake ``picamera2`` on the import path for one test."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fake_picamera2"))
    sys.modules.pop("picamera2", None)
    import picamera2

    picamera2.FAIL_AFTER.clear()
    yield picamera2
    sys.modules.pop("picamera2", None)


def test_lores_for_detection_main_for_crops_and_metadata(fake_picamera2):
    """A frame carries the lores image, the hi-res image and exposure in seconds, gain and lux."""
    src = open_source_spec("picamera2", width=640, height=360)
    src.open()
    frame = src.read()
    assert frame.image.shape == (360, 640, 3) and frame.hires is not None and frame.hires.shape == (1296, 2304, 3)
    assert tuple(frame.image[0, 0]) == fake_picamera2.FRAME_COLOR_BGR  # RGB888 is BGR: no conversion
    assert (frame.exposure_time, frame.analog_gain, frame.lux) == (0.02, 2.5, 310.0)
    src.close()


def test_capture_failure_is_a_source_error(fake_picamera2):
    """A libcamera error while capturing becomes SourceError (the pipeline then reconnects)."""
    fake_picamera2.FAIL_AFTER.append(1)
    src = Picamera2Source()
    src.open()
    src.read()
    with pytest.raises(SourceError, match="timed out"):
        src.read()
