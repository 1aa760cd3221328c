"""Two network namespaces joined by a veth pair: a private 'network' the scenario can cut.

Both ends live in namespaces this module creates (``chaos-c-*`` for the central,
``chaos-e-*`` for the edge), addressed from 10.231.N.0/30, so no traffic ever
leaves them. Needs root (or CAP_NET_ADMIN) and iproute2.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, or no iproute2)."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass(frozen=True)
class Link:
    """The two namespaces and their addresses."""

    central_ns: str
    edge_ns: str
    central_ip: str
    edge_ip: str
    edge_if: str

    def prefix(self, ns: str) -> list[str]:
        """Command prefix that runs a program inside ``ns``."""
        return ["ip", "netns", "exec", ns]

    def cut(self) -> None:
        """Partition: take the edge's interface down (packets are dropped, no RST is sent)."""
        _ip("-n", self.edge_ns, "link", "set", self.edge_if, "down")

    def heal(self) -> None:
        _ip("-n", self.edge_ns, "link", "set", self.edge_if, "up")


@contextlib.contextmanager
def veth_pair() -> Iterator[Link]:
    """Create the namespaces and link; delete them afterwards (also on failure)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise NetnsUnavailable("network namespaces need root and iproute2 (apt-get install iproute2)")
    tag = f"{os.getpid() % 100000}"
    subnet = 4 * (os.getpid() % 60)
    link = Link(f"chaos-c-{tag}", f"chaos-e-{tag}", f"10.231.{os.getpid() % 250}.{subnet + 1}",
                f"10.231.{os.getpid() % 250}.{subnet + 2}", f"ve{tag}")
    central_if = f"vc{tag}"
    try:
        for ns in (link.central_ns, link.edge_ns):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", central_if, "netns", link.central_ns, "type", "veth",
            "peer", "name", link.edge_if, "netns", link.edge_ns)
        for ns, ifname, address in ((link.central_ns, central_if, link.central_ip),
                                    (link.edge_ns, link.edge_if, link.edge_ip)):
            _ip("-n", ns, "addr", "add", f"{address}/30", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")
        yield link
    finally:
        for ns in (link.central_ns, link.edge_ns):
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", ns)
