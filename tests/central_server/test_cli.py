"""``python -m central_server`` admin commands, run as a user would."""

from __future__ import annotations

import subprocess
import sys

from tests.support.ingest import REPO


def cli(db_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {"CENTRAL_DB_URL": db_url, "IMAGE_DIR": str(tmp_path / "img"), "PATH": "/usr/bin:/bin",
           "INGEST_PORT": "1"}
    return subprocess.run([sys.executable, "-m", "central_server", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_add_prints_token_alone_on_last_line_then_list_and_revoke(sqlite_url, tmp_path):
    """add prints the token last; list hides it; a second add is refused; revoke then re-add works."""
    added = cli(sqlite_url, tmp_path, "checkpoints", "add", "gate-1", "--name", "North gate")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("cpt_") and " " not in token and len(token) > 40
    listing = cli(sqlite_url, tmp_path, "checkpoints", "list").stdout
    assert "gate-1" in listing and "North gate" in listing and token not in listing
    again = cli(sqlite_url, tmp_path, "checkpoints", "add", "gate-1")
    assert again.returncode == 1 and "rotate" in again.stderr
    assert cli(sqlite_url, tmp_path, "checkpoints", "revoke", "gate-1").returncode == 0
    assert "revoked" in cli(sqlite_url, tmp_path, "checkpoints", "list").stdout
    assert cli(sqlite_url, tmp_path, "checkpoints", "add", "gate-1").returncode == 0


def test_name_site_and_position_are_set_from_the_command_line(sqlite_url, tmp_path):
    """add and set take --name --site --lat --lon; list shows them; half a position or a bad one is refused."""
    added = cli(sqlite_url, tmp_path, "checkpoints", "add", "gate-2", "--site", "Village A", "--lat", "13.7563",
                "--lon", "100.5018")
    assert added.returncode == 0, added.stderr
    changed = cli(sqlite_url, tmp_path, "checkpoints", "set", "gate-2", "--name", "ประตูทิศเหนือ", "--lat", "-33.9",
                  "--lon", "-70.6")
    assert changed.returncode == 0 and changed.stdout.strip() == "checkpoint gate-2 updated", changed.stderr
    again = cli(sqlite_url, tmp_path, "checkpoints", "set", "gate-2", "--lat", "-33.9", "--lon", "-70.6")
    assert again.stdout.strip() == "checkpoint gate-2 unchanged"  # a re-run of a deploy reports no change
    listing = cli(sqlite_url, tmp_path, "checkpoints", "list").stdout
    assert "Village A" in listing and "-33.90000,-70.60000" in listing and "ประตูทิศเหนือ" in listing
    for bad in (["--lat", "13.7"], ["--lat", "91", "--lon", "0"], []):
        refused = cli(sqlite_url, tmp_path, "checkpoints", "set", "gate-2", *bad)
        assert refused.returncode == 1 and refused.stderr.startswith("error: "), bad
    assert "no checkpoint 'nope'" in cli(sqlite_url, tmp_path, "checkpoints", "set", "nope", "--site", "x").stderr


def test_rotate_and_unknown_checkpoint(sqlite_url, tmp_path):
    """rotate gives a different token; commands on unknown ids fail clearly."""
    first = cli(sqlite_url, tmp_path, "checkpoints", "add", "g2").stdout.splitlines()[-1]
    second = cli(sqlite_url, tmp_path, "checkpoints", "rotate", "g2").stdout.splitlines()[-1]
    assert first != second and second.startswith("cpt_")
    missing = cli(sqlite_url, tmp_path, "checkpoints", "revoke", "nope")
    assert missing.returncode == 1 and "no checkpoint 'nope'" in missing.stderr


def test_doctor_reports_each_check_and_fails_on_a_bad_database(sqlite_url, tmp_path):
    """doctor prints one line per check; an unreachable database is a FAIL with a fix."""
    fresh = cli(sqlite_url, tmp_path, "doctor")
    assert "[WARN] database" in fresh.stdout and "migrate" in fresh.stdout
    assert cli(sqlite_url, tmp_path, "migrate").stdout.startswith("schema at revision")
    good = cli(sqlite_url, tmp_path, "doctor")
    assert good.returncode == 0 and "[OK  ] database" in good.stdout and "image dir" in good.stdout
    bad = cli("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path, "doctor")
    assert bad.returncode == 1 and "[FAIL] database" in bad.stdout and "fix:" in bad.stdout


def test_invalid_settings_are_reported_not_traced(tmp_path):
    """A bad setting gives a readable error and exit 2."""
    env = {"INGEST_PORT": "99999", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "central_server", "doctor"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "ingest_port" in result.stderr


def test_help_lists_the_commands(tmp_path):
    """--help names every subcommand."""
    out = subprocess.run([sys.executable, "-m", "central_server", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60).stdout
    for word in ("serve", "checkpoints", "doctor", "migrate", "CENTRAL_DB_URL"):
        assert word in out
