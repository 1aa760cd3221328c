"""Per-vehicle grouping: reads across frames become one decided plate per vehicle.

Reads are attached to tracks by position (box overlap or nearby centre) or by equal
text. Blurred crops (variance of Laplacian below a floor) and weak reads never vote.
A track's text is a per-position vote weighted by confidence over the reads of the
most common length, which settles confusable Thai letters (ข/ช, ค/ด/ต, บ/ป) and
O/0-style slips. A track is decided once ``emit_delay_s`` has passed since its first
good read (with at least ``min_reads`` reads), or when it leaves view with one good
read; then it yields exactly one :class:`VehicleResult` and never again.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .base import Frame, PlateRead

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrackerOptions:
    """When a vehicle's plate is decided, and which reads may vote."""

    emit_delay_s: float = 1.0
    min_reads: int = 2
    lost_after_s: float = 1.5
    min_sharpness: float = 60.0
    min_confidence: float = 0.5
    repeat_suppress_s: float = 10.0


@dataclass(frozen=True, slots=True, eq=False)
class VehicleResult:
    """The decided plate of one vehicle: the winning text, the best read of it and its frame."""

    text: str
    confidence: float  # 0-1, mean over the reads that agree with the vote
    read: PlateRead
    frame: Frame
    votes: int
    province: str = ""  # the most common province among the reads agreeing with the vote
    province_confidence: float | None = None  # 0-1, mean score of the reads that gave it


@dataclass(eq=False)
class _Track:
    id: int
    first_seen: float
    last_seen: float
    read: PlateRead
    votes: list[tuple[PlateRead, Frame]] = field(default_factory=list)
    first_vote: float | None = None
    done: bool = False


def vote(reads: list[PlateRead]) -> tuple[str, float]:
    """Per-position, confidence-weighted vote over the reads of the most common length."""
    length = Counter(len(r.text) for r in reads).most_common(1)[0][0]
    same = [r for r in reads if len(r.text) == length]
    chars = []
    for i in range(length):
        weights: dict[str, float] = defaultdict(float)
        for r in same:
            weights[r.text[i]] += r.confidence
        chars.append(max(weights, key=weights.__getitem__))
    text = "".join(chars)
    agree = [r.confidence for r in same if r.text == text] or [r.confidence for r in same]
    return text, sum(agree) / len(agree)


class PlateTracker:
    """Feed it each processed frame's reads; it returns the vehicles decided at that moment.

    Not thread-safe: one pipeline thread owns it. Times are the caller's monotonic seconds.
    """

    def __init__(self, opts: TrackerOptions) -> None:
        self.opts = opts
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._recent: dict[str, float] = {}

    @property
    def undecided(self) -> bool:
        """Whether a vehicle in view still waits for its plate, so every frame should be read.

        A decided vehicle that stays (a car parked at the gate) is only re-read by the gate's
        periodic check; the repeat suppression, refreshed by each of those reads, keeps it
        from being reported again.
        """
        return any(not t.done for t in self._tracks)

    def update(self, now: float, frame: Frame, reads: list[PlateRead]) -> list[VehicleResult]:
        """Attach ``reads`` (from ``frame``) to tracks and return the vehicles decided now."""
        for read in reads:
            track = self._match(read) or self._new_track(now, read)
            track.last_seen, track.read = now, read
            if not track.done and self._usable(read):
                track.votes.append((read, frame))
                track.first_vote = track.first_vote if track.first_vote is not None else now
        return self._decide(now)

    def flush(self, now: float) -> list[VehicleResult]:
        """Decide every open track (on shutdown)."""
        return self._decide(now + self.opts.lost_after_s + self.opts.emit_delay_s + 1e-6)

    def _usable(self, read: PlateRead) -> bool:
        return read.sharpness >= self.opts.min_sharpness and read.confidence >= self.opts.min_confidence

    def _match(self, read: PlateRead) -> _Track | None:
        best, best_score = None, 0.0
        for t in self._tracks:
            cx, cy = read.box.center
            tx, ty = t.read.box.center
            # Cars move a lot between two processed frames; checkpoints see one car at a time.
            near = abs(cx - tx) <= 4 * max(t.read.box.w, 1) and abs(cy - ty) <= 2 * max(t.read.box.h, 1)
            similar = difflib.SequenceMatcher(None, read.text, t.read.text).ratio()
            score = max(read.box.iou(t.read.box), 0.5 if near else 0.0, similar if similar >= 0.6 else 0.0)
            if score > best_score:
                best, best_score = t, score
        return best if best_score >= 0.1 else None

    def _new_track(self, now: float, read: PlateRead) -> _Track:
        track = _Track(self._next_id, now, now, read)
        self._next_id += 1
        self._tracks.append(track)
        log.debug("track %d started at %s", track.id, read.box)
        return track

    def _decide(self, now: float) -> list[VehicleResult]:
        out = []
        for t in self._tracks:
            lost = now - t.last_seen > self.opts.lost_after_s
            ripe = (
                t.first_vote is not None
                and now - t.first_vote >= self.opts.emit_delay_s
                and len(t.votes) >= self.opts.min_reads
            )
            if not t.done and t.votes and (ripe or lost):
                t.done = True
                result = self._result(t)
                if self._recent.get(result.text, -1e9) < now - self.opts.repeat_suppress_s:
                    out.append(result)
                self._recent[result.text] = now
        self._tracks = [t for t in self._tracks if now - t.last_seen <= self.opts.lost_after_s]
        self._recent = {k: v for k, v in self._recent.items() if now - v <= self.opts.repeat_suppress_s}
        return out

    def _result(self, t: _Track) -> VehicleResult:
        text, conf = vote([r for r, _ in t.votes])
        agreeing = [(r, f) for r, f in t.votes if r.text == text] or t.votes
        read, frame = max(agreeing, key=lambda rf: rf[0].sharpness * rf[0].confidence)
        provinces = Counter(r.province for r, _ in agreeing if r.province).most_common(1)
        province = provinces[0][0] if provinces else ""
        scores = [
            r.province_confidence for r, _ in agreeing if r.province == province and r.province_confidence is not None
        ]
        log.info("vehicle %d decided: %s %s (%d votes)", t.id, text, province, len(t.votes))
        return VehicleResult(
            text, conf, read, frame, len(t.votes), province,
            sum(scores) / len(scores) if province and scores else None,
        )
