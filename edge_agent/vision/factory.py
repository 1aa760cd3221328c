"""Builds the plate recognizer (detector + reader) that settings ask for.

``auto`` uses Hailo when ``hailo_platform`` imports, a device is present and the HEF
exists; otherwise the CPU detector. The reader (PP-OCR for Latin, the trained Thai plate
model) runs on the CPU after either detector.
"""

from __future__ import annotations

import logging

from .base import DetectorError, PlateDetector, VisionConfigError
from .config import VisionSettings
from .cpu import CpuPlateDetector
from .hailo import HailoOptions, HailoPlateDetector, hailo_available
from .ocr import PaddleText
from .reader import PlateReader, PlateRecognizer, ReaderOptions
from .thai_model import ThaiPlateModel

log = logging.getLogger(__name__)


def choose_detector(settings: VisionSettings) -> tuple[str, str]:
    """Which backend to use ("hailo" or "cpu") and why."""
    if settings.detector == "cpu":
        return "cpu", "DETECTOR=cpu"
    if settings.hailo_hef is None:
        if settings.detector == "hailo":
            raise VisionConfigError("DETECTOR=hailo needs HAILO_HEF (the plate detector's .hef file)")
        return "cpu", "no HAILO_HEF set"
    ok, why = hailo_available(settings.hailo_hef)
    if settings.detector == "hailo" and not ok:
        raise DetectorError(f"DETECTOR=hailo but Hailo is unusable: {why}")
    return ("hailo", why) if ok else ("cpu", f"Hailo unusable: {why}")


def build_recognizer(settings: VisionSettings) -> PlateRecognizer:
    """Load the models (about a second on the CPU path); raises :class:`DetectorError`."""
    backend, why = choose_detector(settings)
    text = PaddleText(threads=settings.ocr_threads, det_limit_side_len=settings.ocr_det_size)
    thai = ThaiPlateModel(threads=settings.ocr_threads) if "thai" in settings.plate_scripts else None
    detector: PlateDetector
    if backend == "hailo":
        assert settings.hailo_hef is not None
        detector = HailoPlateDetector(
            HailoOptions(settings.hailo_hef, settings.hailo_score_threshold, class_ids=settings.hailo_class_ids)
        )
    else:
        detector = CpuPlateDetector(text, retry_size=settings.ocr_det_retry_size)
    log.info("plate detector: %s (%s)", backend, why)
    options = ReaderOptions(scripts=settings.plate_scripts, regions=settings.plate_regions)
    return PlateRecognizer(detector, PlateReader(text, thai, options))
