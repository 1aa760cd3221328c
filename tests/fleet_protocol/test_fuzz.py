"""Property tests: whatever arrives, parsing either yields a valid message or a ProtocolError."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet_protocol import ProtocolError, parse_message
from tests.support.messages import SEED_DETECTION, SEED_HEALTH

BKK = ZoneInfo("Asia/Bangkok")
NOW = datetime(2026, 11, 24, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20)


def _parses_or_refuses(raw) -> None:
    try:
        parse_message(raw, local_tz=BKK, now=NOW)
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
