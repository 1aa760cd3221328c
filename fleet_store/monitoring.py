"""Fleet gauges for Prometheus, read from the central database at scrape time (ingest and dashboard both export them).

:class:`FleetCollector` is a prometheus_client collector: per-checkpoint
state and latest health figures (``fleet_store.metrics``), open alerts and
undelivered notifications (``fleet_store.alerts``). Names are listed in
docs/alerts.md ("Monitoring"). A database that cannot be read yields nothing
(the process's own gauges still say so).
"""

from __future__ import annotations

import ipaddress
import logging

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from . import alerts
from .metrics import checkpoint_figures

log = logging.getLogger(__name__)
FIGURES = {"outbox_backlog": ("aicamera_checkpoint_outbox_backlog", "rows the checkpoint has not delivered yet"),
           "temperature_c": ("aicamera_checkpoint_temperature_celsius", "SoC temperature"),
           "cpu_percent": ("aicamera_checkpoint_cpu_percent", "CPU use"),
           "disk_percent": ("aicamera_checkpoint_disk_percent", "disk use")}


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``"127.0.0.1/32,10.0.0.0/8"`` as networks; raises ValueError naming a bad one."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not a network like 10.0.0.0/8") from None
    return networks


def address_allowed(address: str, networks: list) -> bool:
    """Whether a client ``address`` (IPv4, IPv6 or IPv4-mapped IPv6) lies in one of ``networks``."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if parsed.version == 6 and parsed.ipv4_mapped:
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in networks)


class FleetCollector:
    """Per-checkpoint gauges and alert gauges, read when scraped."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def describe(self):
        return []

    def collect(self):
        try:
            families = list(self._checkpoints()) + list(self._alerts())
        except DBAPIError as exc:
            log.warning("metrics: database unreadable: %s", str(exc).splitlines()[0])
            return
        yield from families

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
