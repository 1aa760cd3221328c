"""Reading image files that rows name, without trusting the rows.

Rows in the outbox may come from outside programs, so a path in a row is data, not a
capability: :func:`read_image_file` reads it only if it is a regular file (never a FIFO,
device or directory), reached without following a symbolic link in its last component,
inside one of the allowed folders (after resolving every link), and no larger than the cap.
Opening is non-blocking, so a FIFO cannot stall the caller.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .errors import ImageError

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # no camera JPEG comes near this; a bigger file is not a photo


class Roots(tuple):
    """Allowed folders with every symbolic link resolved, once, and a cache of the folders files sit in.

    A caller reading many files makes one per batch: each ``realpath`` costs one ``lstat`` per path
    component, and a batch's files share a few folders. Make a new one per batch so a folder that is
    replaced (by a link, say) is resolved afresh.
    """

    @classmethod
    def of(cls, folders: Iterable[str | Path]) -> Roots:
        return folders if isinstance(folders, Roots) else cls(os.path.realpath(f).rstrip(os.sep) or os.sep
                                                              for f in folders)

    def contain(self, real: str) -> bool:
        """True when the resolved path ``real`` is one of the folders or lies inside one."""
        return any(real == root or real.startswith(root if root == os.sep else root + os.sep) for root in self)

    def resolve(self, path: str | Path) -> str:
        """``os.path.realpath(path)``, with the folder part resolved once per folder.

        Only for an absolute path without ``.``/``..`` components whose last component is not a
        link; anything else is resolved in full.
        """
        text = os.fspath(path)
        head, tail = os.path.split(text)
        if not os.path.isabs(text) or tail in ("", ".", "..") or "/./" in head + "/" or "/../" in head + "/" \
                or os.path.islink(text):
            return os.path.realpath(text)
        folders = self.__dict__.setdefault("_folders", {})
        real = folders.get(head)
        if real is None:
            real = folders[head] = os.path.realpath(head)
        return os.path.join(real, tail)


def inside(path: str | Path, folders: Iterable[str | Path]) -> bool:
    """True when ``path``, with every symbolic link resolved, lies inside one of ``folders`` (or :class:`Roots`)."""
    roots = Roots.of(folders)
    return roots.contain(roots.resolve(path))


def read_image_file(path: str | Path, folders: Iterable[str | Path], max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of the regular file at ``path``; :class:`ImageError` (or OSError) when it may not be read."""
    if not inside(path, folders):
        raise ImageError(f"{path} is outside the allowed image folders")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{path} is not a regular file")
        if info.st_size > max_bytes:
            raise ImageError(f"{path} is {info.st_size} bytes; the limit is {max_bytes}")
        data = os.read(fd, max_bytes + 1)
        while len(data) <= max_bytes:
            more = os.read(fd, max_bytes + 1 - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ImageError(f"{path} grew past {max_bytes} bytes while being read")
    return data
