"""Gate control on the edge: the rule, a relay on gpiozero's MockFactory pins, an HTTP controller, the kept
allow-list synced from a real ingest, and the decision going up with the detection."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from gpiozero.pins.mock import MockFactory

from central_server import auth
from edge_agent.agent import NotifyingSink
from edge_agent.gate import AllowEntry, AllowListCache, AllowListSync, Gate, GpioRelay, HttpTrigger, decide
from fleet_protocol import encode_message, parse_message
from fleet_store.lists import EntryFields, ListKind, add_entry
from tests.edge_agent.conftest import make_event
from tests.support.ingest import ingest_settings, running_ingest
from tests.support.receivers import WebhookReceiver, free_port

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ENTRIES = (AllowEntry("1กข1234", "กรุงเทพมหานคร"), AllowEntry("AB1234"),
           AllowEntry("ZZ9", expires_at=NOW - timedelta(hours=1)))


@pytest.mark.parametrize(("plate", "province", "confidence", "rule"), [
    ("1กข 1234", "กรุงเทพมหานคร", 95.0, "allowed"),
    ("1กข1234", "เชียงใหม่", 99.0, "not_listed"),       # the same registration from another province
    ("1กข1234", "กรุงเทพมหานคร", 80.0, "low_confidence"),
    ("AB-1234", "", 90.0, "allowed"),                    # the threshold itself opens
    ("AB1235", "", 99.0, "not_listed"),                  # one character off never opens a gate
    ("ZZ9", "", 99.0, "not_listed"),                     # expired
])
def test_rule(plate, province, confidence, rule):
    """Listed (shared rule, no tolerance), unexpired and read with enough confidence: only then allowed."""
    assert decide(ENTRIES, plate, province, confidence, 90.0, NOW)[0] == rule


class _Sink:
    def __init__(self):
        self.events = []

    def submit(self, event):
        self.events.append(event)

    def wake(self):
        return None


def test_relay_pulses_only_for_an_allowed_plate(tmp_path):
    """An allowed read closes the relay for the pulse, then opens it; a refused one never touches the pin."""
    factory = MockFactory()
    cache = AllowListCache(tmp_path / "allowlist.json")
    cache.replace({"version": "v1", "entries": [{"pattern": "AB1234", "province": "", "expires_at": None}]})
    gate = Gate(cache, GpioRelay(17, pulse_s=0.05, pin_factory=factory), 90.0)
    pin = factory.pin(17)
    refused = gate.handle("XY999", "", 99.0, NOW)
    assert (refused["rule"], refused["result"], pin.state) == ("not_listed", "shut", False)
    record = gate.handle("AB1234", "", 93.0, NOW)
    assert (record["rule"], record["output"], record["entry"]) == ("allowed", "gpio:17", "AB1234")
    assert pin.state is True
    time.sleep(0.2)
    assert pin.state is False
    pin.assert_states([False, True, False])
    gate.close()


def test_http_controller_and_a_dead_one(tmp_path):
    """The HTTP output POSTs the plate; a controller that is down is recorded as an error, nothing raises."""
    cache = AllowListCache(tmp_path / "allowlist.json")
    cache.replace({"version": "v1", "entries": [{"pattern": "AB1234"}]})
    controller = WebhookReceiver().start()
    try:
        record = Gate(cache, HttpTrigger(controller.url + "/open", "gate-1"), 90.0).handle("AB1234", "", 95.0)
        assert record["result"] == "HTTP 200"
        assert controller.received[0].json() == {"checkpoint_id": "gate-1", "plate": "AB1234", "action": "open"}
    finally:
        controller.stop()
    dead = Gate(cache, HttpTrigger(f"http://127.0.0.1:{free_port()}/open", "gate-1"), 90.0).handle("AB1234", "", 95.0)
    assert dead["rule"] == "allowed" and dead["result"].startswith("error: URLError")


def test_the_decision_goes_up_with_the_detection(outbox):
    """The sink records the gate's decision on the event; the outbox sends it as data.gate, which the central
    parses into the detection's extra fields."""
    cache = AllowListCache(outbox.config.db_path.parent / "allowlist.json")
    cache.replace({"version": "v1", "entries": [{"pattern": "AB1234"}]})
    sink = NotifyingSink(outbox, _Sink(), Gate(cache, None, 90.0))
    sink.submit(make_event("AB1234", confidence=92.0))
    [claimed] = outbox.claim(10)
    data = json.loads(encode_message(claimed.message, UTC))["data"]
    assert data["gate"]["rule"] == "allowed" and data["gate"]["output"] == "none"
    parsed = parse_message(json.dumps({"table": "lpr_detection", "action": "insert", "data": data}),
                           local_tz=UTC, now=datetime.now(UTC))
    assert parsed.extra["gate"] == data["gate"]


async def test_allowlist_synced_from_the_ingest_and_kept_while_it_is_down(sqlite_url, tmp_path):
    """The Pi fetches its list with its token (304 when unchanged), keeps it on disk, and keeps using it
    when the central cannot be reached or after a restart."""
    async with running_ingest(ingest_settings(sqlite_url, tmp_path)) as server:
        engine = server.engine()
        token = auth.add_checkpoint(engine, "gate-1")
        add_entry(engine, ListKind.ALLOW, EntryFields("AB1234", checkpoint_id="gate-1"), "t")
        add_entry(engine, ListKind.ALLOW, EntryFields("CD5678", checkpoint_id="gate-2"), "t")
        engine.dispose()
        cache = AllowListCache(tmp_path / "pi" / "allowlist.json")
        (tmp_path / "pi").mkdir()
        sync = AllowListSync(server.url, token, cache)
        assert await asyncio.to_thread(sync.sync_once) is True
        assert await asyncio.to_thread(sync.sync_once) is False  # 304: nothing changed
        assert [e.pattern for e in cache.entries] == ["AB1234"]
    down = AllowListSync(server.url, token, cache)
    with pytest.raises(OSError):
        down.sync_once()
    restarted = AllowListCache(tmp_path / "pi" / "allowlist.json")
    assert decide(restarted.snapshot(), "AB1234", "", 95.0, 90.0, NOW)[0] == "allowed"
    (tmp_path / "pi" / "allowlist.json").write_text("{not json")
    assert AllowListCache(tmp_path / "pi" / "allowlist.json").entries == ()  # damaged: nothing opens


async def test_agent_opens_for_a_listed_plate_and_the_central_keeps_the_decision(sqlite_url, tmp_path):
    """A real agent and a real ingest: the agent syncs its list, opens the HTTP controller for the listed plate
    only, and both detections arrive with their gate decision in ``extra``."""
    from edge_agent.events import PlateEvent
    from tests.edge_agent.harness import edge_settings, running_agent, stored, until
    from tests.support.images import scene_jpeg

    controller = WebhookReceiver().start()
    sinks = []

    def capture_sink(settings, sink):  # the vision loader: the test plays the camera
        sinks.append(sink)
        return None, "test camera"

    try:
        async with running_ingest(ingest_settings(sqlite_url, tmp_path / "central")) as server:
            engine = server.engine()
            token = auth.add_checkpoint(engine, "1")
            add_entry(engine, ListKind.ALLOW, EntryFields("AB1234", checkpoint_id="1"), "t")
            settings = edge_settings(tmp_path, server.url, token, edge_gate_output="http",
                                     edge_gate_http_url=controller.url + "/open", edge_gate_sync_s=5)
            async with running_agent(settings, capture_sink):
                listfile = settings.db_path.parent / "allowlist.json"
                await until(listfile.exists, 15, "the allow-list on the Pi")
                now = datetime.now(UTC)
                for plate, confidence in (("AB1234", 96.0), ("XY999", 99.0), ("AB1234", 60.0)):
                    await asyncio.to_thread(sinks[0].submit, PlateEvent(plate, confidence, now, scene_jpeg()))
                await until(lambda: len(stored(engine)) == 3, 20, "three detections at the central")
            rows = sorted(stored(engine), key=lambda r: r.id)
            engine.dispose()
        assert [(r.license_plate, r.extra["gate"]["rule"]) for r in rows] == [
            ("AB1234", "allowed"), ("XY999", "not_listed"), ("AB1234", "low_confidence")]
        assert rows[0].extra["gate"]["result"] == "HTTP 200"
        assert [r.json()["plate"] for r in controller.received] == ["AB1234"]
    finally:
        controller.stop()
