"""Session fixtures: one real deploy of the test fleet that every deploy test inspects."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .fleet import BIN, REPO, Fleet, Run, ensure_wheelhouse


@dataclass(frozen=True)
class Deployed:
    """The fleet after a first deploy and an identical second one."""

    fleet: Fleet
    first: Run
    second: Run


def _require_tools() -> None:
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("ansible-playbook is not in the venv (pip install -r requirements/deploy.txt)")
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the release is built with git archive: needs git and a git checkout")


@pytest.fixture(scope="session")
def deployed(tmp_path_factory) -> Iterator[Deployed]:
    """Deploy the test inventory into a temp dir, then deploy again unchanged."""
    _require_tools()
    try:
        ensure_wheelhouse()
    except RuntimeError as exc:
        pytest.skip(f"no wheelhouse for the release venvs (the deploy would need PyPI): {exc}")
    fleet = Fleet(tmp_path_factory.mktemp("fleet"))
    first = fleet.playbook()
    first.assert_ok()
    second = fleet.playbook()
    second.assert_ok()
    print(f"\ndeploy: {first.seconds:.1f} s, re-deploy: {second.seconds:.1f} s")
    yield Deployed(fleet, first, second)
    # Three release venvs take ~1 GB; DEPLOY_TEST_KEEP=1 keeps them for a post-mortem.
    if not os.environ.get("DEPLOY_TEST_KEEP"):
        shutil.rmtree(fleet.test_dir, ignore_errors=True)
