"""Property tests: whatever arrives, parsing either yields a valid message or a ProtocolError."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet_protocol import ProtocolError, parse_frame_v2, parse_message
from tests.support.images import scene_jpeg
from tests.support.messages import SEED_DETECTION, SEED_HEALTH, v2_frame

BKK = ZoneInfo("Asia/Bangkok")
NOW = datetime(2026, 11, 24, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20)


def _parses_or_refuses(raw, parser=parse_message) -> None:
    try:
        parser(raw, local_tz=BKK, now=NOW)
    except ProtocolError as error:
        assert error.message and error.code.value


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_never_crash_the_parser(raw):
    """Random bytes or text: a ProtocolError or a message, never another exception."""
    _parses_or_refuses(raw)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from([SEED_DETECTION, SEED_HEALTH]), st.sampled_from(
    sorted(set(SEED_DETECTION["data"]) | set(SEED_HEALTH["data"]) | {"event_id", "image"})), json_values)
def test_any_value_in_any_field_is_handled(seed, field, value):
    """Each field replaced by any JSON value: refused with a code or accepted, never a crash."""
    message = json.loads(json.dumps(seed))
    message["data"][field] = value
    _parses_or_refuses(json.dumps(message))


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_envelope_is_handled(value):
    """Any JSON document as the whole message is handled."""
    _parses_or_refuses(json.dumps(value))


# --------------------------------------------------------------------------- v2 binary frames

JPEG = scene_jpeg(64, 48)
part_names = st.sampled_from(["image", "plate_image", "script", ""]) | st.text(max_size=5)
part_sizes = st.integers(-5, len(JPEG) + 5) | st.booleans() | st.floats() | st.none() | st.text(max_size=3)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_v2_arbitrary_bytes_never_crash_the_parser(raw):
    """Random bytes as a v2 frame: a ProtocolError or a message, never another exception."""
    _parses_or_refuses(raw, parse_frame_v2)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**32 - 1), st.binary(max_size=200))
def test_v2_any_header_length_is_handled(length, rest):
    """Any header length in front of any bytes is handled."""
    _parses_or_refuses(length.to_bytes(4, "big") + rest, parse_frame_v2)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from([SEED_DETECTION, SEED_HEALTH]), st.sampled_from(
    sorted(set(SEED_DETECTION["data"]) | set(SEED_HEALTH["data"]) | {"event_id", "image"})), json_values)
def test_v2_any_value_in_any_header_field_is_handled(seed, field, value):
    """Each header field replaced by any JSON value: refused with a code or accepted, never a crash."""
    message = json.loads(json.dumps(seed))
    message["data"].pop("image", None)
    message["data"][field] = value
    header = json.dumps(message).encode()  # as is: a picture value in the header must be refused, not moved
    _parses_or_refuses(len(header).to_bytes(4, "big") + header, parse_frame_v2)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["image", "plate_image"]), st.binary(max_size=400) | st.just(JPEG[:-2]) | st.just(JPEG))
def test_v2_any_bytes_as_a_picture_part_are_handled(name, picture):
    """Any bytes as the scene or the plate crop: refused with a code or accepted, never a crash."""
    message = json.loads(json.dumps(SEED_DETECTION))
    message["data"][name] = "data:image/jpeg;base64," + base64.b64encode(picture).decode()
    if name == "plate_image":
        message["data"].pop("image")
    _parses_or_refuses(v2_frame(message), parse_frame_v2)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.lists(part_names | part_sizes, max_size=3) | json_values, max_size=4),
       st.binary(max_size=64), st.booleans())
def test_v2_any_parts_list_over_any_tail_is_handled(parts, tail, with_jpeg):
    """Any 'parts' value over any bytes after the header: refused with a code or accepted, never a crash."""
    message = json.loads(json.dumps(SEED_DETECTION))
    message["data"].pop("image")
    header = json.dumps({**message, "parts": parts}).encode()
    _parses_or_refuses(len(header).to_bytes(4, "big") + header + (JPEG if with_jpeg else b"") + tail, parse_frame_v2)
