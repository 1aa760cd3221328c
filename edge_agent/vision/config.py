"""Vision settings: one strict pydantic model, built once from the environment in ``__main__``.

Fixed names (DESIGN.md): ``CAMERA_SOURCE`` and ``DETECTOR``. The rest are this
package's own, all optional; see ``docs/vision.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .base import VisionConfigError
from .plates import LATIN_FORMATS

# Environment variable -> field. Lists are comma-separated.
ENV_NAMES: dict[str, str] = {
    "CAMERA_SOURCE": "camera_source",
    "DETECTOR": "detector",
    "CAMERA_WIDTH": "frame_width",
    "CAMERA_HEIGHT": "frame_height",
    "CAMERA_FPS": "replay_fps",
    "HAILO_HEF": "hailo_hef",
    "HAILO_PLATE_CLASSES": "hailo_class_ids",
    "HAILO_SCORE_THRESHOLD": "hailo_score_threshold",
    "PLATE_SCRIPTS": "plate_scripts",
    "PLATE_REGIONS": "plate_regions",
    "PLATE_EVENT_DELAY": "event_delay_s",
    "PLATE_MIN_CONFIDENCE": "min_confidence",
    "PLATE_MIN_SHARPNESS": "min_sharpness",
    "OCR_THREADS": "ocr_threads",
    "OCR_DET_SIZE": "ocr_det_size",
    "OCR_DET_RETRY_SIZE": "ocr_det_retry_size",
    "MOTION_THRESHOLD": "motion_threshold",
}
_LIST_FIELDS = {"hailo_class_ids", "plate_scripts", "plate_regions"}


class VisionSettings(BaseModel):
    """Everything the camera + detection pipeline needs. Unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_source: str = Field("picamera2", description="picamera2, usb:N, rtsp://..., a video file or a folder")
    detector: Literal["auto", "hailo", "cpu"] = Field("auto", description="auto picks Hailo when usable")
    frame_width: int = Field(1280, ge=160, le=4096, description="detection frame width (USB, picamera2)")
    frame_height: int = Field(720, ge=120, le=4096, description="detection frame height")
    replay_fps: float = Field(10.0, gt=0, le=120, description="rate a folder of images is replayed at")
    hailo_hef: Path | None = Field(None, description="plate-detector HEF (Model Zoo / hailo-apps)")
    hailo_class_ids: tuple[int, ...] | None = Field(None, description="HEF classes that are plates; all if unset")
    hailo_score_threshold: float = Field(0.4, gt=0, lt=1)
    plate_scripts: tuple[Literal["thai", "latin"], ...] = Field(("thai", "latin"), min_length=1)
    plate_regions: tuple[str, ...] = Field(tuple(LATIN_FORMATS), description="Latin national formats to use")
    event_delay_s: float = Field(1.0, ge=0, le=30, description="seconds from a vehicle's first good read to its event")
    min_confidence: float = Field(0.5, ge=0, le=1, description="reads below this never vote")
    min_sharpness: float = Field(60.0, ge=0, description="variance-of-Laplacian floor: blurrier crops never vote")
    ocr_threads: int = Field(1, ge=1, le=16, description="CPU threads for the ONNX models")
    ocr_det_size: int = Field(
        960, ge=320, le=2048, description="images larger than this are scaled down for text detection"
    )
    ocr_det_retry_size: int = Field(
        1600, ge=0, le=4096,
        description="an image whose best read scores under 0.5 is searched for text again, scaled down only to "
                    "this size (small, far plates); 0 or <= ocr_det_size: never",
    )
    motion_threshold: float = Field(0.004, gt=0, lt=1, description="changed-pixel share that wakes detection")
    scene_max_width: int = Field(640, ge=160, description="scene JPEG width sent upstream")
    jpeg_quality: int = Field(75, ge=30, le=95)

    @field_validator("plate_regions")
    @classmethod
    def _known_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(LATIN_FORMATS))
        if unknown:
            raise ValueError(f"unknown regions {unknown}; known: {sorted(LATIN_FORMATS)}")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VisionSettings:
        """Build from environment variables (see :data:`ENV_NAMES`); raises :class:`VisionConfigError`."""
        values: dict[str, object] = {}
        for name, field_name in ENV_NAMES.items():
            raw = env.get(name, "").strip()
            if raw:
                values[field_name] = (
                    [p.strip() for p in raw.split(",") if p.strip()] if field_name in _LIST_FIELDS else raw
                )
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            reverse = {v: k for k, v in ENV_NAMES.items()}
            problems = "; ".join(f"{reverse.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors())
            raise VisionConfigError(f"bad vision settings: {problems}") from exc
