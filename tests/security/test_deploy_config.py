"""Threat model, deployed configuration: the nginx site and the central env file the Ansible roles write
(findings 5 and 9).

The role's nginx template is rendered by Ansible itself (``ansible.builtin.template``), then
a real nginx serves it over TLS in front of a real dashboard started with the env values
the central role deploys. Both tests failed on main at b009fd5.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from tests.dashboard.stack import dashboard_env, dashboard_process, free_port
from tests.support.ingest import REPO
from tests.support.processes import terminate, wait_http

pytestmark = [pytest.mark.slow]
ROLES = REPO / "ansible" / "roles"
ANSIBLE = Path(sys.executable).with_name("ansible")


def central_dashboard_env() -> dict[str, str]:
    """The env values the central role always deploys for the dashboard (``central_environment_dashboard``)."""
    return yaml.safe_load((ROLES / "central/vars/main.yml").read_text())["central_environment_dashboard"]


def nginx_main_config(root: Path, work: Path) -> Path:
    """A main nginx.conf around the rendered site, with every runtime path under ``work``."""
    (root / "var/log/nginx").mkdir(parents=True, exist_ok=True)
    temp = "\n".join(f"    {kind}_temp_path {work / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = work / "nginx.conf"
    conf.write_text(f"""daemon off;
pid {work / 'nginx.pid'};
error_log {work / 'error.log'};
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    include {root / 'etc/nginx/sites-enabled'}/*.conf;
}}
""")
    return conf


def render_site(work: Path, https: int, dashboard: int) -> Path:
    """Render the nginx role's site with Ansible into ``work/etc/nginx/sites-enabled``; return the root."""
    site = work / "etc/nginx/sites-enabled/aicamera.conf"
    site.parent.mkdir(parents=True)
    tls = work / "tls"
    tls.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days",
                    "1", "-keyout", str(tls / "privkey.pem"), "-out", str(tls / "fullchain.pem")],
                   check=True, capture_output=True)
    extra = {"ansible_python_interpreter": sys.executable, "common_root": "", "nginx_log_dir": str(work),
             "nginx_https_port": https,
             "nginx_ingest_port": free_port(), "nginx_listen_ipv6": False, "nginx_server_name": "localhost",
             "nginx_certificate_path": str(tls / "fullchain.pem"), "nginx_key_path": str(tls / "privkey.pem"),
             "nginx_dashboard_upstream": f"127.0.0.1:{dashboard}", "nginx_ingest_upstream": "127.0.0.1:9"}
    done = subprocess.run([str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local", "-m",
                           "ansible.builtin.template", "-a",
                           f"src={ROLES / 'nginx/templates/aicamera.conf.j2'} dest={site}",
                           "-e", f"@{ROLES / 'nginx/defaults/main.yml'}", "-e", json.dumps(extra)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return work


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory):
    """A dashboard with the role's env values, behind nginx running the role's site over TLS."""
    if not ANSIBLE.exists() or shutil.which("nginx") is None or shutil.which("openssl") is None:
        pytest.skip("needs ansible (requirements/deploy.txt), nginx and openssl (requirements/apt.txt)")
    tmp = tmp_path_factory.mktemp("nginx-attack")
    https, port = free_port(), free_port()
    root = render_site(tmp / "host", https, port)
    role_env = {k: str(v) for k, v in central_dashboard_env().items() if k in
                ("DASHBOARD_SECURE_COOKIES", "DASHBOARD_TRUSTED_PROXIES")}
    env = dashboard_env(f"sqlite:///{tmp / 'central.db'}", tmp / "images", port, tmp, **role_env)
    with dashboard_process(env, tmp / "dashboard.log"):
        conf = nginx_main_config(root, tmp)
        nginx = subprocess.Popen([shutil.which("nginx"), "-p", str(tmp), "-e", str(tmp / "error.log"), "-c",
                                  str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            with contextlib.suppress(TimeoutError):
                wait_http(f"https://127.0.0.1:{https}/login", timeout=2)  # (certificate refused: still up)
            yield f"https://127.0.0.1:{https}"
        finally:
            terminate(nginx, 10)


def test_session_cookie_is_secure_behind_the_deployed_tls(behind_nginx):
    """Finding 9: through the deployed nginx, the dashboard's session cookie is marked Secure."""
    response = requests.get(behind_nginx + "/login", verify=False, timeout=10)
    assert response.status_code == 200
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]


def test_nginx_limits_login_attempts_per_address(behind_nginx):
    """Finding 5: a burst of 20 login requests from one address is cut to a few by nginx (429)."""
    statuses = [requests.post(behind_nginx + "/login", data={"username": "admin", "password": f"guess-{i}"},
                              verify=False, timeout=10).status_code for i in range(20)]
    assert statuses.count(429) >= 12, statuses
