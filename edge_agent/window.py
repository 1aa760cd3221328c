"""The uplink's in-flight window, sans-I/O: claimed rows in, frames out, answers in, outcomes out.

No sockets, no clock, no database (its types come from
:mod:`edge_agent.delivery`, which imports nothing that touches a disk): the
caller passes ``now`` and moves the data. That keeps every rule testable with plain lists:

* at most ``size`` messages wait for an answer; oldest rows are sent first;
* an answer is matched to its message by ``event_id`` (an answer without one
  goes to the oldest message in flight, as the protocol's in-order rule says);
* a success answer, including a ``duplicate`` one, means delivered;
* a permanent refusal means rejected, with the server's code and message kept
  as the reason, and never blocks the rows behind it;
* a retryable refusal sends the row back to pending after an exponential
  back-off (``retry_base * 2**(attempts-1)``, capped at ``retry_max``);
* no answer for ``ack_timeout`` seconds means the link is dead.

With ``v2`` (the server accepted the subprotocol ``aicamera.v2``) frames are
binary (the JPEGs as they are) and one answer frame may carry many answers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import tzinfo

from fleet_protocol import Ack, Answer, ProtocolError, encode_frame_v2, encode_message, parse_answers

from .delivery import Claimed, Outcome, Result
from .ids import canonical_event_id


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """Window size, dead-link timeout and retry back-off."""

    size: int = 64
    ack_timeout: float = 30.0
    retry_base: float = 2.0
    retry_max: float = 300.0


class Window:
    """Messages sent and not yet answered, for one connection."""

    def __init__(self, config: WindowConfig, local_tz: tzinfo, v2: bool = False):
        self.config = config
        self.local_tz = local_tz
        self.v2 = v2
        self._in_flight: OrderedDict[str, tuple[Claimed, float]] = OrderedDict()
        self.unmatched = 0

    def __len__(self) -> int:
        return len(self._in_flight)

    def free(self) -> int:
        """How many more messages may be sent now."""
        return max(0, self.config.size - len(self._in_flight))

    def send(self, item: Claimed, now: float) -> str | bytes:
        """Track ``item`` as in flight from ``now`` and return its frame (text in v1, binary in v2)."""
        key = _key(item.event_id)
        if key in self._in_flight:
            raise ValueError(f"event {item.event_id} is already in flight")
        self._in_flight[key] = (item, now)
        if self.v2:
            return encode_frame_v2(item.message, self.local_tz)
        return encode_message(item.message, self.local_tz)

    def receive(self, raw: str | bytes, now: float) -> Outcome | None:
        """Read a frame holding one answer; return what it means for its row, or None if it matches nothing."""
        outcomes = self.receive_all(raw, now)
        return outcomes[0] if len(outcomes) == 1 and outcomes[0] is not None else None

    def receive_all(self, raw: str | bytes, now: float) -> list[Outcome | None]:
        """Read a frame of answers (a v2 batch, or one v1 answer); one outcome per answer, None where it
        matches nothing (counted in ``unmatched``)."""
        try:
            answers = parse_answers(raw)
        except ProtocolError:
            self.unmatched += 1
            return [None]
        return [self._outcome(answer, now) for answer in answers]

    def _outcome(self, answer: Answer, now: float) -> Outcome | None:
        item = self._match(answer.event_id)
        if item is None:
            self.unmatched += 1
            return None
        if isinstance(answer, Ack):
            return Outcome(item.kind, item.row_id, Result.DELIVERED, record_id=answer.record_id)
        reason = f"{answer.code}: {answer.message}"
        if not answer.retryable:
            return Outcome(item.kind, item.row_id, Result.REJECTED, reason=reason)
        return Outcome(item.kind, item.row_id, Result.RETRY, reason=reason,
                       retry_at=now + self.retry_delay(item.attempts))

    def _match(self, event_id: str | None) -> Claimed | None:
        if event_id is None:
            if not self._in_flight:
                return None
            return self._in_flight.popitem(last=False)[1][0]
        entry = self._in_flight.pop(_key(event_id), None)
        return entry[0] if entry else None

    def retry_delay(self, attempts: int) -> float:
        """Seconds before a row refused ``attempts`` times may be sent again."""
        exponent = min(max(attempts, 1) - 1, 30)
        return min(self.config.retry_max, self.config.retry_base * 2**exponent)

    def oldest_age(self, now: float) -> float:
        """Seconds the oldest unanswered message has waited (0 when none)."""
        if not self._in_flight:
            return 0.0
        _, sent_at = next(iter(self._in_flight.values()))
        return max(0.0, now - sent_at)

    def dead(self, now: float) -> bool:
        """True when a message has waited longer than ``ack_timeout``: treat the link as dead."""
        return self.oldest_age(now) > self.config.ack_timeout

    def drain(self) -> list[Claimed]:
        """Forget everything in flight (the link is gone) and return it, oldest first."""
        items = [item for item, _ in self._in_flight.values()]
        self._in_flight.clear()
        return items


def _key(event_id: str) -> str:
    """Messages are matched by the form the server answers with (it normalises UUIDs)."""
    return canonical_event_id(event_id) or event_id
