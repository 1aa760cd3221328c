"""Prometheus metrics of the ingest: ``GET /metrics`` on the ingest port (beside ``/healthz``).

Each ingest process has its own registry (:class:`IngestMetrics`): counters and
a latency histogram it updates as it answers messages, and a collector that
reads, at scrape time, the process's state (connections, queue, writer,
dispatcher) and the database's (per-checkpoint gauges, open alerts, the
delivery queue). Several ingest processes each export their own counters;
Prometheus sums them. Names and labels are listed in docs/alerts.md
("Monitoring"). Only addresses in ``INGEST_METRICS_ALLOW`` may scrape: the
page names every checkpoint.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from fleet_store import alerts
from fleet_store.metrics import checkpoint_figures

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FIGURES = {"outbox_backlog": ("aicamera_checkpoint_outbox_backlog", "rows the checkpoint has not delivered yet"),
           "temperature_c": ("aicamera_checkpoint_temperature_celsius", "SoC temperature"),
           "cpu_percent": ("aicamera_checkpoint_cpu_percent", "CPU use"),
           "disk_percent": ("aicamera_checkpoint_disk_percent", "disk use")}


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``"127.0.0.1/32,10.0.0.0/8"`` as networks; raises ValueError naming a bad one."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


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
        self.registry.register(_Collector(engine, state))

    def render(self) -> bytes:
        """The text exposition (blocking: reads the database; call from a thread)."""
        return generate_latest(self.registry)


class _Collector:
    """Reads process state and the database at scrape time."""

    def __init__(self, engine: Engine, state: Callable[[], dict[str, float]]):
        self.engine = engine
        self.state = state

    def describe(self):
        return []

    def collect(self):
        yield from self._process()
        try:
            yield from self._checkpoints()
            yield from self._alerts()
        except DBAPIError as exc:  # the process gauges still tell that storage is down
            log.warning("metrics: database unreadable: %s", str(exc).splitlines()[0])

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

    def _checkpoints(self):
        rows = checkpoint_figures(self.engine)
        up = GaugeMetricFamily("aicamera_checkpoint_up", "1 online, 0 offline or never seen",
                               labels=["checkpoint", "site"])
        seen = GaugeMetricFamily("aicamera_checkpoint_last_seen_timestamp_seconds", "last message (Unix time)",
                                 labels=["checkpoint", "site"])
        figures = {key: GaugeMetricFamily(name, help_, labels=["checkpoint", "site"])
                   for key, (name, help_) in FIGURES.items()}
        for cp in rows:
            labels = [cp.checkpoint_id, cp.site]
            up.add_metric(labels, 1.0 if cp.online else 0.0)
            if cp.last_seen_at is not None:
                seen.add_metric(labels, cp.last_seen_at.timestamp())
            for key, family in figures.items():
                if key in cp.figures:
                    family.add_metric(labels, cp.figures[key])
        yield from (up, seen, *figures.values())

    def _alerts(self):
        by_rule, queue = alerts.counts(self.engine)
        opened = GaugeMetricFamily("aicamera_alerts_open", "open alerts, by rule", labels=["rule"])
        for rule in alerts.Rule:
            opened.add_metric([rule.value], by_rule.get(rule.value, 0))
        deliveries = GaugeMetricFamily("aicamera_alert_deliveries", "queued notifications not delivered",
                                       labels=["channel", "state"])
        for (channel, state), n in sorted(queue.items()):
            deliveries.add_metric([channel, state], n)
        yield opened
        yield deliveries
