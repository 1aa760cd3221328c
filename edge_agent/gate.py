"""Gate control: an allow-list kept on the Pi, a rule, and an output that opens the barrier.

- :class:`AllowListCache` keeps the entries the central's ``GET /v1/allowlist``
  gave this checkpoint in a JSON file beside the outbox (written atomically), so
  the barrier keeps working while the uplink is down or after a restart.
  :class:`AllowListSync` refreshes it every ``EDGE_GATE_SYNC_S`` with the
  checkpoint's own token (``If-None-Match``: an unchanged list costs a 304).
- The rule (:func:`decide`): the read is caught by an entry (the rule both ends
  share, ``fleet_protocol.platerule``; an allow-list entry has no tolerance)
  **and** its confidence is at least ``EDGE_GATE_MIN_CONFIDENCE``. Anything
  else keeps the gate shut. docs/alerts.md ("Gate") explains the threshold.
- Outputs: :class:`GpioRelay` pulses a relay through gpiozero (on the Pi its
  default pin factory; tests pass gpiozero's ``MockFactory``), :class:`HttpTrigger`
  POSTs to a controller that takes an HTTP call.
- :class:`Gate` decides for each plate event and returns the decision record
  (plate, rule, entry, output, result), which the outbox sends up with the
  detection (``data.gate``; the central keeps it in ``lpr_detections.extra``).
  An output failure is recorded, never raised: the detection is still stored.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from fleet_protocol.platerule import entry_catches

log = logging.getLogger(__name__)
TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One allow-list entry as the Pi keeps it."""

    pattern: str
    province: str = ""
    expires_at: datetime | None = None

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> AllowEntry:
        expires = item.get("expires_at")
        return cls(str(item["pattern"]), str(item.get("province") or ""),
                   datetime.fromisoformat(expires) if expires else None)


class AllowListCache:
    """The allow-list on disk (``allowlist.json``): loaded at start, replaced whole on each change."""

    def __init__(self, path: Path):
        self.path = path
        self.version = ""
        self.entries: tuple[AllowEntry, ...] = ()
        self._lock = threading.Lock()
        self.load()

    def load(self) -> None:
        """Read the file if there is one (a damaged file counts as no list, and says so)."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            entries = tuple(AllowEntry.from_json(e) for e in document["entries"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("gate: %s is unreadable (%s); no plate is allowed until the next sync", self.path, exc)
            return
        with self._lock:
            self.version, self.entries = str(document.get("version", "")), entries

    def replace(self, document: dict[str, Any]) -> None:
        """Store a new list from the central (atomically: a power cut leaves the old or the new file)."""
        entries = tuple(AllowEntry.from_json(e) for e in document["entries"])
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        with self._lock:
            self.version, self.entries = str(document.get("version", "")), entries

    def snapshot(self) -> tuple[AllowEntry, ...]:
        with self._lock:
            return self.entries


class AllowListSync:
    """Fetches this checkpoint's allow-list from the central ingest's ``/v1/allowlist``."""

    def __init__(self, websocket_url: str, token: str, cache: AllowListCache, interval: float = 60.0):
        base = websocket_url.rstrip("/").replace("wss://", "https://", 1).replace("ws://", "http://", 1)
        self.url = base + "/v1/allowlist"
        self.token, self.cache, self.interval = token, cache, interval
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="allowlist-sync", daemon=True)

    def sync_once(self) -> bool:
        """Fetch the list; True when it changed. Raises OSError/ValueError when the central cannot say."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.cache.version:
            headers["If-None-Match"] = f'"{self.cache.version}"'
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                document = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 304:
                return False
            raise OSError(f"HTTP {exc.code} from {self.url}") from None
        self.cache.replace(document)
        log.info("gate: allow-list updated (%d entries)", len(self.cache.entries))
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(TIMEOUT + 1)

    def _run(self) -> None:
        while True:
            try:
                self.sync_once()
            except (OSError, ValueError, KeyError) as exc:
                if not self._failing:
                    log.warning("gate: cannot refresh the allow-list (%s); the kept list (%d entries) applies",
                                exc, len(self.cache.entries))
                self._failing = True
            else:
                if self._failing:
                    log.info("gate: allow-list refresh recovered")
                self._failing = False
            if self._stop.wait(self.interval):
                return


def decide(entries: Sequence[AllowEntry], plate: str, province: str, confidence: float, min_confidence: float,
           now: datetime) -> tuple[str, AllowEntry | None]:
    """``("allowed", entry)``, ``("low_confidence", entry)`` or ``("not_listed", None)``."""
    for entry in entries:
        if entry_catches(entry.pattern, entry.province, 0, entry.expires_at, plate, province, now):
            return ("allowed" if confidence >= min_confidence else "low_confidence"), entry
    return "not_listed", None


class Output(Protocol):
    label: str

    def open(self, plate: str) -> str: ...
    def close(self) -> None: ...


class GpioRelay:
    """A relay on a GPIO pin, pulsed for ``pulse_s`` seconds to open the barrier."""

    def __init__(self, pin: int, pulse_s: float = 1.0, active_high: bool = True, pin_factory=None):
        from gpiozero import OutputDevice  # on the Pi; tests give gpiozero's MockFactory

        self.label = f"gpio:{pin}"
        self.pulse_s = pulse_s
        self.device = OutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)

    def open(self, plate: str) -> str:
        """Close the relay now (the barrier opens at once) and release it after the pulse."""
        self.device.on()
        timer = threading.Timer(self.pulse_s, self.device.off)
        timer.daemon = True
        timer.start()
        return f"pulsed {self.pulse_s:g} s"

    def close(self) -> None:
        self.device.off()
        self.device.close()


class HttpTrigger:
    """POSTs ``{"checkpoint_id", "plate", "action": "open"}`` to a barrier controller; any 2xx opens."""

    def __init__(self, url: str, checkpoint_id: str):
        self.label, self.url, self.checkpoint_id = "http", url, checkpoint_id

    def open(self, plate: str) -> str:
        body = json.dumps({"checkpoint_id": self.checkpoint_id, "plate": plate, "action": "open"}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return f"HTTP {response.status}"

    def close(self) -> None:
        return None


class Gate:
    """Decides for each plate event and drives the output; ``handle`` returns the decision record."""

    def __init__(self, cache: AllowListCache, output: Output | None, min_confidence: float):
        self.cache, self.output, self.min_confidence = cache, output, min_confidence

    def handle(self, plate: str, province: str, confidence: float, now: datetime | None = None) -> dict[str, Any]:
        """Decide, open when allowed, and return ``{plate, confidence, rule, entry, output, result, at}``."""
        now = now or datetime.now(UTC)
        rule, entry = decide(self.cache.snapshot(), plate, province, confidence, self.min_confidence, now)
        result = "shut"
        if rule == "allowed" and self.output is not None:
            try:
                result = self.output.open(plate)
            except Exception as exc:  # the barrier failed; the detection must still be stored
                result = f"error: {type(exc).__name__}: {exc}"[:200]
                log.error("gate: %s did not open for %s: %s", self.output.label, plate, exc)
        record = {"plate": plate, "confidence": confidence, "rule": rule, "entry": entry.pattern if entry else None,
                  "output": self.output.label if self.output else "none", "result": result,
                  "at": now.isoformat(timespec="milliseconds"), "min_confidence": self.min_confidence}
        log.info("gate: %s %s (%.1f) -> %s", rule, plate, confidence, result)
        return record

    def close(self) -> None:
        if self.output is not None:
            self.output.close()
