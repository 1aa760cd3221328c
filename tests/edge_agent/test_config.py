"""Strict settings: fixed env names, env files, clear errors."""

from __future__ import annotations

import pytest

from edge_agent.config import is_loopback, load_settings
from edge_agent.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("CHECKPOINT_ID", "CHECKPOINT_TOKEN", "EDGE_API_HOST", "EDGE_API_TOKEN", "DB_PATH",
                 "WEBSOCKET_SERVER_URL", "DETECTOR"):
        monkeypatch.delenv(name, raising=False)


def test_fixed_names_are_read_from_the_environment(monkeypatch, tmp_path):
    """The DESIGN.md names map to settings, with the documented defaults for the rest."""
    monkeypatch.setenv("CHECKPOINT_ID", "gate-7")
    monkeypatch.setenv("WEBSOCKET_SERVER_URL", "wss://central.example:8765")
    monkeypatch.setenv("DB_PATH", str(tmp_path / "x.db"))
    s = load_settings()
    assert (s.checkpoint_id, s.websocket_server_url, s.db_path) == ("gate-7", "wss://central.example:8765",
                                                                     tmp_path / "x.db")
    defaults = (s.edge_api_host, s.edge_api_port, s.detector, s.edge_image_quality)
    assert defaults == ("127.0.0.1", 8000, "auto", 75)
    assert s.image_dir == tmp_path / "images"


def test_env_file_is_read_and_typos_are_errors(tmp_path):
    """An env file sets the same names; an unknown name in it is refused, naming it."""
    good = tmp_path / ".env.production"
    good.write_text("CHECKPOINT_ID=7\nCHECKPOINT_TOKEN=abc\nEDGE_WINDOW=16\n")
    s = load_settings(good)
    assert s.checkpoint_token.get_secret_value() == "abc" and s.edge_window == 16
    bad = tmp_path / ".env.bad"
    bad.write_text("CHECKPOINT_ID=7\nEDGE_WINDOWS=16\n")
    with pytest.raises(ConfigError, match="EDGE_WINDOWS: unknown setting"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.env")


@pytest.mark.parametrize("overrides, message", [
    ({}, "CHECKPOINT_ID: Field required"),
    ({"checkpoint_id": "bad id!"}, "CHECKPOINT_ID: must be 1-64"),
    ({"checkpoint_id": "1", "websocket_server_url": "http://x"}, "must start with ws://"),
    ({"checkpoint_id": "1", "detector": "gpu"}, "DETECTOR"),
    ({"checkpoint_id": "1", "edge_api_host": "0.0.0.0"}, "set EDGE_API_TOKEN"),
    ({"checkpoint_id": "1", "fleet_timezone": "Mars/Base"}, "unknown time zone"),
])
def test_bad_settings_name_the_variable(overrides, message):
    """Each invalid setting is reported with its variable name and what to do."""
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


def test_loopback_detection():
    """Only loopback addresses and 'localhost' count as local."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("pi.local")
    assert load_settings(checkpoint_id="1", edge_api_host="0.0.0.0", edge_api_token="t").api_requires_token
