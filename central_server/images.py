"""Received images as files: ``IMAGE_DIR/YYYY/MM/DD/<checkpoint>/<uuid>.jpg``.

Files are written and fsynced before the row that names them is committed, so
an acknowledged detection never points at a missing or partial file. A batch
whose commit fails removes the files it wrote (no orphans).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class StoredImage:
    """Where an image went: ``path`` is relative to the image directory."""

    path: str
    sha256: str
    size: int


class ImageStore:
    """Writes JPEG bytes durably under ``root``, sharded by UTC date and checkpoint."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def write(self, checkpoint_id: str, when: datetime, data: bytes) -> StoredImage:
        """Write and fsync one image; its directory is fsynced by :meth:`sync_dirs`."""
        relative = Path(when.strftime("%Y/%m/%d"), checkpoint_id, f"{uuid.uuid4().hex}.jpg")
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            os.write(fd, data)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        return StoredImage(relative.as_posix(), hashlib.sha256(data).hexdigest(), len(data))

    def sync_dirs(self, images: list[StoredImage]) -> None:
        """fsync each directory that gained a file, so the new names survive power loss."""
        for directory in {(self.root / image.path).parent for image in images}:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def remove(self, images: list[StoredImage]) -> None:
        """Delete files of a batch that was not committed (missing files are fine)."""
        for image in images:
            (self.root / image.path).unlink(missing_ok=True)

    def path_of(self, relative: str) -> Path:
        """Absolute path of a stored image."""
        return self.root / relative
