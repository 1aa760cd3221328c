"""The trained Thai plate reader: one small CNN, two heads, run by ONNX Runtime.

Input: a plate crop (BGR, any size and aspect: it is resized to ``INPUT_W x INPUT_H``, so a
square-stretched Roboflow crop and a 2.24:1 crop look alike). Output:

* **line 1** by CTC over the plate's width: optional leading digit, one to three consonants,
  up to four digits, or the six digits of a commercial plate (``CHARSET``);
* **province** as one of the 77 names (``THAI_PROVINCES``) or "none", with its probability:
  a partly hidden province still comes out as the nearest valid name, scored.

This module owns the vocabulary and the preprocessing; ``training/`` imports both, so the
model and the code that runs it cannot drift apart. The model file carries the vocabulary
and input size in its metadata and they are checked at load time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fleet_protocol.provinces import THAI_PROVINCES
from fleet_protocol.vehicles import VehicleType

from .base import DetectorError
from .colour import UNSURE, PlateColours, vehicle_from_colours

CONSONANTS = "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ"
CHARSET = "0123456789" + CONSONANTS  # CTC class i+1 is CHARSET[i]; class 0 is the blank
PROVINCE_NONE = len(THAI_PROVINCES)  # the province head's last class: no province visible
INPUT_H, INPUT_W = 64, 160
MODEL_PATH = Path(__file__).with_name("models") / "thai_plate_reader.onnx"

_LINE1 = re.compile(rf"^(?:\d?[{CONSONANTS}]{{1,3}}\d{{1,4}}|\d{{6}})$")


def preprocess(crops: list[np.ndarray]) -> np.ndarray:
    """BGR crops -> float32 NCHW batch in [-1, 1], RGB order."""
    batch = np.empty((len(crops), 3, INPUT_H, INPUT_W), np.float32)
    for i, crop in enumerate(crops):
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        small = cv2.resize(crop, (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA)
        batch[i] = small[:, :, ::-1].transpose(2, 0, 1)
    return batch / 127.5 - 1.0


def valid_line1(text: str) -> bool:
    """Whether ``text`` has the shape of a Thai registration (line 1, no spaces)."""
    return bool(_LINE1.match(text))


def vehicle_type(text: str, colours: PlateColours = UNSURE, motorcycle: bool = False) -> str:
    """What the registration's format and the plate's colours say about the vehicle; "" when they
    do not say.

    Six digits (``70-4446``) are the commercial series (trucks, buses, vans for hire), whatever the
    colours. A consonant series is told apart by its colours (:mod:`.colour`): ``private`` (car),
    ``van``, ``pickup``, ``taxi``; "" without colour (an IR camera) or where they are unsure. A
    motorcycle plate's layout (three rows) says ``motorcycle``, whatever its colours.
    """
    if re.fullmatch(r"\d{6}", text):
        return VehicleType.COMMERCIAL.value
    if not valid_line1(text):
        return ""
    return VehicleType.MOTORCYCLE.value if motorcycle else vehicle_from_colours(colours)


@dataclass(frozen=True, slots=True)
class ThaiRead:
    """One plate crop read: registration (``1กข1234``) and province, each with its score 0..1."""

    text: str
    text_confidence: float
    province: str
    province_confidence: float

    @property
    def valid(self) -> bool:
        return valid_line1(self.text)


def decode(logits: np.ndarray, province_logits: np.ndarray) -> list[ThaiRead]:
    """Greedy CTC decoding of line 1 and the province argmax, batch-wise.

    ``logits``: (N, T, len(CHARSET)+1); ``province_logits``: (N, len(THAI_PROVINCES)+1).
    A registration's confidence is the product of its characters' best probabilities (a
    missing or doubtful character pulls it down), the province's the softmax probability.
    """
    probs = _softmax(logits)
    pprobs = _softmax(province_logits)
    reads = []
    for seq, prov in zip(probs, pprobs, strict=True):
        best = seq.argmax(axis=1)
        text, conf, prev = [], 1.0, 0
        for t, cls in enumerate(best):
            if cls != 0 and cls != prev:
                text.append(CHARSET[cls - 1])
                conf *= float(seq[t, cls])
            prev = cls
        p = int(prov.argmax())
        name = THAI_PROVINCES[p] if p != PROVINCE_NONE else ""
        reads.append(ThaiRead("".join(text), conf if text else 0.0, name, float(prov[p])))
    return reads


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def metadata() -> dict[str, str]:
    """What a model file must say about itself to be run by this code."""
    return {
        "charset": CHARSET,
        "provinces": json.dumps(THAI_PROVINCES, ensure_ascii=False),
        "input": f"{INPUT_H}x{INPUT_W}",
    }


class ThaiPlateModel:
    """The shipped ONNX model behind a ``read(crops)`` call. Loads lazily, one session."""

    def __init__(self, path: Path = MODEL_PATH, threads: int = 1) -> None:
        self.path = Path(path)
        self.threads = threads
        self._session: Any = None

    def _load(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            if not self.path.is_file():
                raise DetectorError(f"Thai plate model not found: {self.path}")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
            found = session.get_modelmeta().custom_metadata_map
            for key, want in metadata().items():
                if found.get(key) != want:
                    raise DetectorError(
                        f"{self.path} was trained for a different {key!r} than this code reads; "
                        "retrain it (make train-reader) or use the matching release"
                    )
            self._session = session
        return self._session

    def read(self, crops: list[np.ndarray]) -> list[ThaiRead]:
        """Reads of ``crops`` (BGR plate crops), in order. An empty crop reads as nothing."""
        if not crops:
            return []
        session = self._load()
        ok = [i for i, c in enumerate(crops) if c.size and min(c.shape[:2]) >= 4]
        reads = [ThaiRead("", 0.0, "", 0.0)] * len(crops)
        if ok:
            logits, prov = session.run(None, {"image": preprocess([crops[i] for i in ok])})
            for i, read in zip(ok, decode(logits, prov), strict=True):
                reads[i] = read
        return reads
