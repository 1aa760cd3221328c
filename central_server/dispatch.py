"""The alert dispatcher: sends queued deliveries (``alert_deliveries``) through their channels, with retries.

One thread per ingest process. It wakes when the writer committed a new alert
(:meth:`Dispatcher.wake`) and otherwise every ``poll`` seconds, claims the due
deliveries of the channels this process has configured
(``fleet_store.alerts.claim_due``) and sends each. A refused or failed send is
retried after an exponential back-off with jitter (``ALERT_RETRY_BASE_SECONDS``
doubling up to ``ALERT_RETRY_MAX_SECONDS``), without end, unless the receiver
refused the message itself (``permanent``). The queue is in the database, so a
restart picks up where the last process stopped; a delivery that was being
sent when a process died is sent again after its lease, with the same
idempotency key. Failures are logged once per channel and the recovery once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from fleet_store import alerts

from .notify import Channel, DeliveryError

log = logging.getLogger(__name__)


class Dispatcher:
    """Drains the delivery queue for ``channels``; ``start``/``stop`` run it on its own thread."""

    def __init__(self, engine: Engine, channels: Mapping[str, Channel], retry_base: float = 5.0,
                 retry_max: float = 1800.0, poll: float = 1.0, lease: float = 60.0, batch: int = 50):
        self.engine = engine
        self.channels = dict(channels)
        self.retry_base, self.retry_max, self.poll, self.lease = retry_base, retry_max, poll, lease
        self.batch = batch
        self.stats = {"delivered": 0, "failed_attempts": 0, "given_up": 0}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failing: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="alert-dispatch", daemon=True)

    def start(self) -> None:
        if self.channels:
            self._thread.start()
            log.info("alerts: delivering through %s", ", ".join(self.channels))

    def wake(self) -> None:
        """Look at the queue now (thread-safe; the writer calls it after committing alerts)."""
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the send in progress, then end the thread and close the channels."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for channel in self.channels.values():
            channel.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                busy = self.run_once()
            except DBAPIError as exc:  # the database is down: the queue waits for it
                log.warning("alerts: cannot read the delivery queue (%s)", str(exc).splitlines()[0])
                busy = 0
            if not busy:
                self._wake.wait(self.poll)

    def run_once(self, now: datetime | None = None) -> int:
        """Claim and send what is due; return how many deliveries were attempted.

        Successes are recorded together after the round (one commit, not one
        per notification); a crash before that commit repeats them later, with
        their idempotency keys.
        """
        claimed = alerts.claim_due(self.engine, list(self.channels), now, limit=self.batch, lease=self.lease)
        sent: list[int] = []
        try:
            for delivery in claimed:
                if self._stop.is_set():
                    break  # the lease runs out and the next process sends it
                if self._send(delivery):
                    sent.append(delivery.id)
        finally:
            alerts.delivered(self.engine, sent)
        self.stats["delivered"] += len(sent)
        return len(claimed)

    def _send(self, delivery: alerts.Delivery) -> bool:
        channel = self.channels[delivery.channel]
        try:
            channel.send(delivery)
        except DeliveryError as exc:
            self._failed(delivery, exc)
            return False
        except Exception as exc:  # a channel bug must not stop the queue
            log.exception("alerts: %s channel crashed", delivery.channel)
            self._failed(delivery, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return False
        if delivery.channel in self._failing:
            self._failing.discard(delivery.channel)
            log.info("alerts: %s deliveries recovered", delivery.channel)
        return True

    def _failed(self, delivery: alerts.Delivery, exc: DeliveryError) -> None:
        retry_at = alerts.failed(self.engine, delivery, str(exc), exc.permanent, self.retry_base, self.retry_max)
        self.stats["failed_attempts"] += 1
        if retry_at is None:
            self.stats["given_up"] += 1
            log.error("alerts: %s refused %s for good: %s", delivery.channel, delivery.idempotency_key, exc)
        elif delivery.channel not in self._failing:
            self._failing.add(delivery.channel)
            log.warning("alerts: %s delivery failed (%s); retrying from %s", delivery.channel, exc,
                        retry_at.astimezone(UTC).isoformat(timespec="seconds"))
