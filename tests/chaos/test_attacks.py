"""The attack scenario of ``make chaos``: every row of the review's attacks passes against one real stack."""

from __future__ import annotations

import pytest

from chaos.attacks import run, table

pytestmark = pytest.mark.slow


def test_every_attack_is_refused(tmp_path):
    """Socket floods, open redirect, replayed cookie, slowloris, guessing, rebinding, FIFO rows... all held."""
    results = run(tmp_path)
    assert all(r.ok for r in results), table(results)
