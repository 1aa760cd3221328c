"""Wire protocol shared by the edge agent and the central server (no I/O).

See docs/protocol.md for the format; :mod:`fleet_protocol.messages` for the code.
"""

from .errors import ErrorCode, ProtocolError
from .jpeg import JpegInfo, decode_check, inspect_jpeg
from .messages import (
    SUBPROTOCOL_V2,
    Ack,
    Answer,
    Detection,
    HealthReport,
    Limits,
    Message,
    Refusal,
    Table,
    encode_answers,
    encode_frame_v2,
    encode_message,
    error_answer,
    format_timestamp,
    image_data_url,
    parse_answer,
    parse_answers,
    parse_frame_v2,
    parse_message,
    success_answer,
    valid_checkpoint_id,
)
from .metrics import LEGACY_KEYS, Metric
from .provinces import THAI_PROVINCES
from .vehicles import VehicleType

__all__ = [
    "Ack", "Answer", "Detection", "ErrorCode", "HealthReport", "JpegInfo", "LEGACY_KEYS", "Limits", "Message",
    "Metric", "THAI_PROVINCES",
    "ProtocolError", "Refusal", "SUBPROTOCOL_V2", "Table", "decode_check", "encode_answers", "encode_frame_v2",
    "encode_message", "error_answer", "format_timestamp", "image_data_url", "inspect_jpeg", "parse_answer",
    "parse_answers", "parse_frame_v2", "parse_message",
    "success_answer", "valid_checkpoint_id", "VehicleType",
]
