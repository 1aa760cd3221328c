"""The one settings mechanism: strict env files, the environment wins, errors name the variable."""

from __future__ import annotations

import os

import pytest
from pydantic import Field

from fleet_protocol.settings import FleetSettings, SettingsError, settings_help


class Sample(FleetSettings):
    """A process's settings, as each package writes them."""

    sample_port: int = Field(8000, ge=1, le=65535, description="a port")
    sample_name: str = Field(description="a required name")


def test_env_file_values_load_and_the_environment_wins(tmp_path):
    """Values come from the file unless the environment sets the same name (any case)."""
    env = tmp_path / "x.env"
    env.write_text("SAMPLE_PORT=9000\nsample_name='from file'\n")
    assert Sample.load(env, environ={}).sample_port == 9000
    loaded = Sample.load(env, environ={"sample_port": "9100"})
    assert (loaded.sample_port, loaded.sample_name) == (9100, "from file")


def test_unknown_name_in_the_file_is_an_error_naming_it(tmp_path):
    """A typo in the file is refused with its name and the file; also_known names are accepted."""
    env = tmp_path / "x.env"
    env.write_text("SAMPLE_NAME=a\nSAMPLE_PROT=1\n")
    with pytest.raises(SettingsError, match=r"SAMPLE_PROT: unknown setting in .*x\.env \(typo\?\)"):
        Sample.load(env, environ={})
    assert Sample.load(env, also_known={"SAMPLE_PROT"}, environ={}).sample_name == "a"


def test_bad_and_missing_values_name_the_environment_variable(tmp_path):
    """Each problem is one `NAME: message` line; a missing env file is an error too."""
    with pytest.raises(SettingsError) as caught:
        Sample.load(environ={"SAMPLE_PORT": "0"})
    assert str(caught.value).splitlines() == ["SAMPLE_PORT: Input should be greater than or equal to 1",
                                              "SAMPLE_NAME: Field required"]
    with pytest.raises(SettingsError, match="does not exist"):
        Sample.load(tmp_path / "missing.env", environ={})


def test_process_variables_are_allowed_and_exported(tmp_path, monkeypatch):
    """SSL_CERT_FILE in a file is accepted and exported to the process unless already set."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    env = tmp_path / "x.env"
    env.write_text("SAMPLE_NAME=a\nSSL_CERT_FILE=/etc/fleet/ca.pem\n")
    Sample.load(env, environ={})
    assert os.environ["SSL_CERT_FILE"] == "/etc/fleet/ca.pem"


def test_help_lists_every_variable_with_default_and_description():
    """settings_help shows each variable, its default (or that it is required) and its description."""
    text = settings_help(("sample", Sample, None))
    assert "SAMPLE_PORT" in text and "default 8000" in text and "a port" in text
    assert "SAMPLE_NAME" in text and "(required)" in text and "SSL_CERT_FILE" in text
