"""VisionSettings from the environment, and which detector the settings select."""

from __future__ import annotations

import pytest

from edge_agent.vision.base import DetectorError, VisionConfigError
from edge_agent.vision.config import VisionSettings
from edge_agent.vision.factory import choose_detector


def test_env_names_map_to_fields():
    """The fixed names and this package's extras land in typed fields."""
    s = VisionSettings.from_env(
        {
            "CAMERA_SOURCE": "usb:1",
            "DETECTOR": "cpu",
            "PLATE_REGIONS": "US, SK",
            "HAILO_PLATE_CLASSES": "0,2",
            "OCR_THREADS": "2",
            "UNRELATED": "x",
        }
    )
    assert (s.camera_source, s.detector, s.plate_regions) == ("usb:1", "cpu", ("US", "SK"))
    assert s.hailo_class_ids == (0, 2) and s.ocr_threads == 2


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DETECTOR": "gpu"}, "DETECTOR"),
        ({"PLATE_REGIONS": "XX"}, "PLATE_REGIONS"),
        ({"OCR_THREADS": "zero"}, "OCR_THREADS"),
    ],
)
def test_bad_values_name_the_variable(env, name):
    """A bad value raises VisionConfigError naming the environment variable."""
    with pytest.raises(VisionConfigError, match=name):
        VisionSettings.from_env(env)


def test_unknown_fields_are_refused():
    """The model is strict: a misspelt field is an error, not ignored."""
    with pytest.raises(ValueError):
        VisionSettings(camera_sorce="usb:0")


def test_detector_selection(fake_hailo, write_hef, tmp_path):
    """auto picks Hailo only when usable; cpu is always cpu; forced hailo fails loudly."""
    hef = write_hef((640, 640, 3), [{"name": "nms", "kind": "nms_by_class", "classes": 1}])
    assert choose_detector(VisionSettings(detector="auto", hailo_hef=hef))[0] == "hailo"
    assert choose_detector(VisionSettings(detector="cpu", hailo_hef=hef))[0] == "cpu"
    assert choose_detector(VisionSettings(detector="auto"))[0] == "cpu"
    fake_hailo.SCENARIO.devices = []
    assert choose_detector(VisionSettings(detector="auto", hailo_hef=hef)) == (
        "cpu",
        "Hailo unusable: no Hailo device found",
    )
    with pytest.raises(DetectorError):
        choose_detector(VisionSettings(detector="hailo", hailo_hef=hef))
    with pytest.raises(VisionConfigError):
        choose_detector(VisionSettings(detector="hailo"))
