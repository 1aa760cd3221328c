"""Gate benchmark: how often the confidence rule opens for a wrong read versus a right one, on real Thai plates.

    python -m bench.gate [--every N]

Reads every N-th real crop of ``../shared/thai-plates`` (default 25: about 290
plates; crops resized back from Roboflow's square to the plate's 2.24:1) with
the edge's reader (``build_recognizer``, CPU), then applies the gate rule
(``edge_agent.gate.decide``: listed, no tolerance, confidence >= X) for several
thresholds X under two allow-lists:

- *right opens*: every plate's own registration is listed; the share of plates
  whose read opens the gate (read exact and confident enough);
- *false opens per 1,000 unlisted plates*, (a) the list holds the other
  plates of the set (a misread must land on someone else's plate), and
  (b) the worst case: the list holds every registration one character away
  from this car's (a resident's plate differs from the visitor's by one
  character, so any one-character misread of the visitor would open).

Prints markdown tables. The figures depend on the reader; rerun after reader changes.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2

from edge_agent.gate import AllowEntry, decide
from edge_agent.vision.base import Box, PlateCandidate
from edge_agent.vision.config import VisionSettings
from edge_agent.vision.factory import build_recognizer
from fleet_protocol.platerule import normalise, one_edit_apart
from training.data import manifest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / ".." / "shared" / "thai-plates"
THRESHOLDS = (0, 50, 70, 80, 90, 95)
NOW = datetime.now(UTC)


def read_all(every: int) -> list[tuple[str, str, float]]:
    """(truth, read, confidence 0-100) for every ``every``-th labelled crop."""
    rows = [r for r in manifest(REAL) if r["plate_text"]][::every]
    recognizer = build_recognizer(VisionSettings(detector="cpu", ocr_threads=1))
    out = []
    started = time.monotonic()
    for row in rows:
        image = cv2.imread(str(REAL / "images" / row["file"]))
        image = cv2.resize(image, (448, 200))  # undo the square stretch (a Thai plate is about 2.24:1)
        reads = recognizer.reader.read(image, [PlateCandidate(Box(0, 0, 448, 200), 1.0)])
        best = reads[0] if reads else None
        out.append((normalise(row["plate_text"]), normalise(best.text) if best else "",
                    100 * best.confidence if best else 0.0))
    print(f"({len(out)} crops read in {time.monotonic() - started:.0f} s)\n")
    return out


def table(reads: list[tuple[str, str, float]]) -> None:
    plates = sorted({truth for truth, _, _ in reads})
    listed = [AllowEntry(p) for p in plates]
    print("| min confidence X | right opens (listed car) | false opens / 1,000 unlisted: list = other plates "
          "| worst case: list = every plate 1 character away | wrong reads that reach X |")
    print("|---|---|---|---|---|")
    for x in THRESHOLDS:
        right = sum(decide([AllowEntry(t)], r, "", c, x, NOW)[0] == "allowed" for t, r, c in reads)
        others = sum(r != t and decide([e for e in listed if e.pattern != t], r, "", c, x, NOW)[0] == "allowed"
                     for t, r, c in reads)
        neighbours = sum(r != t and c >= x and one_edit_apart(r, t) for t, r, c in reads)
        wrong = sum(bool(r) and r != t and c >= x for t, r, c in reads)
        n = len(reads)
        print(f"| {x} | {right}/{n} ({100 * right / n:.0f} %) | {1000 * others / n:.1f} | "
              f"{1000 * neighbours / n:.1f} | {wrong} |")


def main(argv: list[str] | None = None) -> None:
    argv = argv or []
    every = int(argv[argv.index("--every") + 1]) if "--every" in argv else 25
    if not (REAL / "manifest.csv").is_file():
        print(f"skipped: {REAL} is not here")
        return
    print("### Gate rule on real Thai plate crops (this branch's reader)\n")
    table(read_all(every))


if __name__ == "__main__":
    main(sys.argv[1:])
