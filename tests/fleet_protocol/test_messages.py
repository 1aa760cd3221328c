"""Parsing, validation and encoding of wire protocols v1 and v2 (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fleet_protocol import (
    Ack,
    Detection,
    ErrorCode,
    HealthReport,
    Limits,
    ProtocolError,
    Refusal,
    encode_answers,
    encode_frame_v2,
    encode_message,
    error_answer,
    image_data_url,
    parse_answer,
    parse_answers,
    parse_frame_v2,
    parse_message,
    success_answer,
)
from tests.support.images import scene_jpeg
from tests.support.messages import SEED_DETECTION, SEED_HEALTH, detection, dumps, health, v2_frame

BKK = ZoneInfo("Asia/Bangkok")
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
JPEG = scene_jpeg()


def parse(message, **limits) -> Detection | HealthReport:
    return parse_message(dumps(message) if isinstance(message, dict) else message,
                         local_tz=BKK, now=NOW, limits=Limits(**limits))


def code_of(message, **limits) -> ErrorCode:
    with pytest.raises(ProtocolError) as info:
        parse(message, **limits)
    return info.value.code


def test_seed_detection_parses_with_naive_time_read_in_bangkok():
    """The DESIGN.md detection parses; 10:30 Bangkok is 03:30 UTC."""
    d = parse(SEED_DETECTION)
    assert isinstance(d, Detection)
    assert (d.license_plate, d.confidence, d.checkpoint_id, d.lux) == ("ABC1234", 95.5, "1", 250.0)
    assert d.timestamp == datetime(2024, 8, 6, 3, 30, tzinfo=UTC)
    assert d.latitude is None and d.image is None and d.event_id is None


def test_seed_health_parses():
    """The DESIGN.md health message parses with its system_info intact."""
    h = parse(SEED_HEALTH)
    assert isinstance(h, HealthReport)
    assert (h.component, h.status, h.message) == ("camera", "PASS", "Camera working normally")
    assert h.system_info["memory_usage"] == "45%"


@pytest.mark.parametrize("seed", [SEED_DETECTION, SEED_HEALTH])
def test_seed_messages_round_trip_unchanged(seed):
    """Parsing then encoding gives back the seed's data exactly."""
    assert json.loads(encode_message(parse(seed), BKK)) == seed


def test_detection_with_image_round_trips_bytes():
    """The image survives parse/encode byte for byte."""
    message = detection(JPEG)
    parsed = parse(message)
    assert parsed.image == JPEG
    assert json.loads(encode_message(parsed, BKK)) == message


def test_aware_timestamp_is_converted_and_event_id_normalised():
    """An offset timestamp is honoured; event ids come back in canonical form."""
    d = parse(detection(None, timestamp="2024-08-06T10:30:00+00:00",
                        event_id="0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"))
    assert d.timestamp == datetime(2024, 8, 6, 10, 30, tzinfo=UTC)
    assert d.event_id == "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


def test_numeric_checkpoint_id_and_string_coordinates_are_accepted():
    """Old senders' variants: a numeric checkpoint id and decimal strings for coordinates."""
    d = parse(detection(None, checkpoint_id=7, latitude="13.75", longitude="100.5"))
    assert (d.checkpoint_id, d.latitude, d.longitude) == ("7", 13.75, 100.5)


@pytest.mark.parametrize("plate", ["1กข 1234", "กท-9999", "ABC-1234", "AB 12.CD", "๑กข๑๒๓๔", "SP/1234"])
def test_real_plate_texts_are_accepted(plate):
    """Thai (with Thai digits), Latin, and punctuated plate texts pass the character check."""
    assert parse(detection(None, license_plate=plate)).license_plate == plate


def test_unknown_fields_are_kept_as_extra():
    """Fields beyond v1 and its extensions are kept (bounded), not silently dropped."""
    d = parse(detection(None, lane="2", camera="north"))
    assert d.extra == {"lane": "2", "camera": "north"}


def test_plate_extensions_are_read_and_round_trip():
    """Province, its score, the raw read and the plate crop are fields of their own, both ways."""
    message = detection(JPEG, license_plate="1กข1234", province="กรุงเทพมหานคร", province_confidence=97.5,
                        plate_raw="1กข 1234", plate_image=image_data_url(JPEG))
    d = parse(message)
    assert (d.province, d.province_confidence, d.plate_raw, d.plate_image) == \
        ("กรุงเทพมหานคร", 97.5, "1กข 1234", JPEG)
    assert d.extra == {}
    assert json.loads(encode_message(d, BKK)) == message


def test_plate_image_over_its_own_limit_is_refused():
    """The plate crop has a smaller limit than the scene (256 KiB by default)."""
    message = detection(None, plate_image=image_data_url(JPEG))
    assert code_of(message, max_plate_image_bytes=len(JPEG) // 2) == ErrorCode.IMAGE_TOO_LARGE


def _truncated() -> str:
    return detection(JPEG[: len(JPEG) // 2])


def _bomb() -> dict:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
    return detection(bytes(data))


BAD = {
    "not json": ("{nope", ErrorCode.INVALID_JSON),
    "json array": ("[1, 2]", ErrorCode.INVALID_MESSAGE),
    "no table": ({"action": "insert", "data": {}}, ErrorCode.MISSING_FIELD),
    "unknown table": ({**SEED_DETECTION, "table": "users"}, ErrorCode.UNKNOWN_TABLE),
    "unknown action": ({**SEED_DETECTION, "action": "delete"}, ErrorCode.UNKNOWN_ACTION),
    "data not object": ({**SEED_DETECTION, "data": [1]}, ErrorCode.INVALID_FIELD),
    "missing plate": (detection(None, license_plate=None), ErrorCode.MISSING_FIELD),
    "empty plate": (detection(None, license_plate="  "), ErrorCode.MISSING_FIELD),
    "missing timestamp": (detection(None, timestamp=None), ErrorCode.MISSING_FIELD),
    "plate wrong type": (detection(None, license_plate=123), ErrorCode.INVALID_FIELD),
    "confidence string": (detection(None, confidence="high"), ErrorCode.INVALID_FIELD),
    "confidence bool": (detection(None, confidence=True), ErrorCode.INVALID_FIELD),
    "confidence range": (detection(None, confidence=250), ErrorCode.INVALID_FIELD),
    "lux NaN": ('{"table":"lpr_detection","action":"insert","data":{"license_plate":"A","confidence":1,'
                '"checkpoint_id":"1","timestamp":"2024-08-06T10:30:00","lux":NaN}}', ErrorCode.INVALID_JSON),
    "latitude range": (detection(None, latitude=123.0), ErrorCode.INVALID_FIELD),
    "checkpoint bad chars": (detection(None, checkpoint_id="a b;drop"), ErrorCode.INVALID_FIELD),
    "event id not uuid": (detection(None, event_id="1234"), ErrorCode.INVALID_FIELD),
    "plate too long": (detection(None, license_plate="X" * 33), ErrorCode.FIELD_TOO_LONG),
    "plate with html": (detection(None, license_plate="<script>x</script>"), ErrorCode.INVALID_FIELD),
    "plate with sql": (detection(None, license_plate="1'; DROP TABLE x;--"), ErrorCode.INVALID_FIELD),
    "hostname with html": (detection(None, hostname="<b>pi</b>"), ErrorCode.INVALID_FIELD),
    "hostname too long": (detection(None, hostname="h" * 300), ErrorCode.FIELD_TOO_LONG),
    "nul in string": (detection(None, hostname="a\x00b"), ErrorCode.INVALID_FIELD),
    "bad base64": (detection(None, image="data:image/jpeg;base64,@@@notbase64@@@"), ErrorCode.INVALID_BASE64),
    "png data url": (detection(None, image="data:image/png;base64,AAAA"), ErrorCode.INVALID_IMAGE),
    "not a jpeg": (detection(b"GIF89a" + b"\0" * 500), ErrorCode.INVALID_IMAGE),
    "truncated jpeg": (_truncated(), ErrorCode.INVALID_IMAGE),
    "decompression bomb": (_bomb(), ErrorCode.IMAGE_TOO_LARGE),
    "timestamp garbage": (detection(None, timestamp="yesterday"), ErrorCode.INVALID_TIMESTAMP),
    "timestamp 1970": (detection(None, timestamp="1970-01-01T00:00:00"), ErrorCode.INVALID_TIMESTAMP),
    "timestamp future": (detection(None, timestamp="2031-01-01T00:00:00"), ErrorCode.INVALID_TIMESTAMP),
    "timestamp year 1": (detection(None, timestamp="0001-01-01T00:00:00"), ErrorCode.INVALID_TIMESTAMP),
    "timestamp year 9999": (detection(None, timestamp="9999-12-31T23:59:59-12:00"), ErrorCode.INVALID_TIMESTAMP),
    "health bad status": (health(status="GREEN"), ErrorCode.INVALID_FIELD),
    "health system_info list": (health(system_info=[1]), ErrorCode.INVALID_FIELD),
    "health info huge": (health(system_info={"x": "y" * 10000}), ErrorCode.FIELD_TOO_LONG),
    "huge unknown field": (detection(None, junk="z" * 10000), ErrorCode.FIELD_TOO_LONG),
    "province too long": (detection(None, province="ก" * 65), ErrorCode.FIELD_TOO_LONG),
    "province not text": (detection(None, province=5), ErrorCode.INVALID_FIELD),
    "plate_raw too long": (detection(None, plate_raw="x" * 65), ErrorCode.FIELD_TOO_LONG),
    "province score over 100": (detection(None, province_confidence=101), ErrorCode.INVALID_FIELD),
    "plate image not jpeg": (detection(None, plate_image=image_data_url(b"GIF89a" + b"\0" * 500)),
                             ErrorCode.INVALID_IMAGE),
    "plate image bad base64": (detection(None, plate_image="@@@"), ErrorCode.INVALID_BASE64),
    "deep nesting": ("[" * 100000 + "]" * 100000, ErrorCode.INVALID_JSON),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_gets_its_error_code(case):
    """Each class of bad input is refused with its own code."""
    message, expected = BAD[case]
    assert code_of(message, max_message_bytes=4 * 1024 * 1024) == expected


def test_oversized_message_is_refused_before_parsing():
    """A message over the size limit is refused as message_too_large."""
    assert code_of(detection(JPEG), max_message_bytes=len(JPEG)) == ErrorCode.MESSAGE_TOO_LARGE


def test_image_over_byte_limit_is_refused():
    """An image over max_image_bytes is refused before decoding."""
    assert code_of(detection(JPEG), max_image_bytes=1000) == ErrorCode.IMAGE_TOO_LARGE


def test_decode_mode_refuses_a_broken_huffman_table_the_structure_check_allows():
    """decode_images=True decodes pixels, so corrupt tables fail that pass the marker walk."""
    assert parse(detection(JPEG), decode_images=True).image == JPEG
    corrupt = bytearray(JPEG)
    dht = corrupt.index(b"\xff\xc4")
    corrupt[dht + 5 : dht + 25] = b"\xff" * 20
    assert parse(detection(bytes(corrupt))).image == bytes(corrupt)
    assert code_of(detection(bytes(corrupt)), decode_images=True) == ErrorCode.INVALID_IMAGE


def test_error_keeps_event_id_for_matching():
    """A refused message's answer still carries its event_id."""
    message = detection(None, confidence="x")
    with pytest.raises(ProtocolError) as info:
        parse(message)
    answer = error_answer(info.value)
    assert answer["event_id"] == message["data"]["event_id"]
    assert answer["code"] == "invalid_field" and answer["retryable"] is False


def test_answers_parse_on_the_edge_side():
    """Success and error answers read back as Ack and Refusal."""
    ok = parse_answer(json.dumps(success_answer(5, "lpr_detection", "e1", duplicate=True)))
    assert ok == Ack(5, "lpr_detection", "e1", True)
    err = parse_answer(json.dumps({"status": "error", "code": "unavailable", "message": "x", "event_id": "e2"}))
    assert err == Refusal("unavailable", "x", "e2", True)
    with pytest.raises(ProtocolError):
        parse_answer("[]")


def test_success_answer_has_exactly_the_old_keys():
    """Without extensions the success answer is the old one, key for key."""
    assert success_answer(12345, "lpr_detection") == {
        "status": "success", "message": "Data saved successfully", "record_id": 12345,
        "table": "lpr_detection", "action": "insert"}


# --------------------------------------------------------------------------- v2


def parse_v2(frame: bytes, **limits) -> Detection | HealthReport:
    return parse_frame_v2(frame, local_tz=BKK, now=NOW, limits=Limits(**limits))


def code_of_v2(frame: bytes, **limits) -> ErrorCode:
    with pytest.raises(ProtocolError) as info:
        parse_v2(frame, **limits)
    return info.value.code


def _v2_twins() -> dict[str, tuple[bytes, ErrorCode]]:
    twins = {}
    for case, (message, expected) in BAD.items():
        if isinstance(message, dict):
            try:
                twins[case] = (v2_frame(message), expected)
            except ValueError:  # a picture that is not base64: a v1-only mistake
                pass
    return twins


V2_TWINS = _v2_twins()


def test_v2_frame_round_trips_the_whole_detection_and_is_smaller():
    """A detection with scene and plate crop comes back equal from v2, in at most 0.78x v1's bytes."""
    crop = scene_jpeg(160, 50, seed=1)
    original = parse(detection(JPEG, province="เชียงใหม่", plate_raw="1กข1234", province_confidence=88.0,
                               plate_image=image_data_url(crop)))
    frame = encode_frame_v2(original, BKK)
    assert parse_v2(frame) == original and parse(encode_message(original, BKK)) == original
    assert len(frame) <= 0.78 * len(encode_message(original, BKK).encode())


def test_v2_health_round_trips():
    """A health report travels as a v2 header alone."""
    original = parse(health())
    assert parse_v2(encode_frame_v2(original, BKK)) == original


@pytest.mark.parametrize("case", V2_TWINS, ids=list(V2_TWINS))
def test_v2_twin_of_a_bad_message_gets_the_same_code(case):
    """Every refusal of v1 holds in v2 with the same code (one validation for both)."""
    frame, expected = V2_TWINS[case]
    assert code_of_v2(frame, max_message_bytes=4 * 1024 * 1024) == expected


def _frame_with(header: bytes, tail: bytes = b"") -> bytes:
    return len(header).to_bytes(4, "big") + header + tail


V2_LAYOUT = {
    "shorter than its length": (b"\x00\x00", ErrorCode.INVALID_MESSAGE),
    "length past the end": (b"\x00\x00\x10\x00{}", ErrorCode.INVALID_MESSAGE),
    "header not json": (_frame_with(b"{nope"), ErrorCode.INVALID_JSON),
    "header an array": (_frame_with(b"[1]"), ErrorCode.INVALID_MESSAGE),
    "parts not a list": (v2_frame(detection(None), {"parts": {"image": 3}}), ErrorCode.INVALID_MESSAGE),
    "unknown part": (v2_frame(detection(None), {"parts": [["script", 0]]}), ErrorCode.INVALID_MESSAGE),
    "negative size": (v2_frame(detection(None), {"parts": [["image", -1]]}), ErrorCode.INVALID_MESSAGE),
    "size a bool": (v2_frame(detection(None), {"parts": [["image", True]]}), ErrorCode.INVALID_MESSAGE),
    "part twice": (v2_frame(detection(None), {"parts": [["image", 0], ["image", 0]]}), ErrorCode.INVALID_MESSAGE),
    "sizes short of the frame": (v2_frame(detection(JPEG)) + b"x", ErrorCode.INVALID_MESSAGE),
    "sizes past the frame": (v2_frame(detection(JPEG))[:-1], ErrorCode.INVALID_MESSAGE),
    "picture in the header": (_frame_with(dumps({**detection(None, image=image_data_url(JPEG)), "parts": []}).encode()),
                              ErrorCode.INVALID_FIELD),
    "health with a part": (v2_frame(health(), {"parts": [["image", 0]]}), ErrorCode.INVALID_MESSAGE),
    "part not a jpeg": (v2_frame(detection(b"GIF89a" + b"\0" * 500)), ErrorCode.INVALID_IMAGE),
}


@pytest.mark.parametrize("case", V2_LAYOUT, ids=list(V2_LAYOUT))
def test_v2_broken_layout_gets_its_code(case):
    """A v2 frame whose layout does not add up is refused, never half-read."""
    frame, expected = V2_LAYOUT[case]
    assert code_of_v2(frame) == expected


def test_v2_limits_are_v1_limits():
    """Frame size, scene size and plate-crop size limits apply to v2 parts as they do to v1 images."""
    frame = v2_frame(detection(JPEG, plate_image=image_data_url(JPEG)))
    assert code_of_v2(frame, max_message_bytes=len(JPEG)) == ErrorCode.MESSAGE_TOO_LARGE
    assert code_of_v2(frame, max_image_bytes=1000) == ErrorCode.IMAGE_TOO_LARGE
    assert code_of_v2(frame, max_plate_image_bytes=len(JPEG) - 1) == ErrorCode.IMAGE_TOO_LARGE


def test_v2_error_keeps_event_id_even_for_a_layout_error():
    """A refused v2 frame's answer carries its event_id when the header could be read."""
    message = detection(None)
    with pytest.raises(ProtocolError) as info:
        parse_v2(v2_frame(message, {"parts": [["image", 5]]}))
    assert info.value.event_id == message["data"]["event_id"]


def test_batched_answers_parse_in_order_and_a_single_answer_too():
    """A v2 answer frame is a JSON array of v1 answers; the edge reads both forms."""
    batch = encode_answers([success_answer(1, "lpr_detection", "e1"),
                            {"status": "error", "code": "invalid_field", "message": "x", "event_id": "e2",
                             "retryable": False}])
    assert parse_answers(batch) == [Ack(1, "lpr_detection", "e1", False), Refusal("invalid_field", "x", "e2", False)]
    assert parse_answers(json.dumps(success_answer(2, "health_monitor"))) == [Ack(2, "health_monitor", None, False)]
    with pytest.raises(ProtocolError):
        parse_answers("[1]")
