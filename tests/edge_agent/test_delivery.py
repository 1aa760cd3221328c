"""End to end: the real edge agent delivering to the real central ingest on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import sqlite3
import time

import pytest

from edge_agent.delivery import Kind
from edge_agent.outbox_reader import Backlog
from fleet_store.schema import health_monitors
from tests.edge_agent.conftest import make_event
from tests.edge_agent.harness import (
    TIME_SCALE,
    agent_process,
    edge_backlog,
    edge_settings,
    fill_outbox,
    running_agent,
    stored,
    until,
)
from tests.support.images import scene_jpeg
from tests.support.ingest import _free_port, ingest_process, ingest_settings, running_ingest


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return scene_jpeg()


def answered(backlog: Backlog) -> tuple[int, int, int]:
    return backlog.delivered, backlog.rejected, backlog.unsent


async def test_backlog_built_while_server_down_is_delivered_after_it_starts(tmp_path, sqlite_url, jpeg):
    """Rows queued while nothing listens are all delivered, once each, when the server comes up."""
    port = _free_port()
    settings_c = ingest_settings(sqlite_url, tmp_path / "central", ingest_port=port)
    ids = fill_outbox(edge_settings(tmp_path, f"ws://127.0.0.1:{port}", None), 150, jpeg)
    async with running_ingest(settings_c) as server:
        token = server.add_checkpoint("1")
    settings = edge_settings(tmp_path, f"ws://127.0.0.1:{port}", token)
    async with running_agent(settings) as agent:
        await asyncio.sleep(0.3)  # the agent retries against a closed port meanwhile
        assert agent.running.parts.uplink.status().state.value == "retrying"
        async with running_ingest(settings_c) as server:
            await until(lambda: edge_backlog(settings).delivered == 150, 30, "backlog delivered")
            await until(lambda: not edge_backlog(settings, Kind.HEALTH).pending, 10, "health")
            engine = server.engine()
            rows = stored(engine)
            health = stored(engine, health_monitors)
            engine.dispose()
    assert sorted(r.event_id for r in rows) == sorted(ids)
    assert all(r.checkpoint_id == "1" and r.image_size == len(jpeg) for r in rows)
    assert {h.component for h in health} >= {"uplink", "outbox", "camera"}


async def test_server_refusals_do_not_block_valid_rows(tmp_path, sqlite_url, jpeg):
    """Invalid rows are rejected with the server's reason while every valid row is delivered."""
    async with running_ingest(ingest_settings(sqlite_url, tmp_path / "central")) as server:
        token = server.add_checkpoint("1")
        settings = edge_settings(tmp_path, server.url, token)
        good = fill_outbox(settings, 20, jpeg, "OK")
        con = sqlite3.connect(settings.db_path, isolation_level=None)
        for plate, confidence, ts in (("BAD-CONF", 150.0, "2025-01-01T00:00:00"),
                                      ("X" * 40, 90.0, "2025-01-01T00:00:00"),
                                      ("BAD-TIME", 90.0, "1990-01-01T00:00:00")):
            con.execute("INSERT INTO detection_results (license_plate, confidence, timestamp) "
                        "VALUES (?, ?, ?)", (plate, confidence, ts))
        good += fill_outbox(settings, 20, jpeg, "OK2")
        async with running_agent(settings):
            await until(lambda: answered(edge_backlog(settings)) == (40, 3, 0), 30, "all answered")
        reasons = [r[0] for r in con.execute("SELECT last_error FROM detection_results "
                                             "WHERE delivery = 'rejected' ORDER BY id")]
        engine = server.engine()
        rows = stored(engine)
        engine.dispose()
    assert [r.split(":")[0] for r in reasons] == ["invalid_field", "field_too_long", "invalid_timestamp"]
    assert sorted(r.event_id for r in rows) == sorted(good)


async def test_outside_program_rows_are_delivered(tmp_path, sqlite_url):
    """Rows inserted with only plate, confidence, timestamp and image_path reach the server with the image."""
    big = scene_jpeg(1600, 1200, quality=90)
    async with running_ingest(ingest_settings(sqlite_url, tmp_path / "central")) as server:
        token = server.add_checkpoint("1")
        settings = edge_settings(tmp_path, server.url, token, edge_outside_image_dirs=(tmp_path,))
        async with running_agent(settings):
            con = sqlite3.connect(settings.db_path, isolation_level=None)
            for i in range(3):
                photo = tmp_path / f"outside{i}.jpg"
                photo.write_bytes(big)
                con.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, "
                            "image_path) VALUES (?, 87.5, '2025-06-01T12:00:00', ?)", (f"OUT{i}", str(photo)))
            await until(lambda: edge_backlog(settings).delivered == 3, 20, "outside rows delivered")
        ids = {r[0] for r in con.execute("SELECT event_id FROM detection_results")}
        engine = server.engine()
        rows = stored(engine)
        engine.dispose()
    assert {r.event_id for r in rows} == ids and {r.license_plate for r in rows} == {"OUT0", "OUT1", "OUT2"}
    assert all(0 < r.image_size < len(big) for r in rows)  # compressed once, to at most 640x480


async def test_outside_backlog_and_own_rows_are_each_stored_once(tmp_path, sqlite_url, jpeg):
    """A backlog an outside program wrote drains beside the agent's own rows: every row stored exactly once."""
    crop = scene_jpeg(160, 50, seed=2)
    (tmp_path / "scene.jpg").write_bytes(jpeg)
    (tmp_path / "crop.jpg").write_bytes(crop)
    async with running_ingest(ingest_settings(sqlite_url, tmp_path / "central")) as server:
        token = server.add_checkpoint("1")
        settings = edge_settings(tmp_path, server.url, token, edge_outside_image_dirs=(tmp_path,))
        own = fill_outbox(settings, 1, jpeg, "OWN")  # creates the outbox, as the agent would
        with contextlib.closing(sqlite3.connect(settings.db_path, isolation_level=None)) as con:
            con.executemany("INSERT INTO detection_results (license_plate, confidence, timestamp, image_path, "
                            "plate_image_path) VALUES (?, 88, '2025-06-01T12:00:00', ?, ?)",
                            [(f"OUT{i}", str(tmp_path / "scene.jpg"), str(tmp_path / "crop.jpg")) for i in range(600)])
        async with running_agent(settings) as agent:
            outbox = agent.running.parts.outbox
            for i in range(60):  # the agent's own rows keep coming while the backlog drains
                own.append(await asyncio.to_thread(outbox.submit, make_event(f"OWN{i}", jpeg)))
                await asyncio.sleep(0.005)
            await until(lambda: edge_backlog(settings).delivered == 661, 60, "every row delivered")
            assert agent.running.parts.uplink.status().protocol == "v2"  # the ingest offers it: binary frames
        with contextlib.closing(sqlite3.connect(settings.db_path)) as con:
            edge_ids = {r[0] for r in con.execute("SELECT event_id FROM detection_results")}
        engine = server.engine()
        rows = stored(engine)
        engine.dispose()
    assert len(rows) == 661 and {r.event_id for r in rows} == edge_ids  # each once, none lost
    assert set(own) <= edge_ids and sum(r.license_plate.startswith("OUT") for r in rows) == 600
    assert all(r.image_size == len(jpeg) and r.plate_image_size == len(crop) for r in rows
               if r.license_plate.startswith("OUT"))


async def test_outside_row_with_province_and_plate_crop_is_stored_centrally_with_both(tmp_path, sqlite_url, jpeg):
    """An outside program's row with province and plate_image_path arrives with both: column, file and its sha256."""
    crop = scene_jpeg(180, 60, seed=3)
    async with running_ingest(ingest_settings(sqlite_url, tmp_path / "central")) as server:
        token = server.add_checkpoint("1")
        settings = edge_settings(tmp_path, server.url, token, edge_outside_image_dirs=(tmp_path,))
        async with running_agent(settings):
            (tmp_path / "scene.jpg").write_bytes(jpeg)
            (tmp_path / "crop.jpg").write_bytes(crop)
            with contextlib.closing(sqlite3.connect(settings.db_path, isolation_level=None)) as con:
                con.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, image_path, "
                            "province, plate_image_path) VALUES ('1กข1234', 91.0, '2025-06-01T12:00:00', ?, "
                            "'เชียงใหม่', ?)", (str(tmp_path / "scene.jpg"), str(tmp_path / "crop.jpg")))
            await until(lambda: edge_backlog(settings).delivered == 1, 20, "the outside row delivered")
        engine = server.engine()
        (row,) = stored(engine)
        engine.dispose()
        image_dir = server.settings.image_dir
    assert (row.license_plate, row.province) == ("1กข1234", "เชียงใหม่")
    plate_file = (image_dir / row.plate_image_path).read_bytes()
    assert plate_file == crop and row.plate_image_sha256 == hashlib.sha256(crop).hexdigest()


@pytest.mark.slow
def test_sigkill_mid_send_then_restart_loses_nothing_and_stores_each_once(tmp_path, sqlite_url, jpeg):
    """Killing the agent process while it sends, then restarting it, delivers every row exactly once."""
    total = 2000
    with ingest_process(ingest_settings(sqlite_url, tmp_path / "central"),
                        log_path=tmp_path / "ingest.log") as server:
        token = server.add_checkpoint("1")
        settings = edge_settings(tmp_path, server.url, token, edge_db_synchronous="FULL")
        ids = fill_outbox(settings, total, jpeg)
        with agent_process(settings, tmp_path / "agent1.log") as first:
            deadline = time.monotonic() + 60 * TIME_SCALE
            while edge_backlog(settings).delivered < 200:
                assert time.monotonic() < deadline and first.poll() is None, "agent never delivered"
                time.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert edge_backlog(settings).delivered < total  # really killed mid-send
        with agent_process(settings, tmp_path / "agent2.log") as second:
            deadline = time.monotonic() + 90 * TIME_SCALE
            while edge_backlog(settings).delivered < total:
                assert time.monotonic() < deadline and second.poll() is None, edge_backlog(settings)
                time.sleep(0.1)
        assert second.returncode == 0  # SIGTERM: clean shutdown
        engine = server.engine()
        rows = stored(engine)
        engine.dispose()
    assert len(rows) == total and sorted(r.event_id for r in rows) == sorted(ids)
