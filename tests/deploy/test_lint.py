"""Static checks of the Ansible code: ansible-lint (offline, production profile) and
ansible-playbook --syntax-check against both inventories."""

from __future__ import annotations

import os
import subprocess

import pytest

from .hosts import BIN, REPO

pytestmark = pytest.mark.slow


def _run(*cmd: str) -> subprocess.CompletedProcess:
    tool = BIN / cmd[0]
    if not tool.exists():
        pytest.skip(f"{cmd[0]} is not in the venv (pip install -r requirements/deploy.txt)")
    env = {**os.environ, "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(tool), *cmd[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_ansible_lint_passes_offline():
    """ansible-lint reports no violation under the production profile, without Galaxy."""
    proc = _run("ansible-lint", "--offline", "--nocolor", "deploy.yml", "ansible", "inventory")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


@pytest.mark.parametrize("inventory", ["inventory/systemd-test", "inventory/production"])
def test_playbook_syntax_is_valid(inventory):
    """deploy.yml passes --syntax-check with each inventory."""
    proc = _run("ansible-playbook", "-i", inventory, "deploy.yml", "--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
