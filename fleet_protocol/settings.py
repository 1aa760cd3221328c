"""The one settings mechanism every process uses (central, dashboard, edge): a strict base class.

A process's settings class derives from :class:`FleetSettings` (pydantic-settings) and is built
once, in ``__main__``, with :meth:`FleetSettings.load`:

* names are environment variables (case-insensitive); the real environment wins over the env file;
* in an env file every name must be a setting of the process (or in ``also_known``, e.g. the
  vision package's names, or :data:`PROCESS_ENV_NAMES`): a typo is an error, never ignored;
* every problem is reported as ``NAME: message``, naming the environment variable to fix;
* :func:`settings_help` lists every variable with its default and description (``--help-settings``).

Deployed services get their env file through systemd's ``LoadCredential=`` and load it with
``--env-file``, so the same checks run under systemd as on a terminal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, SettingsConfigDict

# Variables that configure the process or its libraries rather than the app: allowed in any env
# file, and exported to the process environment (where OpenSSL and friends read them) unless the
# environment already sets them.
PROCESS_ENV_NAMES: dict[str, str] = {
    "SSL_CERT_FILE": "CA certificates file OpenSSL verifies servers with (a fleet's own CA)",
    "SSL_CERT_DIR": "CA certificates directory OpenSSL verifies servers with",
    "TZ": "time zone of the process's local time (logs)",
}


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each environment variable to fix."""


class FleetSettings(BaseSettings):
    """Strict base: frozen, case-insensitive names, unknown names in env files are errors."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, case_sensitive=False, env_file=None)

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """The environment variable of every field (upper case)."""
        return frozenset(name.upper() for name in cls.model_fields)

    @classmethod
    def load(cls, env_file: Path | None = None, also_known: Iterable[str] = (),
             environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build from ``environ`` (default: the process environment) over ``env_file``.

        ``overrides`` win over both. Raises :class:`SettingsError` for a missing file, an unknown
        name in the file, or an invalid value.
        """
        environ = os.environ if environ is None else environ
        values = read_env_file(env_file, cls.env_names() | {n.upper() for n in also_known})
        export_process_env(values, environ)
        names, present = cls.env_names(), {k.upper() for k in environ}
        kwargs = {k.lower(): v for k, v in values.items() if k.upper() in names and k.upper() not in present}
        if environ is not os.environ:  # pydantic-settings reads os.environ itself
            kwargs |= {k.lower(): v for k, v in environ.items() if k.upper() in names}
        try:
            return cls(**{**kwargs, **overrides})
        except ValidationError as exc:
            raise SettingsError(describe_errors(exc)) from None


def read_env_file(env_file: Path | None, known: Iterable[str]) -> dict[str, str]:
    """``NAME=value`` lines of ``env_file`` (python-dotenv syntax, systemd's quoting); {} for None.

    Raises :class:`SettingsError` when the file is missing or names something not in ``known``
    or :data:`PROCESS_ENV_NAMES`.
    """
    if env_file is None:
        return {}
    if not env_file.is_file():
        raise SettingsError(f"env file {env_file} does not exist")
    values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    allowed = {n.upper() for n in known} | set(PROCESS_ENV_NAMES)
    unknown = sorted(k for k in values if k.upper() not in allowed)
    if unknown:
        raise SettingsError("\n".join(f"{k}: unknown setting in {env_file} (typo?)" for k in unknown))
    return values


def export_process_env(values: Mapping[str, str], environ: Mapping[str, str]) -> None:
    """Put the file's :data:`PROCESS_ENV_NAMES` into the process environment unless set already."""
    for name in PROCESS_ENV_NAMES:
        if name in values and name not in environ and name not in os.environ:
            os.environ[name] = values[name]


def describe_errors(exc: ValidationError, names: Mapping[str, str] | None = None) -> str:
    """One ``NAME: message`` line per problem; ``names`` maps field names to other variable names."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        name = (names or {}).get(field, field.upper())
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (typo?)"
        lines.append(f"{name}: {message}")
    return "\n".join(lines)


def settings_help(*models: tuple[str, type[BaseModel], Mapping[str, str] | None]) -> str:
    """A table of every variable: name, default, description, for each ``(title, model, names)``.

    ``names`` maps field names to variable names for models whose fields are not named after
    their variables (the vision settings; fields it leaves out are not listed); None means every
    field, named in upper case.
    """
    lines = []
    for title, model, names in models:
        lines.append(f"{title}:")
        for field_name, field in model.model_fields.items():
            if names is not None and field_name not in names:
                continue  # not read from the environment
            name = (names or {}).get(field_name, field_name.upper())
            lines.append(f"  {name:<32} default {_default(field)!s:<24} {field.description or ''}".rstrip())
    lines.append("process (allowed in any env file, exported to the process):")
    lines += [f"  {name:<32} {'':<32} {text}" for name, text in PROCESS_ENV_NAMES.items()]
    return "\n".join(lines)


def _default(field) -> object:
    if field.default_factory is not None:
        return "(computed)"
    if field.default is PydanticUndefined:
        return "(required)"
    if field.default is None:
        return "(unset)"
    if isinstance(field.default, tuple):
        return ",".join(map(str, field.default))
    return field.default
