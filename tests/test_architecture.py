"""The whiteboard, checked: which top-level parts may import which (docs/architecture.md, "Parts and arrows").

Every ``import`` and ``from ... import`` in every module of a part is read with
``ast`` (function-local imports included), so a new arrow cannot sneak in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("fleet_protocol", "fleet_store", "central_server", "dashboard", "edge_agent")
HARNESS = ("bench", "chaos", "demo", "training", "tests")
# part -> the parts it may import (besides itself, the standard library and third-party packages)
ALLOWED = {
    "fleet_protocol": set(),
    "fleet_store": {"fleet_protocol"},
    "central_server": {"fleet_protocol", "fleet_store"},
    "dashboard": {"fleet_protocol", "fleet_store"},
    "edge_agent": {"fleet_protocol"},
}


def imported_parts(package: str) -> dict[str, set[str]]:
    """For each module of ``package``: the top-level parts of this repository it imports."""
    ours = set(PRODUCT) | set(HARNESS)
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        if "fake_" in str(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = (names & ours) - {package}
    return found


@pytest.mark.parametrize("package", PRODUCT)
def test_product_parts_import_only_what_the_whiteboard_allows(package):
    """No part reaches sideways or up: the dashboard never imports the ingest, the edge never the store, ..."""
    broken = {module: sorted(parts - ALLOWED[package]) for module, parts in imported_parts(package).items()
              if parts - ALLOWED[package]}
    assert broken == {}


def test_the_product_never_imports_a_harness():
    """bench/, chaos/, demo/, training/ and tests/ may use the product; the product never uses them."""
    for package in PRODUCT:
        for module, parts in imported_parts(package).items():
            assert not parts & set(HARNESS), (module, parts & set(HARNESS))
