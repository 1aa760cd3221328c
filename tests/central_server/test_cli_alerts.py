"""``python -m central_server watchlist ...`` and ``alerts list``, run as a user would."""

from __future__ import annotations

from datetime import UTC, datetime

from fleet_store import alerts, audit, db
from fleet_store.alerts import Rule
from tests.central_server.test_cli import cli


def test_watchlist_add_list_remove(sqlite_url, tmp_path):
    """add takes a province, note, expiry and tolerance; list shows them; bad input gets a clear error."""
    added = cli(sqlite_url, tmp_path, "watchlist", "add", "กข 1234", "--province", "ขอนแก่น", "--note", "stolen",
                "--expires", "2027-01-31", "--tolerance", "1")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added entry 1: กข1234 ขอนแก่น"
    listing = cli(sqlite_url, tmp_path, "watchlist", "list").stdout
    assert "กข1234" in listing and "ขอนแก่น" in listing and "2027-01-31T23:59+07:00" in listing and "stolen" in listing
    for args, message in ((("add", "กข 1234", "--province", "ขอนแก่น"), "already on the watchlist"),
                          (("add", "AB1", "--province", "Atlantis"), "not a Thai province"),
                          (("add", "AB1", "--expires", "next week"), "expires must be a date"),
                          (("add", "* ?"), "at least one plate character"),
                          (("remove", "99"), "no watchlist entry 99")):
        refused = cli(sqlite_url, tmp_path, "watchlist", *args)
        assert refused.returncode == 1 and message in refused.stderr, (args, refused.stderr)
    bad_tolerance = cli(sqlite_url, tmp_path, "watchlist", "add", "AB1", "--tolerance", "2")
    assert bad_tolerance.returncode == 2 and "invalid choice" in bad_tolerance.stderr
    assert cli(sqlite_url, tmp_path, "watchlist", "remove", "1").stdout.strip() == "removed entry 1"
    engine = db.make_engine(sqlite_url)
    assert [e.action for e in audit.entries(engine)] == ["list.remove", "list.add"]
    engine.dispose()


def test_watchlist_import_is_all_or_nothing(sqlite_url, tmp_path):
    """A CSV with one bad line changes nothing and names the line; a good one adds and updates."""
    good = tmp_path / "good.csv"
    good.write_text("\ufeffplate,province,note,expires,tolerance\nAB1234,,van,,0\nกข99,กรุงเทพมหานคร,car,2027-02-01,1\n",
                    encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("plate,province\nZZ1,\nYY2,Atlantis\n", encoding="utf-8")
    refused = cli(sqlite_url, tmp_path, "watchlist", "import", str(bad))
    assert refused.returncode == 1 and "line 3" in refused.stderr and "nothing changed" in refused.stderr
    assert "ZZ1" not in cli(sqlite_url, tmp_path, "watchlist", "list").stdout
    imported = cli(sqlite_url, tmp_path, "watchlist", "import", str(good))
    assert imported.returncode == 0 and "2 added, 0 updated" in imported.stdout, imported.stderr
    again = cli(sqlite_url, tmp_path, "watchlist", "import", str(good))
    assert "0 added, 2 updated" in again.stdout
    missing = cli(sqlite_url, tmp_path, "watchlist", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "No such file" in missing.stderr


def test_alerts_list(sqlite_url, tmp_path):
    """alerts list shows stored alerts newest first, filtered by state."""
    assert cli(sqlite_url, tmp_path, "migrate").returncode == 0
    engine = db.make_engine(sqlite_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        first = alerts.raise_alert(conn, Rule.OFFLINE, "checkpoint:gate-1", "gate-1", {"last_seen_at": "x"}, now, ())
        alerts.raise_alert(conn, Rule.CLOCK_SKEW, "checkpoint:gate-2", "gate-2", {"skew_seconds": 95}, now, ())
    alerts.acknowledge(engine, first.id, "alice")
    engine.dispose()
    out = cli(sqlite_url, tmp_path, "alerts", "list").stdout.splitlines()
    assert "clock_skew" in out[1] and "off by 95 s" in out[1]
    assert "acknowledged" in out[2] and "[ack alice]" in out[2]
    only_open = cli(sqlite_url, tmp_path, "alerts", "list", "--state", "open").stdout
    assert "clock_skew" in only_open and "offline" not in only_open
    assert cli(sqlite_url, tmp_path, "alerts", "list", "--state", "nope").returncode == 2


def test_doctor_shows_channels_and_refused_notifications_and_hides_their_secrets(sqlite_url, tmp_path):
    """doctor names the channels on; a notification refused for good is a WARN; --report hides channel secrets."""
    env = {"ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook", "ALERT_WEBHOOK_SECRET": "hook-s3cret",
           "ALERT_LINE_TOKEN": "line-t0ken", "ALERT_LINE_TO": "Uabc"}
    assert cli(sqlite_url, tmp_path, "migrate").returncode == 0
    good = cli(sqlite_url, tmp_path, "doctor", extra_env=env).stdout
    assert "[OK  ] alerts" in good and "channels: webhook, line; 0 notification(s) waiting" in good
    engine = db.make_engine(sqlite_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        alerts.raise_alert(conn, Rule.OFFLINE, "checkpoint:gate-1", "gate-1", {}, now, ("webhook",))
    [delivery] = alerts.claim_due(engine, ["webhook"], now)
    alerts.failed(engine, delivery, "HTTP 400: bad", True, 1, 1)
    engine.dispose()
    report = cli(sqlite_url, tmp_path, "doctor", "--report", extra_env=env).stdout
    assert "[WARN] alerts" in report and "refused for good: webhook 1" in report
    assert "hook-s3cret" not in report and "line-t0ken" not in report and "ALERT_WEBHOOK_SECRET=***" in report
