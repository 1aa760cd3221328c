"""What views need besides the request, in flaskr's ``db.py`` role: settings, the engine, the live tail.

``create_app`` calls :func:`init_app`; views call :func:`fleet`. Views import
this module, never the package, so there is no import cycle between them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine

from .config import DashboardSettings
from .realtime import DatabaseTail


@dataclass(frozen=True)
class Fleet:
    """The dashboard's resources: settings, the engine, and the live tail (if it follows the database)."""

    settings: DashboardSettings
    engine: Engine
    tail: DatabaseTail | None


def init_app(app: Flask, fleet_: Fleet) -> None:
    """Attach the resources to ``app``."""
    app.extensions["fleet"] = fleet_


def fleet() -> Fleet:
    """The :class:`Fleet` of the current app."""
    return current_app.extensions["fleet"]
