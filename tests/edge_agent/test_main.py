"""The command line: help, dispatch of read-plates to the vision package, clear errors."""

from __future__ import annotations

import sys
import types

import pytest

from edge_agent.__main__ import main


def test_help_lists_commands(capsys):
    """--help names the agent, doctor and read-plates."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and all(w in out for w in ("doctor", "read-plates", "--env-file"))


def test_read_plates_dispatches_all_following_arguments(monkeypatch):
    """Everything after read-plates is handed to edge_agent.vision.cli.read_plates_main."""
    seen: list[list[str]] = []
    fake = types.ModuleType("edge_agent.vision.cli")
    fake.read_plates_main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "edge_agent.vision", types.ModuleType("edge_agent.vision"))
    monkeypatch.setitem(sys.modules, "edge_agent.vision.cli", fake)
    assert main(["read-plates", "a.jpg", "--json", "--help"]) == 3
    assert seen == [["a.jpg", "--json", "--help"]]


def test_help_settings_lists_every_variable_with_its_default(capsys):
    """--help-settings lists the agent's, the vision pipeline's and the process's variables."""
    assert main(["--help-settings"]) == 0
    out = capsys.readouterr().out
    assert "CHECKPOINT_ID" in out and "(required)" in out and "EDGE_RETENTION_DAYS" in out
    assert "PLATE_SCRIPTS" in out and "SSL_CERT_FILE" in out


def test_env_file_typo_and_ansibles_ca_line(tmp_path, capfd, monkeypatch):
    """A typo in the env file is refused by name; SSL_CERT_FILE (written by Ansible) is accepted."""
    monkeypatch.setenv("SSL_CERT_FILE", "/set/by/the/test")  # so loading does not export the file's
    env = tmp_path / "edge.env"
    env.write_text("CHECKPOINT_ID=1\nEDGE_RETENTON_DAYS=3\nSSL_CERT_FILE=/etc/ssl/ca.pem\n")
    assert main(["--env-file", str(env), "doctor"]) == 2
    assert "EDGE_RETENTON_DAYS: unknown setting" in capfd.readouterr().out
    from edge_agent.config import load_edge_settings

    env.write_text("CHECKPOINT_ID=1\nSSL_CERT_FILE=/etc/ssl/ca.pem\nPLATE_SCRIPTS=latin\n")
    edge = load_edge_settings(env, environ={})
    assert edge.agent.checkpoint_id == "1" and edge.vision.plate_scripts == ("latin",)


def test_bad_settings_exit_2_with_the_variable_named(monkeypatch, capsys):
    """Running with an invalid setting prints which variable to fix and exits 2."""
    monkeypatch.setenv("CHECKPOINT_ID", "1")
    monkeypatch.setenv("EDGE_API_PORT", "99999")
    assert main([]) == 2
    assert "EDGE_API_PORT" in capsys.readouterr().err


def test_missing_env_file_exits_2(tmp_path, capsys):
    """A named env file that does not exist is an error, not silently ignored."""
    assert main(["--env-file", str(tmp_path / "nope.env")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_edge_vision_0_gives_a_relay_only_agent():
    """EDGE_VISION=0 builds no vision service and says why."""
    from edge_agent.agent import vision_loader
    from edge_agent.config import EdgeSettings, load_settings
    from edge_agent.vision.config import VisionSettings

    settings = load_settings(checkpoint_id="1", edge_vision=False)
    loader = vision_loader(EdgeSettings(settings, VisionSettings()))
    assert loader(settings, None) == (None, "disabled (EDGE_VISION=0)")
