"""Per-vehicle tracker: one event per car, voting over confusable reads, blur and confidence gates."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from edge_agent.vision.base import Box, Frame, PlateRead
from edge_agent.vision.tracking import PlateTracker, TrackerOptions, vote

FRAME = Frame(np.zeros((8, 8, 3), np.uint8), datetime(2026, 1, 1, tzinfo=UTC), 0)


def _read(text, conf=0.9, sharp=200.0, box=Box(500, 400, 200, 90)):
    return PlateRead(text, text, conf, box, "thai", "TH", "", sharp)


def _run(tracker, reads_per_frame, fps=10.0, start=0.0):
    out = []
    for i, reads in enumerate(reads_per_frame):
        out += tracker.update(start + i / fps, FRAME, reads)
    return out


def test_car_held_three_seconds_gives_one_event():
    """30 frames of the same plate, then an empty road, give exactly one result."""
    tracker = PlateTracker(TrackerOptions(emit_delay_s=1.0))
    results = _run(tracker, [[_read("กข1234")]] * 30 + [[]] * 30)
    assert [r.text for r in results] == ["กข1234"]
    assert results[0].votes == 11  # decided 1 s after the first read: reads at 0.0 .. 1.0 s


def test_vote_settles_confusable_letters():
    """Occasional ข/ช slips lose the per-position vote."""
    reads = [_read("กข1234")] * 4 + [_read("กช1234", 0.8)] * 2
    assert vote(reads)[0] == "กข1234"
    tracker = PlateTracker(TrackerOptions(emit_delay_s=0.5))
    seq = [
        [_read("กช1234", 0.8)],
        [_read("กข1234")],
        [_read("กข1234")],
        [_read("กช1234", 0.8)],
        [_read("กข1234")],
        [_read("กข1234")],
        [_read("กข1234")],
    ]
    assert [r.text for r in _run(tracker, seq + [[]] * 20)] == ["กข1234"]


def test_blurred_or_weak_reads_give_no_event():
    """Reads under the sharpness floor or the confidence floor never make an event."""
    tracker = PlateTracker(TrackerOptions(min_sharpness=60, min_confidence=0.5))
    assert _run(tracker, [[_read("กข1234", sharp=10)]] * 30 + [[]] * 30) == []
    assert _run(tracker, [[_read("กข1234", conf=0.3)]] * 30 + [[]] * 30, start=100) == []


def test_two_cars_in_a_row_give_two_events():
    """A second car after the first has left is a new vehicle."""
    tracker = PlateTracker(TrackerOptions(emit_delay_s=0.5))
    seq = [[_read("กข1234")]] * 20 + [[]] * 20 + [[_read("ABC1234", box=Box(100, 300, 180, 60))]] * 20 + [[]] * 20
    assert [r.text for r in _run(tracker, seq)] == ["กข1234", "ABC1234"]


def test_short_visit_is_decided_when_the_car_leaves():
    """A car seen for only one good read is still reported once it leaves view."""
    tracker = PlateTracker(TrackerOptions(emit_delay_s=1.0, min_reads=2, lost_after_s=1.0))
    assert [r.text for r in _run(tracker, [[_read("กข1234")]] + [[]] * 20)] == ["กข1234"]


def test_best_crop_is_the_sharpest_agreeing_read():
    """The result carries the sharpest read whose text matches the vote."""
    tracker = PlateTracker(TrackerOptions(emit_delay_s=0.3))
    seq = [
        [_read("กข1234", sharp=100)],
        [_read("กข1234", sharp=400)],
        [_read("กข1234", sharp=150)],
        [],
        [],
        [],
    ]
    (result,) = _run(tracker, seq + [[]] * 20)
    assert result.read.sharpness == 400
