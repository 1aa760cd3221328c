"""The audit trail through the dashboard: what is recorded, the admin page, and the CLI."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from fleet_store.audit import entries
from fleet_store.schema import audit_log
from tests.dashboard.cli import run_dashboard
from tests.dashboard.conftest import ADMIN_PASSWORD, csrf_token, login
from tests.dashboard.support import add_detection


def _actions(engine) -> list[tuple[str, str, str, str | None]]:
    return [(e.actor, e.action, e.subject, e.plate) for e in reversed(entries(engine))]


def test_every_kind_of_access_is_recorded(app, sqlite_engine):
    """Login (good and bad), search, export, detail view, list changes and logout each leave a record."""
    row_id = add_detection(sqlite_engine, "กข1234")
    client = app.test_client()
    assert login(client, "boss", "wrong-password").status_code == 401
    assert login(client, "boss", ADMIN_PASSWORD).status_code == 302
    client.get("/detections", query_string={"plate": "กข1234"})
    client.get("/detections.csv", query_string={"plate": "กข"}).get_data()
    client.get(f"/detections/{row_id}")
    token = csrf_token(client.get("/watchlist").get_data(as_text=True))
    client.post("/watchlist", data={"csrf_token": token, "pattern": "ABC*", "note": "stolen"})
    entry_id = re.search(r'/watchlist/(\d+)/delete', client.get("/watchlist").get_data(as_text=True)).group(1)
    client.post(f"/watchlist/{entry_id}/delete", data={"csrf_token": token})
    client.post("/logout", data={"csrf_token": token})
    assert _actions(sqlite_engine) == [
        ("-", "login.failed", "user:boss", None), ("boss", "login", "user:boss", None),
        ("boss", "search", "", "กข1234"), ("boss", "export", "detections.csv", "กข"),
        ("boss", "view", f"detection:{row_id}", "กข1234"), ("boss", "list.add", f"watchlist:{entry_id}", "ABC*"),
        ("boss", "list.remove", f"watchlist:{entry_id}", "ABC*"), ("boss", "logout", "user:boss", None)]
    assert {e.remote for e in entries(sqlite_engine)} == {"127.0.0.1"}


def _fill(engine, n: int) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    rows = [{"at": start + timedelta(seconds=n), "actor": f"user{n % 7}", "action": ("search", "view")[n % 2],
             "subject": f"detection:{n}", "plate": f"P{n % 50}", "remote": "10.1.1.1", "detail": {"n": n}}
            for n in range(n)]
    with engine.begin() as conn:
        conn.execute(insert(audit_log), rows)


def test_audit_page_filters_and_pages(admin, sqlite_engine):
    """At 20,000 records the page shows 100 newest first, filters narrow, Older walks every page once."""
    _fill(sqlite_engine, 20_000)
    page = admin.get("/audit").get_data(as_text=True)
    assert page.count("<tr data-id=") == 100 and 'data-id="20001"' in page
    filtered = admin.get("/audit", query_string={"actor": "user3", "action": "view", "plate": "P3"})
    ids = [int(i) for i in re.findall(r'data-id="(\d+)"', filtered.get_data(as_text=True))]
    numbers = [i - 2 for i in ids]  # record 1 is the admin's login
    assert numbers and all(n % 7 == 3 and n % 2 == 1 and n % 50 == 3 for n in numbers)
    seen, url = [], "/audit?actor=user5"
    while url:
        html = admin.get(url).get_data(as_text=True)
        seen += re.findall(r'data-id="(\d+)"', html)
        older = re.search(r'id="older" href="([^"]+)"', html)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert len(seen) == len(set(seen)) == len([n for n in range(20_000) if n % 7 == 5])
    assert admin.get("/audit", query_string={"start": "not a date"}).status_code == 400
    assert admin.get("/audit", query_string={"before": "-1"}).status_code == 400


def test_only_admins_read_it_and_nobody_edits_it(app, admin, viewer, sqlite_engine):
    """Viewers and editors get 403; no dashboard route changes the audit log (only GET on /audit)."""
    assert viewer.get("/audit").status_code == 403
    assert "Audit log" not in viewer.get("/").get_data(as_text=True)
    for method in ("post", "put", "delete", "patch"):
        assert getattr(admin, method)("/audit").status_code == 405
    audit_rules = [rule for rule in app.url_map.iter_rules() if "audit" in rule.rule]
    assert [(r.rule, sorted(r.methods - {"HEAD", "OPTIONS"})) for r in audit_rules] == [("/audit", ["GET"])]


def test_cli_prints_the_log_since_a_date(sqlite_engine, sqlite_url):
    """``audit --since`` prints records oldest first, filters, writes CSV, and records that it was read."""
    _fill(sqlite_engine, 30)
    today = datetime.now(UTC).date()
    text = run_dashboard(sqlite_url, "audit", "--since", str(today - timedelta(days=2)), "--actor", "user1")
    assert text.returncode == 0, text.stderr
    assert len(text.stdout.splitlines()) == 5 and "detection:1 " in text.stdout.splitlines()[0]
    as_csv = run_dashboard(sqlite_url, "audit", "--since", str(today - timedelta(days=2)), "--csv",
                           "--action", "view")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 15 and {r["action"] for r in rows} == {"view"}
    assert run_dashboard(sqlite_url, "audit", "--since", "yesterday").returncode == 2
    assert [e.action for e in entries(sqlite_engine, limit=2)] == ["audit.export", "audit.export"]


def test_a_throttled_login_is_recorded(app, sqlite_engine):
    """Past the free failures, a login held off by the throttle (429) is recorded as login.refused."""
    client = app.test_client()
    codes = [login(client, "boss", "wrong-password").status_code for _ in range(7)]
    assert 429 in codes
    actions = [e.action for e in entries(sqlite_engine)]
    assert "login.refused" in actions and actions.count("login.failed") >= 5
