"""The lock files the deploy installs from agree with requirements/*.txt and pin everything by hash."""

from __future__ import annotations

import re

import pytest

from .hosts import REPO, script_module

wheelhouse = script_module("wheelhouse")
PIN = re.compile(r"^([A-Za-z0-9_.\[\]-]+)==([^\s;\\]+)", re.M)


def _name(requirement: str) -> str:
    return re.sub(r"\[.*\]", "", requirement).lower().replace("_", "-")


@pytest.mark.parametrize("role", ["central", "edge"])
def test_lock_pins_every_requirement_at_its_version(role):
    """Each `name==version` of requirements/<role>.txt is in <role>.lock at that version (run `make lock`)."""
    wanted = {_name(n): v for n, v in PIN.findall((REPO / f"requirements/{role}.txt").read_text())}
    locked = {_name(n): v for n, v in PIN.findall((REPO / f"requirements/{role}.lock").read_text())}
    stale = {n: (v, locked.get(n)) for n, v in wanted.items() if locked.get(n) != v}
    assert not stale, f"requirements/{role}.lock is stale, run `make lock`: {stale}"


@pytest.mark.parametrize("role", ["central", "edge"])
def test_every_locked_package_has_hashes(role):
    """Every entry of the lock carries at least one sha256, so pip installs it in hash-checking mode."""
    entries = re.split(r"\n(?=[A-Za-z])", (REPO / f"requirements/{role}.lock").read_text().split("\n", 2)[2])
    bare = [e.split()[0] for e in entries if e.strip() and "--hash=sha256:" not in e]
    assert not bare


def test_wheelhouse_keeps_what_bookworm_python_needs_and_drops_windows_only_entries():
    """Markers are judged for CPython 3.11.x on Linux: async-timeout (3.11.2) stays, colorama goes."""
    lock = (b"async-timeout==5.0.1 ; python_full_version < '3.11.3' \\\n    --hash=sha256:aa\n"
            b"colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:bb\n"
            b"numpy==2.4.6 \\\n    --hash=sha256:cc\n")
    kept = wheelhouse.for_linux(lock, "aarch64").decode().splitlines()
    assert [line.split()[0] for line in kept] == ["async-timeout==5.0.1", "numpy==2.4.6"]
    assert all("--hash=sha256:" in line for line in kept)


def test_wheelhouse_tar_name_follows_the_lock_content(tmp_path):
    """The tar is named by lock, content hash and architecture: a changed lock gets a new tar."""
    first = wheelhouse.tar_path("edge", b"numpy==2.4.6\n", "aarch64", tmp_path)
    assert first.name.startswith("edge-") and first.name.endswith("-aarch64.tar")
    assert wheelhouse.tar_path("edge", b"numpy==2.4.7\n", "aarch64", tmp_path) != first
    assert "manylinux_2_17_aarch64" in wheelhouse.platforms("aarch64")
