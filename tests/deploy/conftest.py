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
THAI_PLATES = Path(__file__).resolve().parents[2] / ".." / "shared" / "thai-plates"
# One real photo per checkpoint, placed in its camera folder before the deploy. The second edge's
# street photo carries a real Thai plate (a crop from the reader's held-out split) over its own
# plate: a deployed Pi must read Thai, province included.
PHOTOS = {EDGES[0]: "br_PJX5721.jpg", EDGES[1]: "br_NYY1710.jpg"}
THAI_CROP = {EDGES[1]: "th_00032.jpg"}  # จค4682 ชลบุรี
CAMERA_DIR = "/srv/aicamera/frames"


@dataclass(frozen=True)
class Deployed:
    """The fleet after a first deploy and an identical second one."""

    controller_dir: Path
    first: Run
    second: Run
    plates: dict[str, tuple[str, str]]  # edge host -> (plate, province) in its camera folder, ("", "") synthetic

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
        try:
            fleet_hosts("up", timeout=900)
        except RuntimeError:
            # Boots stalled here ("System is booting up": systemd-user-sessions failed at spawn)
            # while the hosts shared one cgroup; fleet-hosts now gives each its own. Should a boot
            # still fail (its message carries the host's boot report), try the fleet once more.
            fleet_hosts("down")
            fleet_hosts("up", timeout=900)
    except RuntimeError as exc:
        pytest.skip(f"systemd-host deploy tests: the fleet did not come up here (twice):\n{exc}")
    yield
    if not os.environ.get("FLEET_HOSTS_KEEP"):
        fleet_hosts("down")


def _place_photos() -> dict[str, tuple[str, str]]:
    """Put a real plate photo (or a synthetic scene without ../shared) in each camera folder."""
    import cv2

    from demo.render import plate_into_photo
    from edge_agent.vision.base import Box

    truth, boxes, thai = {}, {}, {}
    if (REAL_PLATES / "manifest.csv").is_file():
        with (REAL_PLATES / "manifest.csv").open() as f:
            truth = {row["file"]: row["plate_text"] for row in csv.DictReader(f)}
        with (REAL_PLATES / "bboxes.csv").open() as f:
            boxes = {row["file"]: Box(*(int(row[k]) for k in "xywh")) for row in csv.DictReader(f)}
    if (THAI_PLATES / "manifest.csv").is_file():
        with (THAI_PLATES / "manifest.csv").open(encoding="utf-8") as f:
            thai = {row["file"]: (row["plate_text"], row["province"]) for row in csv.DictReader(f)}
    plates = {}
    for host, name in PHOTOS.items():
        crop = THAI_CROP.get(host)
        if name not in truth:
            photo, plates[host] = scene_jpeg(), ("", "")
        elif crop is None:
            photo, plates[host] = (REAL_PLATES / name).read_bytes(), (truth[name], "")
        elif crop in thai:
            image = cv2.imread(str(REAL_PLATES / name))
            plate = cv2.imread(str(THAI_PLATES / "images" / crop))
            scene, _ = plate_into_photo(image, boxes[name], plate, aspect=2.24)
            photo, plates[host] = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes(), thai[crop]
        else:
            photo, plates[host] = scene_jpeg(), ("", "")
        ssh(host, f"sudo mkdir -p {CAMERA_DIR} && sudo tee {CAMERA_DIR}/0001.jpg >/dev/null", stdin=photo)
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
