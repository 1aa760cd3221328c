"""The sans-I/O in-flight window, driven with plain lists of frames and answers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.delivery import Claimed, Kind, Result
from edge_agent.ids import uuid7
from edge_agent.window import Window, WindowConfig
from fleet_protocol import Detection, ErrorCode, ProtocolError, error_answer, success_answer


def claimed(row_id: int, attempts: int = 1) -> Claimed:
    event_id = uuid7()
    detection = Detection(checkpoint_id="cp-1", license_plate=f"P{row_id}", confidence=90.0,
                          timestamp=datetime(2025, 1, 1, tzinfo=UTC), event_id=event_id)
    return Claimed(Kind.DETECTION, row_id, event_id, attempts, detection)


def ok(item: Claimed, record_id: int = 7, duplicate: bool = False, echo: bool = True) -> str:
    return json.dumps(success_answer(record_id, "lpr_detection", item.event_id if echo else None, duplicate))


def refuse(item: Claimed, code: ErrorCode) -> str:
    return json.dumps(error_answer(ProtocolError(code, f"{code.value} happened", item.event_id)))


@pytest.fixture
def window() -> Window:
    return Window(WindowConfig(size=3, ack_timeout=10.0, retry_base=2.0, retry_max=60.0), UTC)


def test_send_returns_v1_frame_and_fills_window(window):
    """Each sent item yields a v1 frame carrying its event_id and takes one slot."""
    item = claimed(1)
    frame = json.loads(window.send(item, now=0.0))
    assert frame["table"] == "lpr_detection" and frame["data"]["event_id"] == item.event_id
    assert window.free() == 2 and len(window) == 1


def test_answers_match_by_event_id_out_of_order(window):
    """Answers arriving out of order are matched to their own rows."""
    items = [claimed(i) for i in (1, 2, 3)]
    for item in items:
        window.send(item, 0.0)
    outcomes = [window.receive(ok(items[i], record_id=100 + i), 1.0) for i in (2, 0, 1)]
    assert [(o.row_id, o.record_id) for o in outcomes] == [(3, 102), (1, 100), (2, 101)]
    assert all(o.result is Result.DELIVERED for o in outcomes) and window.free() == 3


def test_duplicate_ack_counts_as_delivered(window):
    """A duplicate success answer means the server already has the row: delivered."""
    item = claimed(1)
    window.send(item, 0.0)
    outcome = window.receive(ok(item, record_id=5, duplicate=True), 1.0)
    assert outcome.result is Result.DELIVERED and outcome.record_id == 5


def test_permanent_refusal_rejects_with_reason_and_frees_slot(window):
    """A validation error rejects the row with the server's reason and never blocks others."""
    bad, good = claimed(1), claimed(2)
    window.send(bad, 0.0)
    window.send(good, 0.0)
    rejected = window.receive(refuse(bad, ErrorCode.INVALID_FIELD), 1.0)
    assert rejected.result is Result.REJECTED and "invalid_field" in rejected.reason
    assert window.receive(ok(good), 1.0).result is Result.DELIVERED


def test_retryable_refusal_backs_off_exponentially(window):
    """A retryable refusal returns the row to pending after base*2**(attempts-1), capped."""
    first, fourth, tenth = claimed(1, attempts=1), claimed(2, attempts=4), claimed(3, attempts=10)
    for item in (first, fourth, tenth):
        window.send(item, 0.0)
    times = [window.receive(refuse(i, ErrorCode.UNAVAILABLE), 100.0) for i in (first, fourth, tenth)]
    assert [o.result for o in times] == [Result.RETRY] * 3
    assert [o.retry_at for o in times] == [102.0, 116.0, 160.0]


def test_answer_without_event_id_goes_to_oldest(window):
    """An answer with no event_id is matched in order, as the protocol says."""
    a, b = claimed(1), claimed(2)
    window.send(a, 0.0)
    window.send(b, 0.0)
    assert window.receive(ok(a, echo=False), 1.0).row_id == 1


def test_unknown_or_garbled_answers_are_counted_not_fatal(window):
    """Answers for nothing in flight, or not JSON, are counted as unmatched."""
    window.send(claimed(1), 0.0)
    assert window.receive(ok(claimed(9)), 1.0) is None
    assert window.receive("not json", 1.0) is None
    assert window.unmatched == 2 and len(window) == 1


def test_dead_link_after_ack_timeout_and_drain_returns_oldest_first(window):
    """No answer within ack_timeout marks the link dead; drain hands back every row in order."""
    items = [claimed(i) for i in (1, 2)]
    window.send(items[0], 0.0)
    window.send(items[1], 5.0)
    assert not window.dead(9.0) and window.dead(10.5)
    assert [i.row_id for i in window.drain()] == [1, 2] and len(window) == 0


def test_same_event_twice_is_refused(window):
    """Sending a row already in flight is a programming error."""
    item = claimed(1)
    window.send(item, 0.0)
    with pytest.raises(ValueError):
        window.send(item, 0.0)


def test_window_imports_nothing_that_touches_a_disk():
    """Importing the window (and its delivery types) loads neither sqlite3 nor the outbox."""
    disk = ("sqlite3", "edge_agent.outbox", "edge_agent.schema", "PIL")
    code = f"import sys, edge_agent.window; print(sorted(m for m in {disk!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"
