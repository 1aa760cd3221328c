"""Edge vision: camera sources, plate detectors (Hailo, CPU), Thai + Latin plate reading.

The rest of the edge agent needs only :func:`build_vision` and
:class:`~edge_agent.vision.config.VisionSettings`; see ``docs/vision.md``.
"""

from __future__ import annotations

from ..events import EventSink, VisionService
from .config import VisionSettings


def build_vision(settings: VisionSettings, sink: EventSink) -> VisionService:
    """The camera + detection pipeline for ``settings``, reporting one event per vehicle to ``sink``.

    Nothing starts until ``start_camera``/``start_detection``; models load on the worker
    thread when detection first runs, so this returns at once.
    """
    from .pipeline import VisionPipeline

    return VisionPipeline(settings, sink)


__all__ = ["VisionSettings", "build_vision"]
