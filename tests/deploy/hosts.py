"""The test fleet's hosts from the operator's side: `scripts/fleet-hosts`, SSH, probes, the playbook.

The host names and addresses come from the script itself (one source); `inventory/systemd-test`
is checked against them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPT = REPO / "scripts" / "fleet-hosts"


def script_module(name: str):
    """``scripts/<name>`` (a Python script without .py) loaded as a module."""
    module_name = name.replace("-", "_")
    loader = SourceFileLoader(module_name, str(REPO / "scripts" / name))
    module = module_from_spec(spec_from_loader(module_name, loader))
    sys.modules[module_name] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


script = script_module("fleet-hosts")
CENTRAL, EDGE_1, EDGE_2 = (h.name for h in script.HOSTS)
EDGES = (EDGE_1, EDGE_2)
HOSTS = (CENTRAL, *EDGES)
ADDRESS = {h.name: h.address for h in (*script.HOSTS, script.PROBE)}
OUTSIDE = script.PROBE.name
EDGE_API_TOKEN = "test-edge-api-token"  # inventory/systemd-test/group_vars/edge.yml
_RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def why_not_runnable() -> str | None:
    """Why this machine cannot run the fleet (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts, systemd-nspawn)"
    for tool in ("systemd-nspawn", "debootstrap", "ip", "ssh", "ssh-keygen", "git"):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            return f"{tool} is missing (apt-get install systemd-container debootstrap iproute2 openssh-client git)"
    if not (BIN / "ansible-playbook").exists():
        return "ansible-playbook is not in the venv (pip install -r requirements/deploy.txt)"
    return None


def fleet_hosts(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``scripts/fleet-hosts ARGS``; raise with its output when it fails."""
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"fleet-hosts {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def ssh(host: str, command: str, check: bool = True, timeout: float = 120,
        stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a shell ``command`` on ``host`` as the deploy user over SSH (prefix sudo as needed)."""
    cmd = script.ssh_command(script.BY_NAME[host], command)
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {command} -> {proc.returncode}\n"
                             f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")
    return proc


def out(host: str, command: str) -> str:
    """``command``'s standard output on ``host``, stripped."""
    return ssh(host, command).stdout.decode().strip()


def probe(source: str, host: str, port: int) -> str:
    """open, refused or timeout: a TCP connect to ``host:port`` from ``source``'s namespace."""
    return script.probe(source, ADDRESS[host], port)


def as_central_user(code: str) -> str:
    """Run Python ``code`` on the central host as the services' dynamic user, in their state dir."""
    return out(CENTRAL, "sudo systemd-run --quiet --wait --pipe --collect -p DynamicUser=yes "
                        "-p User=aicamera-central -p StateDirectory=aicamera-central "
                        f"/opt/aicamera/current/venv/bin/python -c {shlex.quote(code)}")


def central_plates(checkpoint_id: str, province: bool = False) -> list:
    """Plates stored in the central database for ``checkpoint_id``, oldest first ([plate, province]
    pairs with ``province=True``)."""
    column = "license_plate, province" if province else "license_plate"
    code = ("import json, sqlite3; db = sqlite3.connect('/var/lib/aicamera-central/central.db'); "
            f"print(json.dumps([list(r) if len(r) > 1 else r[0] for r in db.execute('SELECT {column} "
            f"FROM lpr_detections WHERE checkpoint_id = ? ORDER BY id', ({checkpoint_id!r},))], ensure_ascii=False))")
    return json.loads(as_central_user(code))


def edge_api(host: str, path: str, method: str = "GET") -> dict:
    """A control API answer, asked from this machine (the admin network) with the API token."""
    import urllib.request

    request = urllib.request.Request(f"http://{ADDRESS[host]}:8000{path}", method=method,
                                     headers={"Authorization": f"Bearer {EDGE_API_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def component(host: str, name: str) -> dict:
    """One component of ``host``'s fresh health check."""
    components = edge_api(host, "/api/run_health_check", "POST")["health"]["components"]
    return next(c for c in components if c["component"] == name)


def boot_report(host: str) -> str:
    """What ``host``'s boot waits on (fleet-hosts' boot report: queued jobs, failed units, the
    journal's and the console's last lines), for a failed reboot's or boot's message."""
    try:
        return script.boot_report(script.BY_NAME[host])
    except Exception as exc:  # the report must never hide the failure it explains
        return f"--- {host}: no boot report ({type(exc).__name__}: {exc})"


def wait_until(condition, timeout: float, what: str, interval: float = 1.0):
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (OSError, AssertionError, StopIteration) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout:.0f} s (last: {last!r})")


@dataclass(frozen=True)
class Run:
    """One ansible-playbook (or ansible) run: its output, exit status and seconds taken."""

    output: str
    returncode: int
    seconds: float

    @property
    def changed(self) -> dict[str, int]:
        """Host -> number of changed tasks, from the PLAY RECAP."""
        return {m[1]: int(m[3]) for m in _RECAP.finditer(self.output)}

    @property
    def failed(self) -> dict[str, int]:
        """Host -> failed + unreachable tasks, from the PLAY RECAP."""
        return {m[1]: int(m[4]) + int(m[5]) for m in _RECAP.finditer(self.output)}

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-lines:])

    def assert_ok(self, hosts: tuple[str, ...] = HOSTS) -> None:
        """Fail with the run's tail unless it succeeded on every one of ``hosts``."""
        assert self.returncode == 0 and set(self.failed) == set(hosts), self.tail()
        assert not any(self.failed.values()), self.tail()


def ansible(tool: str, *args: str, controller_dir: Path, timeout: float = 900) -> Run:
    """Run ``ansible-playbook`` or ``ansible`` on inventory/systemd-test, as an operator would."""
    cmd = [str(BIN / tool), "-i", "inventory/systemd-test", *args, "-e", f"fleet_test_dir={controller_dir}"]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return Run(proc.stdout + proc.stderr, proc.returncode, time.monotonic() - started)


def playbook(*args: str, controller_dir: Path, edge_serial: int | None = 2) -> Run:
    """deploy.yml with ``args``; both edges at once unless ``edge_serial`` is None (one at a time)."""
    serial = ("-e", f"fleet_edge_serial={edge_serial}") if edge_serial else ()
    return ansible("ansible-playbook", "deploy.yml", *serial, *args, controller_dir=controller_dir)
