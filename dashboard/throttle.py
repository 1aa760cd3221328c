"""Login throttling: per account and per client address, exponential back-off after a few failures.

Every attempt counts as a failure from the moment it starts (so a burst of parallel
guesses is throttled as well as a sequential one), refused ones included, and the
count is forgiven when the password was right. After ``free`` failures of an account
within ``window`` seconds (``4 * free`` for an address, which many people may share),
an attempt must come ``2 ** (failures - free)`` seconds after the previous one, at
most ``window``: someone who mistyped five times waits a second, a guessing script
that keeps hammering is soon held off for the whole window. A throttled attempt is
refused before the password is checked, so guessing also stops costing the server a
password hash.

State is per process (in memory): with several dashboard processes an attacker
gets each process's allowance; nginx's ``limit_req`` on ``/login`` bounds the
total (docs/security.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 100_000  # bounds memory when an attacker cycles through names or addresses


class LoginThrottle:
    """Counts failed logins by account and by address; tells how long the next attempt must wait."""

    def __init__(self, free: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.free = free
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, username: str, address: str) -> float:
        """Start an attempt (counted as a failure until :meth:`succeeded`): 0 when it may go
        ahead, else the seconds the caller should have waited (the attempt is refused)."""
        keys = self._keys(username, address)
        now = self.clock()
        with self._lock:
            wait = max(self._wait(key, free, now) for key, free in keys)
            for key, _ in keys:
                count, _last = self._current(key, now)
                self._failures[key] = (count + 1, now)
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)
        return max(0.0, wait)

    def succeeded(self, username: str, address: str) -> None:
        """The password was right: forget this account's and this address's failures."""
        with self._lock:
            for key, _ in self._keys(username, address):
                self._failures.pop(key, None)

    def _keys(self, username: str, address: str) -> list[tuple[tuple[str, str], int]]:
        return [(("user", username.lower()), self.free), (("addr", address), 4 * self.free)]

    def _current(self, key: tuple[str, str], now: float) -> tuple[int, float]:
        count, last = self._failures.get(key, (0, now))
        return (0, now) if now - last > self.window else (count, last)

    def _wait(self, key: tuple[str, str], free: int, now: float) -> float:
        count, last = self._current(key, now)
        if count < free:
            return 0.0
        return last + min(self.window, 2.0 ** (count - free)) - now
