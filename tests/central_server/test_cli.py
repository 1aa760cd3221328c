"""``python -m central_server`` admin commands, run as a user would."""

from __future__ import annotations

import subprocess
import sys

from tests.support.ingest import REPO


def cli(db_url: str, tmp_path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {"CENTRAL_DB_URL": db_url, "IMAGE_DIR": str(tmp_path / "img"), "PATH": "/usr/bin:/bin",
           "INGEST_PORT": "1", **(extra_env or {})}
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
    assert result.returncode == 2 and "INGEST_PORT: Input should be less than or equal to 65535" in result.stderr


def test_help_lists_the_commands(tmp_path):
    """--help names every subcommand."""
    out = subprocess.run([sys.executable, "-m", "central_server", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60).stdout
    for word in ("serve", "checkpoints", "doctor", "migrate", "CENTRAL_DB_URL"):
        assert word in out


def test_doctor_report_hides_secrets_and_lists_checkpoints(tmp_path):
    """doctor --report prints versions, settings with passwords hidden, and each checkpoint."""
    url = f"sqlite:///{tmp_path / 'central.db'}"
    cli(url, tmp_path, "checkpoints", "add", "77")
    env = {"REDIS_URL": "redis://user:s3cret@127.0.0.1:1/0"}
    report = cli(url, tmp_path, "doctor", "--report", extra_env=env).stdout
    assert "## support report" in report and "SQLAlchemy " in report
    assert "REDIS_URL=redis://user:***@127.0.0.1:1/0" in report and "s3cret" not in report
    assert "checkpoints: 1" in report and "  77: never, last seen never" in report
    assert "systemctl start aicamera-central.target" in report


def test_env_file_typo_is_an_error_naming_it(tmp_path):
    """An unknown name in --env-file (INGEST_PROT) exits 2 naming it; Ansible's file shape loads."""
    env = tmp_path / "ingest.env"
    env.write_text("CENTRAL_DB_URL='sqlite:///x.db'\nINGEST_PROT=9000\n")
    typo = subprocess.run([sys.executable, "-m", "central_server", "--env-file", str(env), "doctor"], cwd=REPO,
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert typo.returncode == 2 and "INGEST_PROT: unknown setting in" in typo.stderr


def test_help_settings_lists_every_variable():
    """--help-settings lists each variable with its default and description."""
    out = subprocess.run([sys.executable, "-m", "central_server", "--help-settings"], cwd=REPO,
                         capture_output=True, text=True, timeout=60).stdout
    assert "INGEST_PORT" in out and "8765" in out and "CENTRAL_DB_URL" in out and "RETENTION_DAYS" in out


def test_plates_export_erase_and_hold(sqlite_url, tmp_path):
    """plates export writes one zip; erase needs --yes, is refused under a hold, then leaves no row or file."""
    import zipfile

    from sqlalchemy import func, select

    from fleet_store import db
    from fleet_store.schema import lpr_detections
    from tests.dashboard.support import add_detection

    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    (tmp_path / "img/cp1").mkdir(parents=True)
    (tmp_path / "img/cp1/a.jpg").write_bytes(b"\xff\xd8a")
    add_detection(engine, "1กข 1234", province="ภูเก็ต", image_path="cp1/a.jpg")
    add_detection(engine, "OTHER1")
    out = tmp_path / "subject.zip"
    exported = cli(sqlite_url, tmp_path, "plates", "export", "1กข1234", "--province", "ภูเก็ต", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "1 detections, 1 images" in exported.stdout
    assert "images/1.jpg" in zipfile.ZipFile(out).namelist()
    dry = cli(sqlite_url, tmp_path, "plates", "erase", "1กข1234")
    assert dry.returncode == 1 and "1 detections" in dry.stdout and "--yes" in dry.stdout
    assert cli(sqlite_url, tmp_path, "plates", "hold", "1กข1234", "--reason", "court order 9").returncode == 0
    assert "court order 9" in cli(sqlite_url, tmp_path, "plates", "holds").stdout
    refused = cli(sqlite_url, tmp_path, "plates", "erase", "1กข1234", "--yes")
    assert refused.returncode == 1 and "legal hold" in refused.stderr
    assert (tmp_path / "img/cp1/a.jpg").exists()
    assert cli(sqlite_url, tmp_path, "plates", "unhold", "1กข1234").returncode == 0
    erased = cli(sqlite_url, tmp_path, "plates", "erase", "1กข1234", "--yes", "--reason", "ticket 5")
    assert erased.returncode == 0 and "erased 1 detections, 1 image files" in erased.stdout
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(lpr_detections)).scalar_one() == 1
    assert not (tmp_path / "img/cp1/a.jpg").exists()
    assert cli(sqlite_url, tmp_path, "plates", "erase", "AB*", "--yes").returncode == 1
