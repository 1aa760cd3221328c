"""A stand-in for HailoRT 4.x's ``hailo_platform`` for tests on machines without a Hailo.

Honours the calls, order and buffer rules of the real async API (``VDevice`` →
``create_infer_model`` → ``configure`` → ``create_bindings`` → ``run_async`` →
``wait``): input buffers must be contiguous uint8 of the exact NHWC shape, output
buffers must be set with the stream's shape, everything must happen in the
process that created the VDevice. A "HEF" here is a JSON file describing the
network's input and outputs. What the network "sees" is decided by the test
through :data:`SCENARIO`. NMS outputs are written in the ``HAILO_NMS_BY_CLASS``
float32 layout (per class: count, then count × (y_min, x_min, y_max, x_max, score))
and ``get_buffer()`` parses them into one (n, 5) array per class, as HailoRT does.

Never installed: tests put this folder on ``sys.path`` for themselves.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class HailoRTException(Exception):
    """The real module's base exception."""


class FormatType(enum.Enum):
    AUTO = 0
    UINT8 = 1
    UINT16 = 2
    FLOAT32 = 3


class HailoSchedulingAlgorithm(enum.Enum):
    NONE = 0
    ROUND_ROBIN = 1


@dataclass
class Scenario:
    """What the fake device does: devices present, outputs per input, failures."""

    devices: list[str] = field(default_factory=lambda: ["0000:01:00.0"])
    outputs: Callable[[np.ndarray], dict[str, Any]] | None = None
    fail_runs: int = 0
    inputs: list[np.ndarray] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


SCENARIO = Scenario()


def reset() -> Scenario:
    """Start a fresh scenario (one per test)."""
    global SCENARIO
    SCENARIO = Scenario()
    return SCENARIO


class Device:
    @staticmethod
    def scan() -> list[str]:
        return list(SCENARIO.devices)


class _Params:
    def __init__(self) -> None:
        self.scheduling_algorithm = HailoSchedulingAlgorithm.ROUND_ROBIN
        self.group_id = "SHARED"


class _Stream:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.name = spec["name"]
        self.kind = spec.get("kind", "raw")
        self.classes = int(spec.get("classes", 1))
        self.max_boxes = int(spec.get("max_boxes", 100))
        if self.kind == "nms_by_class":
            self.shape = (self.classes * (1 + 5 * self.max_boxes),)
        else:
            self.shape = tuple(spec["shape"])
        self.format_type = FormatType.AUTO

    def set_format_type(self, fmt: FormatType) -> None:
        self.format_type = fmt


class InferModel:
    def __init__(self, vdevice: VDevice, hef: dict[str, Any]) -> None:
        self._vdevice = vdevice
        self._input = _Stream({"name": "input_layer1", "shape": hef["input"]})
        self._outputs = {o["name"]: _Stream(o) for o in hef["outputs"]}
        self.batch_size = 1

    @property
    def input_names(self) -> list[str]:
        return [self._input.name]

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def set_batch_size(self, n: int) -> None:
        self.batch_size = n

    def input(self, name: str | None = None) -> _Stream:
        return self._input

    def output(self, name: str | None = None) -> _Stream:
        if name is None:
            if len(self._outputs) != 1:
                raise HailoRTException("model has several outputs: pass a name")
            return next(iter(self._outputs.values()))
        return self._outputs[name]

    def configure(self) -> ConfiguredInferModel:
        self._vdevice._check()
        SCENARIO.calls.append("configure")
        return ConfiguredInferModel(self)


class _Binding:
    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.buffer: np.ndarray | None = None

    def set_buffer(self, buffer: np.ndarray) -> None:
        if not isinstance(buffer, np.ndarray) or not buffer.flags.c_contiguous:
            raise HailoRTException(f"{self.stream.name}: buffer must be a contiguous numpy array")
        if tuple(buffer.shape) != tuple(self.stream.shape):
            raise HailoRTException(f"{self.stream.name}: shape {buffer.shape} != {self.stream.shape}")
        self.buffer = buffer

    def get_buffer(self) -> Any:
        if self.buffer is None:
            raise HailoRTException(f"{self.stream.name}: no buffer set")
        if self.stream.kind == "nms_by_class":
            per_class, out = len(self.buffer) // self.stream.classes, []
            for c in range(self.stream.classes):
                chunk = self.buffer[c * per_class : (c + 1) * per_class]
                out.append(np.array(chunk[1 : 1 + 5 * int(chunk[0])]).reshape(-1, 5))
            return out
        return self.buffer


class Bindings:
    def __init__(self, model: InferModel) -> None:
        self._input = _Binding(model._input)
        self._outputs = {n: _Binding(s) for n, s in model._outputs.items()}

    def input(self, name: str | None = None) -> _Binding:
        return self._input

    def output(self, name: str | None = None) -> _Binding:
        return self._outputs[name] if name is not None else next(iter(self._outputs.values()))


class AsyncInferJob:
    def __init__(self, error: Exception | None) -> None:
        self._error = error

    def wait(self, timeout_ms: int) -> None:
        if self._error is not None:
            raise self._error


class ConfiguredInferModel:
    def __init__(self, model: InferModel) -> None:
        self._model = model
        self._ready = False
        self.released = False

    def __enter__(self) -> ConfiguredInferModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.released = True
        SCENARIO.calls.append("release_configured")

    def create_bindings(self, input_buffers: dict | None = None, output_buffers: dict | None = None) -> Bindings:
        return Bindings(self._model)

    def wait_for_async_ready(self, timeout_ms: int = 1000, frames_count: int = 1) -> None:
        self._ready = True

    def run_async(self, bindings: list[Bindings], callback: Callable[..., None] | None = None) -> AsyncInferJob:
        self._model._vdevice._check()
        if not self._ready:
            raise HailoRTException("run_async before wait_for_async_ready")
        if SCENARIO.fail_runs > 0:
            SCENARIO.fail_runs -= 1
            return AsyncInferJob(HailoRTException("HAILO_TIMEOUT"))
        for b in bindings:
            self._run_one(b)
        if callback is not None:
            callback(completion_info=None)
        return AsyncInferJob(None)

    def _run_one(self, b: Bindings) -> None:
        buf = b._input.buffer
        if buf is None or buf.dtype != np.uint8:
            raise HailoRTException("input buffer missing or not uint8")
        SCENARIO.inputs.append(buf.copy())
        results = SCENARIO.outputs(buf) if SCENARIO.outputs else {}
        for name, out in b._outputs.items():
            if out.buffer is None:
                raise HailoRTException(f"output {name}: no buffer set")
            value = results.get(name)
            if out.stream.kind == "nms_by_class":
                _write_nms(out.buffer, out.stream, value or [])
            else:
                out.buffer[...] = 0 if value is None else value


def _write_nms(buffer: np.ndarray, stream: _Stream, per_class: list[np.ndarray]) -> None:
    buffer[...] = 0
    per = len(buffer) // stream.classes
    for c, boxes in enumerate(per_class):
        boxes = np.asarray(boxes, np.float32).reshape(-1, 5)[: stream.max_boxes]
        buffer[c * per] = len(boxes)
        buffer[c * per + 1 : c * per + 1 + boxes.size] = boxes.ravel()


class VDevice:
    def __init__(self, params: _Params | None = None) -> None:
        if not SCENARIO.devices:
            raise HailoRTException("HAILO_OUT_OF_PHYSICAL_DEVICES")
        self._pid = os.getpid()
        self._released = False
        SCENARIO.calls.append("vdevice")

    @staticmethod
    def create_params() -> _Params:
        return _Params()

    def _check(self) -> None:
        if self._released:
            raise HailoRTException("VDevice was released")
        if os.getpid() != self._pid:
            raise HailoRTException("VDevice used from another process")

    def create_infer_model(self, hef_path: str) -> InferModel:
        self._check()
        with open(hef_path, encoding="utf-8") as fh:
            hef = json.load(fh)
        SCENARIO.calls.append("create_infer_model")
        return InferModel(self, hef)

    def release(self) -> None:
        self._released = True
        SCENARIO.calls.append("release_vdevice")

    def __enter__(self) -> VDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
