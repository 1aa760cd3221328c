"""The playbook against the test fleet: idempotence, truthful --check, and rendered files.

Each rendered file is checked by the tool that will read it (systemd-analyze, nft, nginx, logrotate).
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from .fleet import CENTRAL, EDGES, HOSTS, REPO, read_env_file, read_unit

pytestmark = pytest.mark.slow
MAX_EXPOSURE = 3.0


def _need(tool: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool}; see requirements/apt.txt)")
    return path


def test_first_deploy_changes_every_host(deployed):
    """The first run installs something on every host of the fleet."""
    assert all(deployed.first.changed[h] > 0 for h in HOSTS), deployed.first.changed


def test_second_deploy_changes_nothing(deployed):
    """Deploying the same revision again reports changed=0 on every host."""
    assert deployed.second.changed == dict.fromkeys(HOSTS, 0), deployed.second.output[-3000:]


def test_check_mode_reports_no_change_one_checkpoint_at_a_time(deployed):
    """`--check --diff` on a deployed fleet reports changed=0, updating the edges one by one."""
    run = deployed.fleet.playbook("--check", "--diff", edge_serial=None)
    run.assert_ok()
    assert run.changed == dict.fromkeys(HOSTS, 0), run.output[-3000:]
    assert run.output.count("PLAY [Deploy the edge agents, a few at a time]") == len(EDGES)


def test_check_mode_tells_a_config_change_without_making_it(deployed):
    """A changed setting under `--tags config --check --diff` is reported, unprinted and unmade."""
    env_file = deployed.fleet.root(CENTRAL) / "etc/aicamera/central/.env.production"
    before = env_file.read_bytes()
    run = deployed.fleet.playbook("--limit", CENTRAL, "--tags", "config", "--check", "--diff",
                                  "-e", "central_retention_days=7")
    run.assert_ok(hosts=(CENTRAL,))
    assert run.changed == {CENTRAL: 1}, run.output[-3000:]
    assert "RETENTION_DAYS" not in run.output and "test-admin-password" not in run.output
    assert env_file.read_bytes() == before


def test_release_is_the_git_commit_behind_current(deployed):
    """Each host runs the committed tree from releases/<commit> through the current symlink."""
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, text=True,
                            capture_output=True, check=True).stdout.strip()
    for host in HOSTS:
        current = deployed.fleet.root(host) / "opt/aicamera/current"
        assert current.is_symlink() and current.resolve().name == commit
        assert (current / "venv/bin/python").exists()
        assert (current / "fleet_protocol/__init__.py").is_file()


def test_env_files_are_private_and_carry_a_token(deployed):
    """Every env file is mode 0600; each edge has its own id, a token, the wss URL and the CA."""
    tokens = set()
    for host in EDGES:
        path = deployed.fleet.root(host) / "etc/aicamera/edge/.env.production"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        env = read_env_file(path)
        assert env["WEBSOCKET_SERVER_URL"].startswith("wss://")
        assert Path(env["SSL_CERT_FILE"]).is_file()
        assert {"CHECKPOINT_ID", "DB_PATH", "WEBSOCKET_LOG_FILE"} <= set(env)
        tokens.add(env["CHECKPOINT_TOKEN"])
    assert len(tokens) == len(EDGES) and all(len(t) >= 20 for t in tokens)
    central = deployed.fleet.root(CENTRAL) / "etc/aicamera/central/.env.production"
    assert stat.S_IMODE(central.stat().st_mode) == 0o600
    assert read_env_file(central)["INGEST_HOST"] == "127.0.0.1"


def test_inventory_names_and_places_the_checkpoints(deployed):
    """edge_checkpoint_name/site/latitude/longitude reach the central checkpoints table and the edge env file."""
    from sqlalchemy import select

    from fleet_store import db
    from fleet_store.schema import checkpoints

    env = read_env_file(deployed.fleet.root(CENTRAL) / "etc/aicamera/central/.env.production")
    engine = db.make_engine(env["CENTRAL_DB_URL"])
    with engine.connect() as conn:
        row = conn.execute(select(checkpoints).where(checkpoints.c.checkpoint_id == "101")).one()
    engine.dispose()
    assert (row.name, row.site, row.latitude, row.longitude) == ("Test gate 101", "Test site", 13.75, 100.5)
    edge = read_env_file(deployed.fleet.root(EDGES[0]) / "etc/aicamera/edge/.env.production")
    assert (edge["EDGE_LATITUDE"], edge["EDGE_LONGITUDE"]) == ("13.75", "100.5")


def test_units_pass_systemd_analyze_verify(deployed):
    """systemd-analyze verify accepts every unit (directives known, executables present)."""
    analyze = _need("systemd-analyze")
    for unit in deployed.fleet.units():
        proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stderr.strip(), f"{unit.name}: {proc.stderr}"


def test_services_are_hardened(deployed):
    """systemd-analyze security rates every service's exposure at most 3.0."""
    analyze = _need("systemd-analyze")
    for unit in (u for u in deployed.fleet.units() if u.suffix == ".service"):
        proc = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(unit)],
                              capture_output=True, text=True)
        found = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout)
        assert found, proc.stdout + proc.stderr
        assert float(found[1]) <= MAX_EXPOSURE, f"{unit.name}: {found[0]}"


def test_units_run_the_deployed_tree_as_a_dynamic_user(deployed):
    """Each service runs `python -m <app>` from current/venv with the host's env file."""
    for unit in (u for u in deployed.fleet.units() if u.suffix == ".service"):
        settings = read_unit(unit)
        assert settings["DynamicUser"] == ["yes"] and settings["ProtectSystem"] == ["strict"]
        assert settings["Restart"] == ["on-failure"]
        assert settings["ExecStart"][0].split()[0].endswith("/current/venv/bin/python")
        assert Path(settings["EnvironmentFile"][0]).is_file()
        assert settings["PartOf"][0].endswith(".target")


def test_firewall_rules_parse(deployed):
    """`nft -c` accepts every host's rules file and the main file that includes it."""
    nft = _need("nft")
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to check rules without CAP_NET_ADMIN")
    for host in HOSTS:
        for path in ("etc/nftables.d/aicamera.nft", "etc/nftables.conf"):
            rules = deployed.fleet.root(host) / path
            proc = subprocess.run(["unshare", "-rn", nft, "-c", "-f", str(rules)],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{host} {path}: {proc.stderr}"


def test_firewall_opens_only_what_each_group_needs(deployed):
    """The central host opens SSH, https and wss; an edge opens SSH and its control API."""
    central = (deployed.fleet.root(CENTRAL) / "etc/nftables.d/aicamera.nft").read_text()
    assert re.findall(r"dport (\d+) accept", central) == ["22", "22", "28443", "28443", "28444"]
    assert "policy drop" in central
    edge = (deployed.fleet.root(EDGES[0]) / "etc/nftables.d/aicamera.nft").read_text()
    assert re.findall(r"dport (\d+) accept", edge) == ["22", "22", "28001", "28001"]


def test_nginx_config_passes_nginx_t(deployed, tmp_path):
    """`nginx -t` accepts the rendered site with its certificate and key."""
    from .services import nginx_main_config

    nginx = _need("nginx")
    conf = nginx_main_config(deployed.fleet.root(CENTRAL), tmp_path)
    proc = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                           "-c", str(conf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_logrotate_config_parses(deployed, tmp_path):
    """logrotate accepts the edge's rotation rules in debug (dry-run) mode."""
    logrotate = _need("logrotate")
    root = deployed.fleet.root(EDGES[0])
    (root / "var/log/aicamera-edge").mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"),
                           str(root / "etc/logrotate.d/aicamera-edge")], capture_output=True, text=True)
    assert proc.returncode == 0 and "error" not in proc.stderr.lower(), proc.stderr
