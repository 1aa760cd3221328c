"""Wire protocol v1 and v2: message types, strict parsing, encoding and answers.

Sans-I/O: functions take text/bytes/dicts and return frozen dataclasses or
dicts; nothing here touches sockets, files or clocks (the caller passes
``now``). Both ends use this module: the ingest parses with ``parse_message``,
the edge encodes with ``encode_message`` and reads answers with ``parse_answer``.

v1 is the old senders' format (see docs/protocol.md)::

    {"table": "lpr_detection", "action": "insert", "data": {...}}

v2 (subprotocol ``aicamera.v2``) carries the same object without the pictures as a JSON header in a
binary frame, followed by the JPEG bytes as they are; both versions share one validation
(``_FieldReader``), so a v2 message is refused exactly when its v1 twin would be::

    uint32 header length (big-endian) | header (UTF-8 JSON) | part bytes ...
    header = {"table": ..., "action": "insert", "data": {...}, "parts": [["image", n], ["plate_image", m]]}

Answers on a v2 connection come batched: one text frame holding a JSON array of v1 answer objects.
"""

from __future__ import annotations

import binascii
import enum
import json
import math
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson
import pybase64

from .errors import ErrorCode, ProtocolError
from .jpeg import decode_check, inspect_jpeg

SUCCESS_MESSAGE = "Data saved successfully"
SUBPROTOCOL_V2 = "aicamera.v2"
_PART_NAMES = ("image", "plate_image")  # the pictures; in v2 they travel as parts, never inside the header
_HEADER_LENGTH = 4
DATA_URL_PREFIXES = ("data:image/jpeg;base64,", "data:image/jpg;base64,")
# Used with fullmatch: ``$`` would also accept a trailing newline ("gate-1\n").
_CHECKPOINT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9._-]+")
# Fast paths for what senders send almost always; anything else takes the full check.
_ASCII_PLATE_RE = re.compile(r"[A-Za-z0-9 ./-]*")
_CANONICAL_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEALTH_STATUSES = {"PASS": "PASS", "OK": "PASS", "WARN": "WARN", "WARNING": "WARN",
                    "FAIL": "FAIL", "ERROR": "FAIL", "CRITICAL": "FAIL"}


class Table(str, enum.Enum):
    """The v1 ``table`` values (the edge's names, kept from the old system)."""

    LPR_DETECTION = "lpr_detection"
    HEALTH_MONITOR = "health_monitor"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied while parsing; every one is a refusal, never a truncation."""

    max_message_bytes: int = 2 * 1024 * 1024
    max_image_bytes: int = 1536 * 1024
    max_plate_image_bytes: int = 256 * 1024
    max_image_pixels: int = 4096 * 4096
    max_plate_chars: int = 32
    max_short_chars: int = 64
    max_hostname_chars: int = 255
    max_message_chars: int = 2000
    max_json_blob_bytes: int = 8192
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_future: timedelta = timedelta(hours=24)
    decode_images: bool = False


@dataclass(frozen=True, slots=True)
class Detection:
    """One plate read, as validated. ``timestamp`` is timezone-aware UTC.

    ``province`` (Thai province name), ``province_confidence`` (0-100),
    ``plate_raw`` (what the reader saw) and ``plate_image`` (the plate crop's
    JPEG bytes) are the v1 extensions the edge sends; old senders omit them.
    """

    checkpoint_id: str
    license_plate: str
    confidence: float
    timestamp: datetime
    hostname: str = ""
    vehicle_type: str = ""
    vehicle_color: str = ""
    latitude: float | None = None
    longitude: float | None = None
    image: bytes | None = None
    exposure_time: float | None = None
    analog_gain: float | None = None
    lux: float | None = None
    event_id: str | None = None
    province: str = ""
    province_confidence: float | None = None
    plate_raw: str = ""
    plate_image: bytes | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    table = Table.LPR_DETECTION


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One component status from a checkpoint. ``timestamp`` is timezone-aware UTC."""

    checkpoint_id: str
    component: str
    status: str
    timestamp: datetime
    hostname: str = ""
    message: str = ""
    system_info: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None

    table = Table.HEALTH_MONITOR


Message = Detection | HealthReport
_DETECTION_TABLE = Table.LPR_DETECTION.value  # an enum's .value is a property lookup: read once
_TABLE_NAMES = (_DETECTION_TABLE, Table.HEALTH_MONITOR.value)


@dataclass(frozen=True, slots=True)
class Ack:
    """A success answer as the sender reads it."""

    record_id: int
    table: str
    event_id: str | None
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error answer as the sender reads it."""

    code: str
    message: str
    event_id: str | None
    retryable: bool


Answer = Ack | Refusal

_DETECTION_FIELDS = frozenset({
    "license_plate", "confidence", "checkpoint_id", "timestamp", "hostname", "vehicle_type",
    "vehicle_color", "latitude", "longitude", "image", "exposure_time", "analog_gain", "lux",
    "event_id", "province", "province_confidence", "plate_raw", "plate_image",
})
_HEALTH_FIELDS = frozenset({
    "checkpoint_id", "hostname", "timestamp", "component", "status", "message", "system_info",
    "event_id",
})


# --------------------------------------------------------------------------- parsing


def parse_message(
    raw: str | bytes, *, local_tz: tzinfo, now: datetime, limits: Limits = Limits()
) -> Message:
    """Parse and validate one v1 text frame.

    ``local_tz`` is how naive timestamps (old senders) are read; ``now`` (aware)
    bounds future timestamps. Returns a :class:`Detection` or :class:`HealthReport`;
    raises :class:`ProtocolError` with the first problem found (and the message's
    ``event_id`` when it could be read, so pipelined senders can match the refusal).
    """
    if len(raw) > limits.max_message_bytes:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE,
                            f"message is {len(raw)} bytes; the limit is {limits.max_message_bytes}")
    try:
        obj = orjson.loads(raw)  # ~2x json's speed on image-sized messages; refuses NaN and deep nesting
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"message is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "message must be a JSON object")
    return _parse_object(obj, local_tz, now, limits)


def parse_frame_v2(
    raw: bytes, *, local_tz: tzinfo, now: datetime, limits: Limits = Limits()
) -> Message:
    """Parse and validate one v2 binary frame (see the module docstring for the layout).

    Same rules, codes and ``event_id`` echo as :func:`parse_message`; a frame whose layout is
    broken (short, header length or part sizes that do not add up, unknown or repeated part,
    a picture inside the header) is ``invalid_message``. The JPEG parts are checked as v1's
    decoded images are, without any base64.
    """
    if len(raw) > limits.max_message_bytes:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE,
                            f"message is {len(raw)} bytes; the limit is {limits.max_message_bytes}")
    if len(raw) < _HEADER_LENGTH:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "v2 frame is shorter than its header length")
    end = _HEADER_LENGTH + int.from_bytes(raw[:_HEADER_LENGTH], "big")
    if end > len(raw):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "v2 header length runs past the end of the frame")
    try:
        obj = orjson.loads(memoryview(raw)[_HEADER_LENGTH:end])
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"v2 header is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "v2 header must be a JSON object")
    data = obj.get("data")
    try:
        parts = obj.pop("parts", [])
        if parts and obj.get("table") != _DETECTION_TABLE:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "only a detection carries parts")
        if isinstance(data, dict):
            data.update(_split_parts(parts, data, raw, end))
    except ProtocolError as exc:
        exc.event_id = _peek_event_id(data)
        raise
    return _parse_object(obj, local_tz, now, limits)


def _split_parts(parts: Any, data: dict, raw: bytes, start: int) -> dict[str, bytes]:
    """The pictures a v2 header announces, cut from the frame after it."""
    if not isinstance(parts, list) or len(parts) > len(_PART_NAMES):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "v2 'parts' must be a list of [name, size] pairs")
    pictures: dict[str, bytes] = {}
    for part in parts:
        if not (isinstance(part, list) and len(part) == 2 and part[0] in _PART_NAMES and type(part[1]) is int
                and part[1] >= 0 and part[0] not in pictures):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE,
                                f"v2 part {_show(part)} is not a [name, size] pair of image or plate_image, once each")
        pictures[part[0]] = raw[start:start + part[1]]
        start += part[1]
    if start != len(raw):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "v2 part sizes do not add up to the frame's length")
    inside = [name for name in _PART_NAMES if name in data]
    if inside:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{inside[0]}' travels as a binary part in v2, not in the header")
    return pictures


def _parse_object(obj: dict, local_tz: tzinfo, now: datetime, limits: Limits) -> Message:
    data = obj.get("data")
    event_id = _peek_event_id(data)
    try:
        return _parse_envelope(obj, data, local_tz, now, limits)
    except ProtocolError as exc:
        exc.event_id = event_id
        raise


def _peek_event_id(data: Any) -> str | None:
    if isinstance(data, dict):
        value = data.get("event_id")
        if isinstance(value, str) and len(value) <= 64:
            return value
    return None


def _parse_envelope(obj: dict, data: Any, tz: tzinfo, now: datetime, limits: Limits) -> Message:
    table = obj.get("table")
    if "table" not in obj:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "message has no 'table'")
    if table not in _TABLE_NAMES:
        raise ProtocolError(ErrorCode.UNKNOWN_TABLE,
                            f"unknown table {_show(table)}; expected 'lpr_detection' or 'health_monitor'")
    if obj.get("action") != "insert":
        raise ProtocolError(ErrorCode.UNKNOWN_ACTION,
                            f"unknown action {_show(obj.get('action'))}; only 'insert' is supported")
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.MISSING_FIELD if data is None else ErrorCode.INVALID_FIELD,
                            "'data' must be a JSON object")
    reader = _FieldReader(data, limits)
    if table == _DETECTION_TABLE:
        return _parse_detection(reader, tz, now, limits)
    return _parse_health(reader, tz, now, limits)


def _parse_detection(r: _FieldReader, tz: tzinfo, now: datetime, limits: Limits) -> Detection:
    return Detection(
        checkpoint_id=r.checkpoint_id(),
        license_plate=r.plate(),
        confidence=r.percent("confidence", required=True),
        timestamp=r.timestamp(tz, now),
        hostname=r.hostname(),
        vehicle_type=r.text("vehicle_type", limits.max_short_chars),
        vehicle_color=r.text("vehicle_color", limits.max_short_chars),
        latitude=r.coordinate("latitude", 90),
        longitude=r.coordinate("longitude", 180),
        image=r.image(),
        exposure_time=r.number("exposure_time"),
        analog_gain=r.number("analog_gain"),
        lux=r.number("lux"),
        event_id=r.event_id(),
        province=r.text("province", limits.max_short_chars),
        province_confidence=r.percent("province_confidence"),
        plate_raw=r.text("plate_raw", limits.max_short_chars),
        plate_image=r.image("plate_image", limits.max_plate_image_bytes),
        extra=r.extra(_DETECTION_FIELDS),
    )


def _parse_health(r: _FieldReader, tz: tzinfo, now: datetime, limits: Limits) -> HealthReport:
    status = r.text("status", limits.max_short_chars, required=True, nonempty=True)
    normalised = _HEALTH_STATUSES.get(status.upper())
    if normalised is None:
        raise ProtocolError(ErrorCode.INVALID_FIELD,
                            f"'status' must be PASS, WARN or FAIL, not {_show(status)}")
    system_info = r.blob("system_info")
    unknown = r.extra(_HEALTH_FIELDS)
    return HealthReport(
        checkpoint_id=r.checkpoint_id(),
        component=r.text("component", limits.max_short_chars, required=True, nonempty=True),
        status=normalised,
        timestamp=r.timestamp(tz, now),
        hostname=r.hostname(),
        message=r.text("message", limits.max_message_chars),
        system_info={**system_info, **unknown} if unknown else system_info,
        event_id=r.event_id(),
    )


class _FieldReader:
    """Typed access to the ``data`` object; each method raises the matching error code."""

    def __init__(self, data: dict, limits: Limits):
        self.data = data
        self.limits = limits

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise ProtocolError(ErrorCode.MISSING_FIELD, f"'{name}' is required")
        return value

    def text(self, name: str, max_chars: int, required: bool = False, nonempty: bool = False) -> str:
        value = self._get(name, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be a string")
        if len(value) > max_chars:
            raise ProtocolError(ErrorCode.FIELD_TOO_LONG,
                                f"'{name}' is {len(value)} characters; the limit is {max_chars}")
        if "\x00" in value:
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' contains a NUL character")
        if nonempty and not value.strip():
            raise ProtocolError(ErrorCode.MISSING_FIELD, f"'{name}' must not be empty")
        return value

    def plate(self) -> str:
        """Plate text: letters of any script (Thai included), digits, spaces, '-', '.', '/'."""
        value = self.text("license_plate", self.limits.max_plate_chars, required=True, nonempty=True)
        if _ASCII_PLATE_RE.fullmatch(value):
            return value
        bad = next((ch for ch in value if not _plate_char(ch)), None)
        if bad is not None:
            raise ProtocolError(ErrorCode.INVALID_FIELD,
                                f"'license_plate' may hold letters, digits, spaces, '-', '.' and '/' only, "
                                f"not {bad!r}")
        return value

    def hostname(self) -> str:
        value = self.text("hostname", self.limits.max_hostname_chars)
        if value and not _HOSTNAME_RE.fullmatch(value):
            raise ProtocolError(ErrorCode.INVALID_FIELD,
                                "'hostname' may hold letters, digits, '.', '-' and '_' only")
        return value

    def number(self, name: str, required: bool = False) -> float | None:
        value = self._get(name, required)
        if value is None or (value == "" and not required):
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be a number")
        if not math.isfinite(value) or abs(value) > 1e12:
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be a finite number")
        return float(value)

    def percent(self, name: str, required: bool = False) -> float | None:
        value = self.number(name, required)
        if value is not None and not 0 <= value <= 100:
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be between 0 and 100")
        return value

    def coordinate(self, name: str, bound: float) -> float | None:
        value = self.data.get(name)
        if isinstance(value, str):  # the old senders send "" or a decimal string
            if not value.strip():
                return None
            try:
                value = float(value)
            except ValueError:
                raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be a number") from None
        number = self.number(name) if not isinstance(value, float) else value
        if number is not None and not (math.isfinite(number) and -bound <= number <= bound):
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be within ±{bound}")
        return number

    def checkpoint_id(self) -> str:
        value = self._get("checkpoint_id", True)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # some old senders send the id as a number
        if not isinstance(value, str):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'checkpoint_id' must be a string")
        if not valid_checkpoint_id(value):
            raise ProtocolError(ErrorCode.INVALID_FIELD,
                                "'checkpoint_id' must be 1-64 letters, digits, '.', '_' or '-'")
        return value

    def event_id(self) -> str | None:
        value = self.data.get("event_id")
        if value is None:
            return None
        if not isinstance(value, str):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'event_id' must be a UUID string")
        if _CANONICAL_UUID_RE.fullmatch(value):  # already what str(UUID(value)) would give
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'event_id' must be a UUID") from None

    def timestamp(self, tz: tzinfo, now: datetime) -> datetime:
        value = self.text("timestamp", self.limits.max_short_chars, required=True, nonempty=True)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ProtocolError(ErrorCode.INVALID_TIMESTAMP,
                                f"'timestamp' is not ISO 8601: {_show(value)}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
            parsed = self.limits.earliest - timedelta(days=1)
        if parsed < self.limits.earliest or parsed > now + self.limits.max_future:
            raise ProtocolError(ErrorCode.INVALID_TIMESTAMP,
                                f"'timestamp' {value} is out of range (clock not set?)")
        return parsed

    def image(self, name: str = "image", max_bytes: int | None = None) -> bytes | None:
        value = self.data.get(name)
        if value is None or value == "" or value == b"":
            return None
        max_bytes = self.limits.max_image_bytes if max_bytes is None else max_bytes
        if isinstance(value, bytes):  # a v2 part: the JPEG as it is
            if len(value) > max_bytes:
                raise ProtocolError(ErrorCode.IMAGE_TOO_LARGE, f"'{name}' is over {max_bytes} bytes")
            return self._checked(value)
        if not isinstance(value, str):
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be a data URL string")
        payload = _strip_data_url(value, name)
        if len(payload) * 3 // 4 > max_bytes:
            raise ProtocolError(ErrorCode.IMAGE_TOO_LARGE, f"'{name}' is over {max_bytes} bytes")
        try:
            jpeg = pybase64.b64decode(payload, validate=True)  # SIMD: ~10x binascii
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(ErrorCode.INVALID_BASE64, f"'{name}' is not valid base64: {exc}") from None
        return self._checked(jpeg)

    def _checked(self, jpeg: bytes) -> bytes:
        check = decode_check if self.limits.decode_images else inspect_jpeg
        check(jpeg, self.limits.max_image_pixels)
        return jpeg

    def blob(self, name: str) -> dict:
        value = self.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be a JSON object")
        _check_blob_size(name, value, self.limits)
        return value

    def extra(self, known: frozenset[str]) -> dict:
        unknown = {k: v for k, v in self.data.items() if k not in known}
        if unknown:
            _check_blob_size("unknown fields", unknown, self.limits)
        return unknown


def _plate_char(ch: str) -> bool:
    # Letters (L*), combining marks (M*: Thai vowels/tones) and digits (N*: Thai digits too).
    return ch in " -./" or unicodedata.category(ch)[0] in "LMN"


def valid_checkpoint_id(value: str) -> bool:
    """True for a well-formed checkpoint id: 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)."""
    return isinstance(value, str) and _CHECKPOINT_ID_RE.fullmatch(value) is not None


def _check_blob_size(name: str, value: dict, limits: Limits) -> None:
    try:
        size = len(json.dumps(value, ensure_ascii=False))
    except RecursionError:  # orjson takes ~1000 levels; json.dumps does not
        raise ProtocolError(ErrorCode.FIELD_TOO_LONG, f"{name} is nested too deeply") from None
    if size > limits.max_json_blob_bytes:
        raise ProtocolError(ErrorCode.FIELD_TOO_LONG,
                            f"{name} is {size} bytes of JSON; the limit is {limits.max_json_blob_bytes}")


def _strip_data_url(value: str, name: str) -> str:
    for prefix in DATA_URL_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix):]
    if value.startswith("data:"):
        raise ProtocolError(ErrorCode.INVALID_IMAGE, f"'{name}' data URL must be image/jpeg;base64")
    return value  # bare base64, as some old senders sent it


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- encoding


def format_timestamp(moment: datetime, local_tz: tzinfo) -> str:
    """Render an aware time as the old senders did: naive ISO 8601 in local time."""
    return moment.astimezone(local_tz).replace(tzinfo=None).isoformat()


def image_data_url(jpeg: bytes) -> str:
    """The v1 ``image`` value for JPEG bytes."""
    return DATA_URL_PREFIXES[0] + pybase64.b64encode(jpeg).decode("ascii")


def _coordinate_out(value: float | None) -> float | str:
    return "" if value is None else value


def detection_data(d: Detection, local_tz: tzinfo, pictures: bool = True) -> dict[str, Any]:
    """The v1 ``data`` object for a detection (inverse of parsing); without the pictures for a v2 header."""
    data: dict[str, Any] = {
        "license_plate": d.license_plate, "confidence": d.confidence,
        "checkpoint_id": d.checkpoint_id, "timestamp": format_timestamp(d.timestamp, local_tz),
        "hostname": d.hostname, "vehicle_type": d.vehicle_type, "vehicle_color": d.vehicle_color,
        "latitude": _coordinate_out(d.latitude), "longitude": _coordinate_out(d.longitude),
        "exposure_time": d.exposure_time, "analog_gain": d.analog_gain, "lux": d.lux,
    }
    if pictures:
        data["image"] = image_data_url(d.image) if d.image else ""
    if d.event_id:
        data["event_id"] = d.event_id
    data.update(_plate_extensions(d))
    if pictures and d.plate_image:
        data["plate_image"] = image_data_url(d.plate_image)
    data.update(d.extra)
    return data


def _plate_extensions(d: Detection) -> dict[str, Any]:
    """The extensions a detection carries besides its plate crop (only those that are set: old receivers see less)."""
    extensions: dict[str, Any] = {}
    if d.province:
        extensions["province"] = d.province
    if d.province_confidence is not None:
        extensions["province_confidence"] = d.province_confidence
    if d.plate_raw:
        extensions["plate_raw"] = d.plate_raw
    return extensions


def health_data(h: HealthReport, local_tz: tzinfo) -> dict[str, Any]:
    """The v1 ``data`` object for a health report."""
    data: dict[str, Any] = {
        "checkpoint_id": h.checkpoint_id, "hostname": h.hostname,
        "timestamp": format_timestamp(h.timestamp, local_tz), "component": h.component,
        "status": h.status, "message": h.message, "system_info": dict(h.system_info),
    }
    if h.event_id:
        data["event_id"] = h.event_id
    return data


def encode_message(message: Message, local_tz: tzinfo) -> str:
    """One v1 text frame for a detection or health report."""
    if isinstance(message, Detection):
        data = detection_data(message, local_tz)
    else:
        data = health_data(message, local_tz)
    # orjson: ~8 µs for a 45 KB detection against ~110 µs for json.dumps; same compact UTF-8 text.
    return orjson.dumps({"table": message.table.value, "action": "insert", "data": data}).decode()


def encode_frame_v2(message: Message, local_tz: tzinfo) -> bytes:
    """One v2 binary frame: the v1 object without its pictures as the header, then the JPEG bytes."""
    if isinstance(message, Detection):
        data = detection_data(message, local_tz, pictures=False)
        pictures = [(name, jpeg) for name, jpeg in (("image", message.image), ("plate_image", message.plate_image))
                    if jpeg]
    else:
        data, pictures = health_data(message, local_tz), []
    header = orjson.dumps({"table": message.table.value, "action": "insert", "data": data,
                           "parts": [[name, len(jpeg)] for name, jpeg in pictures]})
    return b"".join((len(header).to_bytes(_HEADER_LENGTH, "big"), header, *(jpeg for _, jpeg in pictures)))


# --------------------------------------------------------------------------- answers


def success_answer(record_id: int, table: str, event_id: str | None = None,
                   duplicate: bool = False) -> dict[str, Any]:
    """The old success answer, plus ``event_id`` and ``duplicate`` when they apply."""
    answer: dict[str, Any] = {"status": "success", "message": SUCCESS_MESSAGE,
                              "record_id": record_id, "table": table, "action": "insert"}
    if event_id is not None:
        answer["event_id"] = event_id
    if duplicate:
        answer["duplicate"] = True
    return answer


def error_answer(error: ProtocolError) -> dict[str, Any]:
    """The error answer for a refused message."""
    return {"status": "error", "code": error.code.value, "message": error.message,
            "event_id": error.event_id, "retryable": error.code.retryable}


def encode_answers(answers: list[dict[str, Any]]) -> str:
    """One v2 answer frame: several answers (each as in v1) in a JSON array."""
    return orjson.dumps(answers).decode()


def parse_answers(raw: str | bytes) -> list[Answer]:
    """Read a frame of answers (edge side): a v2 array or one v1 answer. Raises ProtocolError if it is neither."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "answer is not JSON") from None
    return [_answer(item) for item in obj] if isinstance(obj, list) else [_answer(obj)]


def parse_answer(raw: str | bytes) -> Answer:
    """Read a server answer (edge side). Raises ProtocolError if it is not one."""
    try:
        obj = json.loads(raw)
    except ValueError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "answer is not JSON") from None
    return _answer(obj)


def _answer(obj: Any) -> Answer:
    if not isinstance(obj, dict) or obj.get("status") not in ("success", "error"):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "answer has no status")
    event_id = obj.get("event_id") if isinstance(obj.get("event_id"), str) else None
    if obj["status"] == "success":
        record_id = obj.get("record_id")
        if not isinstance(record_id, int):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "success answer has no record_id")
        return Ack(record_id, str(obj.get("table", "")), event_id, bool(obj.get("duplicate")))
    code = str(obj.get("code", ErrorCode.INTERNAL_ERROR.value))
    retryable = obj.get("retryable")
    if not isinstance(retryable, bool):
        retryable = code in {c.value for c in ErrorCode if c.retryable}
    return Refusal(code, str(obj.get("message", "")), event_id, retryable)
