"""Prometheus metrics of the ingest: ``GET /metrics`` on the ingest port (beside ``/healthz``).

Each ingest process has its own registry (:class:`IngestMetrics`): counters and
a latency histogram it updates as it answers messages, and a collector that
reads, at scrape time, the process's state (connections, queue, writer,
dispatcher), plus ``fleet_store.monitoring.FleetCollector`` (per-checkpoint
gauges, open alerts, the delivery queue, read from the database). Several
ingest processes each export their own counters; Prometheus sums them. Names and labels are listed in docs/alerts.md
("Monitoring"). Only addresses in ``INGEST_METRICS_ALLOW`` may scrape: the
page names every checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import Engine

from fleet_store.monitoring import FleetCollector

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class IngestMetrics:
    """The ingest's registry: what it counts, plus what it reads when scraped."""

    def __init__(self, engine: Engine, state: Callable[[], dict[str, float]]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter("aicamera_ingest_messages", "messages answered, by table and outcome",
                                ["table", "outcome"], registry=self.registry)
        self.detections = Counter("aicamera_checkpoint_detections", "new detections stored, by checkpoint",
                                  ["checkpoint"], registry=self.registry)
        self.store_seconds = Histogram("aicamera_ingest_store_seconds", "message received -> durably committed",
                                       registry=self.registry,
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.registry.register(_Collector(state))
        self.registry.register(FleetCollector(engine))
        self._answered: dict[tuple[str, str], Counter] = {}
        self._stored_by: dict[str, Counter] = {}

    # ``labels()`` hashes and locks on every call (~2 µs); a message counts twice, so the
    # children are looked up once per (table, outcome) and per checkpoint, then kept.
    def answered(self, table: str, outcome: str) -> None:
        """Count one answered message of ``table`` (stored, duplicate or unavailable)."""
        child = self._answered.get((table, outcome))
        if child is None:
            child = self._answered[(table, outcome)] = self.messages.labels(table, outcome)
        child.inc()

    def detection_stored(self, checkpoint_id: str) -> None:
        """Count one new detection of ``checkpoint_id``."""
        child = self._stored_by.get(checkpoint_id)
        if child is None:
            child = self._stored_by[checkpoint_id] = self.detections.labels(checkpoint_id)
        child.inc()

    def render(self) -> bytes:
        """The text exposition (blocking: reads the database; call from a thread)."""
        return generate_latest(self.registry)


class _Collector:
    """Reads the process's state at scrape time."""

    def __init__(self, state: Callable[[], dict[str, float]]):
        self.state = state

    def describe(self):
        return []

    def collect(self):
        yield from self._process()

    def _process(self):
        s = self.state()
        for name, help_ in (("connections", "open checkpoint connections"),
                            ("queue_depth", "messages waiting for the writer"),
                            ("storage_healthy", "1 while the database takes writes")):
            yield GaugeMetricFamily(f"aicamera_ingest_{name}", help_, value=s[name])
        for name, help_ in (("rows", "rows committed"), ("batches", "group commits"),
                            ("store_failures", "batches that could not be stored"),
                            ("alert_deliveries", "notifications the receivers accepted")):
            yield CounterMetricFamily(f"aicamera_ingest_{name}", help_, value=s[name])
