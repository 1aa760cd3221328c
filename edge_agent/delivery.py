"""The delivery vocabulary, sans-I/O: which table, which lifecycle state, what an answer means.

These types sit below both the outbox (SQLite) and the in-flight window (pure):
the window builds :class:`Outcome` values from :class:`Claimed` items and the
outbox applies them, so nothing here imports a module that touches a disk.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fleet_protocol import Message


class Kind(str, enum.Enum):
    """Which table a row lives in."""

    DETECTION = "detection_results"
    HEALTH = "health_checks"


class Delivery(str, enum.Enum):
    """Where a row is in its lifecycle (column ``delivery``).

    ``pending`` --claim--> ``in_flight`` --ack--> ``delivered``, or ``rejected``
    on a permanent refusal; a retryable refusal, a lost link or a restart
    returns an in-flight row to ``pending``.
    """

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    REJECTED = "rejected"

    @property
    def sent_to_server(self) -> int:
        """The old column's mirror: 0 not yet delivered, 1 delivered, 2 rejected."""
        return _SENT_TO_SERVER[self]


_SENT_TO_SERVER = {Delivery.PENDING: 0, Delivery.IN_FLIGHT: 0, Delivery.DELIVERED: 1, Delivery.REJECTED: 2}

UNSENT = (Delivery.PENDING, Delivery.IN_FLIGHT)
"""States of a row the server has not answered yet: never pruned."""

ANSWERED = (Delivery.DELIVERED, Delivery.REJECTED)
"""States of a row the server has answered: prunable by age and by the disk cap."""


class Result(str, enum.Enum):
    """What an answer means for a row."""

    DELIVERED = "delivered"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row moved to in_flight, with the message to send for it (``attempts`` includes this one)."""

    kind: Kind
    row_id: int
    event_id: str
    attempts: int
    message: Message


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one in-flight row (built by the window, applied by the outbox)."""

    kind: Kind
    row_id: int
    result: Result
    record_id: int | None = None
    reason: str = ""
    retry_at: float = 0.0
