"""The DESIGN.md seed messages (with a real JPEG) and helpers to vary them."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

from fleet_protocol import image_data_url

SEED_DETECTION: dict[str, Any] = {"table": "lpr_detection", "action": "insert", "data": {
    "license_plate": "ABC1234", "confidence": 95.5, "checkpoint_id": "1",
    "timestamp": "2024-08-06T10:30:00", "hostname": "aicamera",
    "vehicle_type": "", "vehicle_color": "", "latitude": "", "longitude": "",
    "image": "", "exposure_time": 0.033, "analog_gain": 1.0, "lux": 250}}

SEED_HEALTH: dict[str, Any] = {"table": "health_monitor", "action": "insert", "data": {
    "checkpoint_id": "1", "hostname": "aicamera", "timestamp": "2024-08-06T10:30:00",
    "component": "camera", "status": "PASS", "message": "Camera working normally",
    "system_info": {"python_version": "3.9.2", "platform": "linux",
                    "memory_usage": "45%", "cpu_usage": "12%"}}}


def detection(jpeg: bytes | None, checkpoint_id: str = "1", event_id: str | None = "new",
              **fields: Any) -> dict[str, Any]:
    """A seed detection with a real image; ``event_id="new"`` draws a fresh UUID."""
    message = copy.deepcopy(SEED_DETECTION)
    data = message["data"]
    data["checkpoint_id"] = checkpoint_id
    data["image"] = image_data_url(jpeg) if jpeg else ""
    if event_id == "new":
        event_id = str(uuid.uuid4())
    if event_id is not None:
        data["event_id"] = event_id
    data.update(fields)
    return message


def health(checkpoint_id: str = "1", event_id: str | None = "new", **fields: Any) -> dict[str, Any]:
    """A seed health report for ``checkpoint_id``."""
    message = copy.deepcopy(SEED_HEALTH)
    message["data"]["checkpoint_id"] = checkpoint_id
    if event_id == "new":
        event_id = str(uuid.uuid4())
    if event_id is not None:
        message["data"]["event_id"] = event_id
    message["data"].update(fields)
    return message


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def v2_frame(message: dict[str, Any], extra_header: dict[str, Any] | None = None) -> bytes:
    """The v2 twin of a v1 message dict: its pictures (data URLs) as binary parts after a JSON header.

    Built by hand (not with ``encode_frame_v2``) so tests can send what no encoder would.
    Raises ValueError for a picture that is not base64 (it has no v2 twin).
    """
    header = copy.deepcopy(message)
    data, parts = header.get("data"), []
    if isinstance(data, dict):
        for name in ("image", "plate_image"):
            value = data.pop(name, None)
            if value:
                parts.append((name, base64.b64decode(value.split(",", 1)[-1], validate=True)))
    header["parts"] = [[name, len(jpeg)] for name, jpeg in parts]
    header.update(extra_header or {})
    text = json.dumps(header, ensure_ascii=False).encode()
    return len(text).to_bytes(4, "big") + text + b"".join(jpeg for _, jpeg in parts)
