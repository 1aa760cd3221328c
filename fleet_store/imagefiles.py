"""Stored image files: the one place a row's image path becomes a file, and a file is removed.

A row names its pictures by a path relative to ``IMAGE_DIR``. That path is data, so it is resolved
here and refused when it would reach outside the image directory (``..``, an absolute path, a
link out): the dashboard serving an image, the PDPA export and erasure, the retention job and the
labelled-set export all go through these two functions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def stored_image(image_dir: Path, stored: str | None) -> Path | None:
    """The file a row's image path names, if it exists and lies inside ``image_dir``; else None."""
    if not stored:
        return None
    root = Path(image_dir).resolve()
    target = (root / stored).resolve()
    return target if target.is_relative_to(root) and target.is_file() else None


def remove_stored_images(image_dir: Path, stored: Iterable[str], why: str) -> int:
    """Unlink each stored image inside ``image_dir``; return how many went.

    A missing file is fine (already gone); a path outside the image directory is refused with a
    warning naming ``why`` (e.g. "retention"); any other failure raises.
    """
    root, removed = Path(image_dir).resolve(), 0
    for relative in stored:
        target = (root / relative).resolve()
        if not target.is_relative_to(root):  # a stored path must never reach outside IMAGE_DIR
            log.warning("%s: refusing to delete %s (outside the image directory)", why, relative)
            continue
        try:
            os.unlink(target)
            removed += 1
        except FileNotFoundError:
            pass
    return removed
