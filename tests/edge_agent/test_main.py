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


def test_read_plates_without_vision_package_is_a_clear_error(monkeypatch, capsys):
    """With no vision package, read-plates says so and exits 2."""
    monkeypatch.setitem(sys.modules, "edge_agent.vision", None)
    assert main(["read-plates", "x.jpg"]) == 2
    assert "needs the vision package" in capsys.readouterr().err


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
    from edge_agent.__main__ import vision_loader
    from edge_agent.config import load_settings

    settings = load_settings(checkpoint_id="1", edge_vision=False)
    assert vision_loader(settings, None)(settings, None) == (None, "disabled (EDGE_VISION=0)")
