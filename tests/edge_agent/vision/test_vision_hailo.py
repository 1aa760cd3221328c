"""Hailo detector against the fake hailo_platform: call order, letterboxing, NMS and raw YOLO decoding."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.vision.base import Box, DetectorError
from edge_agent.vision.hailo import HailoOptions, HailoPlateDetector, hailo_available


def _nms_model(write_hef, classes=2):
    return write_hef(
        (640, 640, 3), [{"name": "yolov8n/nms", "kind": "nms_by_class", "classes": classes, "max_boxes": 20}]
    )


def test_nms_boxes_map_back_to_frame_pixels(fake_hailo, write_hef):
    """An on-chip NMS box relative to the letterboxed input comes back in frame pixels."""
    hef = _nms_model(write_hef)
    # A 1280x720 frame scales by 0.5 into 640x360 with 140 px of padding on top.
    # Plate at frame (400, 300, 200, 100) -> input (200, 290, 100, 50) -> relative coords.
    plate = [290 / 640, 200 / 640, 340 / 640, 300 / 640, 0.9]
    fake_hailo.SCENARIO.outputs = lambda x: {"yolov8n/nms": [np.array([plate]), np.array([[0, 0, 0.1, 0.1, 0.2]])]}
    det = HailoPlateDetector(HailoOptions(hef))
    frame = np.zeros((720, 1280, 3), np.uint8)
    found = det.detect(frame)
    assert [c.box for c in found] == [Box(400, 300, 200, 100)]
    assert found[0].score == pytest.approx(0.9)
    sent = fake_hailo.SCENARIO.inputs[0]
    assert sent.shape == (640, 640, 3) and sent[0, 0, 0] == 114 and sent[320, 320, 0] == 0
    det.close()
    assert fake_hailo.SCENARIO.calls[-2:] == ["release_configured", "release_vdevice"]


def test_nms_class_filter_keeps_only_plate_class(fake_hailo, write_hef):
    """With class_ids set, boxes of other classes (vehicles) are dropped."""
    hef = _nms_model(write_hef)
    car, plate = [0.1, 0.1, 0.9, 0.9, 0.95], [0.5, 0.4, 0.55, 0.6, 0.8]
    fake_hailo.SCENARIO.outputs = lambda x: {"yolov8n/nms": [np.array([car]), np.array([plate])]}
    det = HailoPlateDetector(HailoOptions(hef, class_ids=(1,)))
    found = det.detect(np.zeros((640, 640, 3), np.uint8))
    assert len(found) == 1 and found[0].box == Box(256, 320, 128, 32)


def test_raw_yolo_grid_is_decoded_on_the_host(fake_hailo, write_hef):
    """A tiny_yolov4-style 13x13x18 logit grid decodes to the box it encodes, after host NMS."""
    hef = write_hef(
        (416, 416, 3), [{"name": "conv19", "shape": [13, 13, 18]}, {"name": "conv21", "shape": [26, 26, 18]}]
    )
    grid = np.full((13, 13, 18), -12.0, np.float32)
    # Cell (row 6, col 4), anchor 0 (81x82 px): centre offset 0.5 (logit 0), size = anchor.
    grid[6, 4, 0:6] = [0.0, 0.0, 0.0, 0.0, 8.0, 8.0]
    fake_hailo.SCENARIO.outputs = lambda x: {"conv19": grid}
    det = HailoPlateDetector(HailoOptions(hef))
    found = det.detect(np.zeros((416, 416, 3), np.uint8))
    assert len(found) == 1
    cx, cy = 4.5 / 13 * 416, 6.5 / 13 * 416
    assert found[0].box == Box(round(cx - 40.5), round(cy - 41), 81, 82)


def test_failed_run_returns_empty_and_recovers(fake_hailo, write_hef):
    """A driver timeout gives [] with last_error set; the next good run clears it."""
    hef = _nms_model(write_hef, classes=1)
    fake_hailo.SCENARIO.fail_runs = 1
    fake_hailo.SCENARIO.outputs = lambda x: {"yolov8n/nms": [np.array([[0.4, 0.4, 0.5, 0.6, 0.9]])]}
    det = HailoPlateDetector(HailoOptions(hef))
    frame = np.zeros((640, 640, 3), np.uint8)
    assert det.detect(frame) == [] and "TIMEOUT" in det.last_error
    assert len(det.detect(frame)) == 1 and det.last_error is None


def test_availability_needs_module_device_and_hef(fake_hailo, write_hef, tmp_path):
    """auto only picks Hailo when the module imports, a device is present and the HEF exists."""
    hef = _nms_model(write_hef)
    assert hailo_available(hef)[0]
    assert not hailo_available(tmp_path / "missing.hef")[0]
    fake_hailo.SCENARIO.devices = []
    assert hailo_available(hef) == (False, "no Hailo device found")
    with pytest.raises(DetectorError):
        HailoPlateDetector(HailoOptions(tmp_path / "missing.hef"))
