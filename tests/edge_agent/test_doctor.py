"""The doctor against a real ingest: what passes, what fails, and what the report contains."""

from __future__ import annotations

import asyncio
import io
import time

from edge_agent.doctor import check_camera, check_clock, check_database, check_detector, run_doctor
from edge_agent.events import Status
from tests.edge_agent.conftest import make_event
from tests.edge_agent.harness import agent_env, edge_settings
from tests.support.ingest import _free_port, ingest_settings, running_ingest


def env_file(tmp_path, settings):
    """Write ``settings`` as an env file (what an operator would have) and return its path."""
    lines = [f"{k}={v}" for k, v in agent_env(settings).items()
             if k.isupper() and k.lower() in type(settings).model_fields]
    path = tmp_path / ".env.test"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_doctor_passes_server_and_token_then_fails_a_wrong_token(tmp_path, sqlite_url, outbox):
    """A registered token reads 'token accepted'; a wrong one fails with how to get a token."""
    outbox.submit(make_event())
    async with running_ingest(ingest_settings(sqlite_url, tmp_path / "central")) as server:
        token = server.add_checkpoint("1")
        good = edge_settings(tmp_path, server.url, token, db_path=outbox.config.db_path)
        out = io.StringIO()
        await asyncio.to_thread(run_doctor, env_file(tmp_path, good), True, out)
        text = out.getvalue()
        assert "PASS  server" in text and "token accepted" in text and "PASS  database" in text
        assert "PASS  clock" in text
        assert "1 detections not yet delivered" in text and "## support report" in text
        assert "CHECKPOINT_TOKEN=***" in text and token not in text
        bad = edge_settings(tmp_path, server.url, "wrong", db_path=outbox.config.db_path)
        out = io.StringIO()
        status = await asyncio.to_thread(run_doctor, env_file(tmp_path, bad), False, out)
    assert status == 1 and "HTTP 401" in out.getvalue() and "checkpoints add 1" in out.getvalue()


def test_doctor_unreachable_server_and_bad_config(tmp_path):
    """No server: FAIL with a fix; invalid settings: exit 2 naming the variable."""
    settings = edge_settings(tmp_path, f"ws://127.0.0.1:{_free_port()}", None)
    out = io.StringIO()
    assert run_doctor(env_file(tmp_path, settings), out=out) == 1
    assert "cannot reach" in out.getvalue() and "fix:" in out.getvalue()
    bad = tmp_path / "bad.env"
    bad.write_text("CHECKPOINT_ID=has space\n")
    out = io.StringIO()
    assert run_doctor(bad, out=out) == 2 and "CHECKPOINT_ID" in out.getvalue()


def test_individual_checks(tmp_path):
    """Camera, detector, database and clock checks say what is wrong."""
    assert check_camera(str(tmp_path)).status is Status.PASS
    assert check_camera("usb:97").status is Status.FAIL
    assert check_detector("hailo", tmp_path / "hailo0").status is Status.FAIL
    missing_hef = check_detector("auto", tmp_path / "hailo0", hef=tmp_path / "plates.hef")
    assert missing_hef.status is Status.FAIL and "HAILO_HEF" in missing_hef.message
    assert check_database(tmp_path / "new" / "x.db").status is Status.PASS
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not sqlite" * 100)
    assert check_database(broken).status is Status.FAIL
    now = time.time()
    assert check_clock(now - 3, now).status is Status.PASS
    assert check_clock(now - 120, now).status is Status.FAIL
    assert check_clock(None, 1_600_000_000).status is Status.FAIL
