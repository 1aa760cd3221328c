"""``read-plates``: read plates from image files and print one JSON line per image.

    python -m edge_agent read-plates [--detector auto|hailo|cpu] IMAGE...
    python -m edge_agent.vision read-plates IMAGE...

Each line: ``{"file": ..., "plates": [{"text", "confidence", "box": [x, y, w, h], ...}]}``,
best read first; an unreadable file gives ``{"file": ..., "error": ...}`` and exit status 1.
Uses the same detector and reader as the live pipeline.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path

import cv2

from .base import VisionError
from .config import VisionSettings

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "file", "registration", "confidence", "province", "province_confidence", "vehicle_type", "box", "script", "region",
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m edge_agent read-plates",
        description="Read licence plates (Thai and Latin) from image files: registration, province, both "
        "confidences, vehicle type and box; one JSON object per image, or CSV rows with --format csv.",
        epilog="Environment: HAILO_HEF, HAILO_PLATE_CLASSES, PLATE_SCRIPTS, PLATE_REGIONS, OCR_THREADS "
        "(see docs/vision.md). Exit status: 0 all images read, 1 an image could not be opened, "
        "2 bad arguments or settings.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", type=Path, help="JPEG/PNG files to read")
    p.add_argument("--detector", choices=["auto", "hailo", "cpu"], help="plate detector (default: DETECTOR or auto)")
    p.add_argument("--regions", help="comma-separated Latin formats to use, e.g. US or SK,CZ (default: all)")
    p.add_argument(
        "--format", choices=["json", "csv"], default="json",
        help="json: one object per image (default); csv: one row per plate, with a header",
    )
    p.add_argument("--timing", action="store_true", help="add the seconds spent on each image")
    p.add_argument("--verbose", "-v", action="store_true", help="log what the reader decides")
    return p


def read_plates_main(argv: list[str]) -> int:
    """Run ``read-plates`` with ``argv`` (without the command name); returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    env = dict(os.environ)
    if args.detector:
        env["DETECTOR"] = args.detector
    if args.regions:
        env["PLATE_REGIONS"] = args.regions
    try:
        from .factory import build_recognizer

        recognizer = build_recognizer(VisionSettings.from_env(env))
    except VisionError as exc:
        print(f"read-plates: {exc}", file=sys.stderr)
        return 2
    status = 0
    out = csv.writer(sys.stdout, lineterminator="\n") if args.format == "csv" else None
    if out is not None:
        out.writerow(CSV_COLUMNS + (("seconds",) if args.timing else ()))
    for path in args.images:
        image = cv2.imread(str(path)) if path.is_file() else None
        if image is None:
            if out is not None:
                print(f"read-plates: {path}: cannot open or decode the image", file=sys.stderr)
            else:
                print(json.dumps({"file": str(path), "error": "cannot open or decode the image"}), flush=True)
            status = 1
            continue
        started = time.perf_counter()
        reads = recognizer.recognize(image)
        if out is not None:
            took = (round(time.perf_counter() - started, 3),) if args.timing else ()
            for r in reads:
                pc = "" if r.province_confidence is None else round(r.province_confidence, 3)
                box = " ".join(str(v) for v in r.box.as_list())
                row = (path, r.text, round(r.confidence, 3), r.province, pc, r.vehicle_type, box, r.script, r.region)
                out.writerow(row + took)
            sys.stdout.flush()
            continue
        line: dict[str, object] = {"file": str(path), "plates": [r.as_json() for r in reads]}
        if args.timing:
            line["seconds"] = round(time.perf_counter() - started, 3)
        print(json.dumps(line, ensure_ascii=False), flush=True)
    recognizer.close()
    return status
