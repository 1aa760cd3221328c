"""``python -m edge_agent.vision read-plates IMAGE...``: same as ``python -m edge_agent read-plates``."""

from __future__ import annotations

import sys

from .cli import read_plates_main

USAGE = "usage: python -m edge_agent.vision read-plates [--detector auto|hailo|cpu] IMAGE...\n"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE + "  read-plates   read plates from image files, one JSON line per image\n")
        return 0 if argv else 2
    if argv[0] != "read-plates":
        sys.stderr.write(f"unknown command {argv[0]!r}\n" + USAGE)
        return 2
    return read_plates_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
