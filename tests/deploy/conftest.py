"""Session fixtures: the test fleet booted once (`scripts/fleet-hosts up`) and deployed once.

Every test of the systemd-host suite inspects that one fleet; tests that change it put it back.
FLEET_HOSTS_KEEP=1 leaves the fleet running afterwards for a post-mortem (`scripts/fleet-hosts
ssh fleet-edge-1`, then `scripts/fleet-hosts down`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.images import scene_jpeg

from .hosts import EDGES, Run, fleet_hosts, playbook, ssh, why_not_runnable

REAL_PLATES = Path(__file__).resolve().parents[2] / ".." / "shared" / "plates"
# One real photo per checkpoint, placed in its camera folder before the deploy.
PHOTOS = {EDGES[0]: "br_PJX5721.jpg", EDGES[1]: "br_NYY1710.jpg"}
CAMERA_DIR = "/srv/aicamera/frames"


@dataclass(frozen=True)
class Deployed:
    """The fleet after a first deploy and an identical second one."""

    controller_dir: Path
    first: Run
    second: Run
    plates: dict[str, str]  # edge host -> the plate in its camera folder ("" when synthetic)

    def playbook(self, *args: str, edge_serial: int | None = 2) -> Run:
        """Run deploy.yml again on this fleet."""
        return playbook(*args, controller_dir=self.controller_dir, edge_serial=edge_serial)


@pytest.fixture(scope="session")
def fleet() -> Iterator[None]:
    """The booted hosts: one central and two edges, each a systemd-nspawn container."""
    reason = why_not_runnable()
    if reason:
        pytest.skip(f"systemd-host deploy tests: {reason}")
    try:
        fleet_hosts("down")  # a fleet left over from an interrupted run
        fleet_hosts("up", timeout=900)
    except RuntimeError as exc:
        pytest.skip(f"systemd-host deploy tests: the fleet did not come up here:\n{exc}")
    yield
    if not os.environ.get("FLEET_HOSTS_KEEP"):
        fleet_hosts("down")


def _place_photos() -> dict[str, str]:
    """Put a real plate photo (or a synthetic scene without ../shared/plates) in each camera folder."""
    truth = {}
    if (REAL_PLATES / "manifest.csv").is_file():
        with (REAL_PLATES / "manifest.csv").open() as f:
            truth = {row["file"]: row["plate_text"] for row in csv.DictReader(f)}
    plates = {}
    for host, name in PHOTOS.items():
        photo = (REAL_PLATES / name).read_bytes() if name in truth else scene_jpeg()
        ssh(host, f"sudo mkdir -p {CAMERA_DIR} && sudo tee {CAMERA_DIR}/0001.jpg >/dev/null", stdin=photo)
        plates[host] = truth.get(name, "")
    return plates


@pytest.fixture(scope="session")
def deployed(fleet, tmp_path_factory) -> Deployed:
    """Deploy the fleet with the production playbook over SSH, then deploy again unchanged."""
    controller_dir = tmp_path_factory.mktemp("controller")
    plates = _place_photos()
    first = playbook(controller_dir=controller_dir)
    first.assert_ok()
    second = playbook(controller_dir=controller_dir)
    second.assert_ok()
    print(f"\ndeploy: {first.seconds:.1f} s, re-deploy: {second.seconds:.1f} s")
    return Deployed(controller_dir, first, second, plates)
