"""Resolving the paths rows name: the per-batch folder cache must agree with realpath, links included."""

from __future__ import annotations

import os

import pytest

from edge_agent.errors import ImageError
from edge_agent.files import Roots, read_image_file


@pytest.fixture
def tree(tmp_path):
    """An allowed folder with a file, a link to a folder outside, a link to a file outside, and '..' tricks."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    (allowed / "sub" / "a.jpg").write_bytes(b"inside")
    (outside / "secret.jpg").write_bytes(b"secret")
    (allowed / "away").symlink_to(outside, target_is_directory=True)
    (allowed / "sub" / "link.jpg").symlink_to(outside / "secret.jpg")
    return allowed, outside


def test_resolve_agrees_with_realpath_for_every_kind_of_path(tree):
    """Plain, through a linked folder, a linked file, '..' after a link, '.', doubled and relative paths."""
    allowed, _ = tree
    roots = Roots.of([allowed])
    paths = [allowed / "sub" / "a.jpg", allowed / "away" / "secret.jpg", allowed / "sub" / "link.jpg",
             f"{allowed}/away/../sub/a.jpg", f"{allowed}/sub/./a.jpg", f"{allowed}//sub/a.jpg",
             os.path.relpath(allowed / "sub" / "a.jpg")]
    for path in paths * 2:  # the second round hits the folder cache
        assert roots.resolve(path) == os.path.realpath(path), path


def test_files_reached_through_links_out_of_the_folders_are_refused(tree):
    """A linked folder or file leading outside is refused as outside; the file inside is read."""
    allowed, _ = tree
    roots = Roots.of([allowed])
    assert read_image_file(allowed / "sub" / "a.jpg", roots) == b"inside"
    for path in (allowed / "away" / "secret.jpg", allowed / "sub" / "link.jpg",
                 f"{allowed}/away/../../outside/secret.jpg"):
        with pytest.raises(ImageError, match="outside the allowed image folders"):
            read_image_file(path, roots)
