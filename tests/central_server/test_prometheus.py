"""``GET /metrics`` on the ingest port, scraped over real HTTP from a running ingest."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from central_server.config import IngestSettings
from fleet_store.lists import EntryFields, ListKind, add_entry
from tests.support.ingest import ingest_settings, running_ingest
from tests.support.messages import detection, dumps, health


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def _send(server, token: str, *messages) -> None:
    async with connect(server.url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        for message in messages:
            await ws.send(dumps(message))
            assert json.loads(await ws.recv())["status"] == "success"


async def test_metrics_count_messages_and_show_each_checkpoint(sqlite_url, tmp_path):
    """Counters, the store latency histogram, per-checkpoint gauges and open alerts, as Prometheus parses them."""
    settings = ingest_settings(sqlite_url, tmp_path)
    async with running_ingest(settings) as server:
        token = server.add_checkpoint("gate-1")
        server.add_checkpoint("gate-2")
        engine = server.engine()
        add_entry(engine, ListKind.WATCH, EntryFields("WANTED1"), "t")
        engine.dispose()
        await _send(server, token, detection(None, "gate-1", license_plate="WANTED1"),
                    detection(None, "gate-1", license_plate="AB12"),
                    health("gate-1", system_info={"temperature_c": 61.5, "outbox_backlog": 7}))
        m = await asyncio.to_thread(scrape, server.port)
    gate1, gate2 = (("checkpoint", "gate-1"), ("site", "")), (("checkpoint", "gate-2"), ("site", ""))
    assert m[("aicamera_checkpoint_detections_total", (("checkpoint", "gate-1"),))] == 2
    assert m[("aicamera_ingest_messages_total", (("outcome", "stored"), ("table", "lpr_detection")))] == 2
    assert m[("aicamera_ingest_store_seconds_count", ())] == 3
    assert m[("aicamera_checkpoint_up", gate1)] == 1 and m[("aicamera_checkpoint_up", gate2)] == 0
    assert m[("aicamera_checkpoint_temperature_celsius", gate1)] == 61.5
    assert m[("aicamera_checkpoint_outbox_backlog", gate1)] == 7
    assert ("aicamera_checkpoint_last_seen_timestamp_seconds", gate1) in m
    assert m[("aicamera_alerts_open", (("rule", "watchlist"),))] == 1
    assert m[("aicamera_ingest_storage_healthy", ())] == 1 and m[("aicamera_ingest_rows_total", ())] == 3


async def test_metrics_only_for_allowed_addresses(sqlite_url, tmp_path):
    """A scraper outside INGEST_METRICS_ALLOW gets 403 (the page names every checkpoint); /healthz stays open."""
    settings = ingest_settings(sqlite_url, tmp_path, ingest_metrics_allow="10.0.0.0/8")
    async with running_ingest(settings) as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(scrape, server.port)
        assert refused.value.code == 403
        refused.value.close()
        health_ = await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{server.port}/healthz", timeout=10)
        assert health_.status == 200
        health_.close()


def test_a_bad_network_is_refused_at_start(tmp_path):
    """INGEST_METRICS_ALLOW must be CIDR networks."""
    with pytest.raises(ValueError, match="not a network"):
        IngestSettings(ingest_metrics_allow="127.0.0.1/32,everyone")
