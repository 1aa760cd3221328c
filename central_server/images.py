"""Received images as files: ``IMAGE_DIR/YYYY/MM/DD/<checkpoint>/<uuid>.jpg``.

Files are written, then made durable before the row that names them is
committed, so an acknowledged detection never points at a missing or partial
file. One ``syncfs(2)`` per batch makes a whole batch durable (files and their
directory entries) for the price of one journal commit; a per-file
``fdatasync`` costs ~4x the wall time and twice the kernel CPU (measured in
bench/ingest.py's notes). Without syncfs (not Linux) each file is fdatasynced.
A batch whose commit fails removes the files it wrote once the database confirms
that no row names them (store.GroupCommitWriter._reconcile: a COMMIT may fail after
it took effect).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


def _load_syncfs():
    """libc's syncfs(2) (Linux), or None where it does not exist."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


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
        self._root = str(self.root)
        self._known_dirs: set[str] = set()

    def write(self, checkpoint_id: str, when: datetime, data: bytes) -> StoredImage:
        """Write one image; it is durable only after :meth:`sync`."""
        folder = f"{when:%Y/%m/%d}/{checkpoint_id}"
        if folder not in self._known_dirs:  # one mkdir per folder, not one failed mkdir per image
            os.makedirs(os.path.join(self._root, folder), exist_ok=True)
            self._known_dirs.add(folder)
        relative = f"{folder}/{os.urandom(16).hex()}.jpg"  # a random name, 8x cheaper than uuid4().hex
        fd = os.open(os.path.join(self._root, relative), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if _SYNCFS is None:
                os.fdatasync(fd)
        finally:
            os.close(fd)
        return StoredImage(relative, hashlib.sha256(data).hexdigest(), len(data))

    def sync(self, images: list[StoredImage]) -> None:
        """Make written images and their directory entries durable (raises OSError on failure)."""
        if not images:
            return
        if _SYNCFS is not None:
            fd = os.open(self.root, os.O_RDONLY)
            try:
                if _SYNCFS(fd) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"syncfs failed: {os.strerror(errno)}")
            finally:
                os.close(fd)
            return
        for directory in {(self.root / image.path).parent for image in images}:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def remove(self, images: list[StoredImage]) -> None:
        """Delete files that no stored row names (missing files are fine)."""
        for image in images:
            (self.root / image.path).unlink(missing_ok=True)
        self._known_dirs.clear()  # a failure may have been a deleted folder

    def path_of(self, relative: str) -> Path:
        """Absolute path of a stored image."""
        return self.root / relative
