"""Client-generated, time-ordered event ids (UUIDv7 layout, RFC 9562).

Every outbox row gets one before anything is sent, so the central server can
store each event once however often it is resent. The first 48 bits are the
Unix time in milliseconds, so ids sort by creation time; within one
millisecond a 12-bit counter (``rand_a``) keeps ids from one process strictly
increasing. Rows that an outside program inserts get theirs from an SQLite
trigger with the same layout (see :mod:`edge_agent.outbox`).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(now_ns: int | None = None) -> str:
    """Return a new UUIDv7 as the canonical lowercase string (thread-safe, monotonic per process)."""
    global _last_ms, _counter
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    with _lock:
        if ms > _last_ms:
            _last_ms, _counter = ms, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:  # same (or earlier: clock stepped back) millisecond: count on from the last id
            _counter += 1
            if _counter > 0xFFF:
                _last_ms, _counter = _last_ms + 1, 0
            ms = _last_ms
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (_counter << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def uuid7_time_ms(event_id: str) -> int:
    """The creation time (Unix milliseconds) embedded in a UUIDv7 string."""
    return uuid.UUID(event_id).int >> 80


def canonical_event_id(value: str | None) -> str | None:
    """The lower-case hyphenated form the server answers with, or None when ``value`` is no UUID."""
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None
