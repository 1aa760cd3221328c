"""fleet_store.imagefiles: a row's image path never reaches outside IMAGE_DIR, for reading or removal."""

from __future__ import annotations

import logging

from fleet_store.imagefiles import remove_stored_images, stored_image


def test_a_stored_path_resolves_only_inside_the_image_dir(tmp_path):
    images, outside = tmp_path / "images", tmp_path / "secret.jpg"
    (images / "2026/01/02/cp1").mkdir(parents=True)
    (images / "2026/01/02/cp1/a.jpg").write_bytes(b"jpeg")
    outside.write_bytes(b"not yours")
    (images / "link.jpg").symlink_to(outside)
    assert stored_image(images, "2026/01/02/cp1/a.jpg") == (images / "2026/01/02/cp1/a.jpg").resolve()
    for bad in ("../secret.jpg", str(outside), "link.jpg", "2026/01/02/cp1", "missing.jpg", "", None):
        assert stored_image(images, bad) is None, bad


def test_removal_refuses_paths_outside_and_tolerates_missing_files(tmp_path, caplog):
    images, outside = tmp_path / "images", tmp_path / "secret.jpg"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"jpeg")
    outside.write_bytes(b"not yours")
    with caplog.at_level(logging.WARNING):
        removed = remove_stored_images(images, ["a.jpg", "gone.jpg", "../secret.jpg", str(outside)], "retention")
    assert removed == 1 and not (images / "a.jpg").exists() and outside.read_bytes() == b"not yours"
    assert caplog.text.count("retention: refusing to delete") == 2
