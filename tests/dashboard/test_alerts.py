"""The alerts page: stored alerts listed by state; admins acknowledge (CSRF, role, audit, live event)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from dashboard.extensions import socketio
from dashboard.realtime import DatabaseTail
from fleet_store import alerts
from fleet_store.alerts import Rule, WatchMatcher
from fleet_store.audit import entries
from fleet_store.lists import EntryFields, ListKind, add_entry
from fleet_store.records import StoredDetection

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def hit(engine, plate: str = "กข1234", detection_id: int = 1):
    """A watchlist alert as the ingest opens it."""
    add_entry(engine, ListKind.WATCH, EntryFields(plate, "", "stolen <b>car</b>"), "boss")
    d = StoredDetection(detection_id, "gate-1", None, plate, "ขอนแก่น", 90.0, NOW, NOW, "pi", "", None, None,
                        True, False)
    with engine.begin() as conn:
        [[alert]] = WatchMatcher().match(conn, [d], NOW).values()
    return alert


def offline(engine, checkpoint: str = "gate-2"):
    with engine.begin() as conn:
        return alerts.raise_alert(conn, Rule.OFFLINE, f"checkpoint:{checkpoint}", checkpoint,
                                  {"last_seen_at": NOW.isoformat()}, NOW, ())


def test_page_lists_alerts_by_state(admin, sqlite_engine):
    """Every alert is listed with its rule and subject; the state tabs filter; notes are escaped."""
    a, b = hit(sqlite_engine), offline(sqlite_engine)
    page = admin.get("/alerts").get_data(as_text=True)
    assert f'data-alert="{a.id}"' in page and f'data-alert="{b.id}"' in page
    assert "กข1234" in page and "stolen &lt;b&gt;car&lt;/b&gt;" in page and "Checkpoint gate-2 offline" in page
    alerts.acknowledge(sqlite_engine, b.id, "boss")
    open_page = admin.get("/alerts?state=open").get_data(as_text=True)
    assert f'data-alert="{a.id}"' in open_page and f'data-alert="{b.id}"' not in open_page
    assert admin.get("/alerts?state=bogus").status_code == 400
    assert '<span id="open-alerts" class="count">1</span>' in admin.get("/").get_data(as_text=True)


def test_admin_acknowledges_with_csrf_and_it_is_audited_and_announced(app, admin, sqlite_engine):
    """An admin's acknowledgement closes a hit, is audited and reaches open pages live; a repeat is refused."""
    alert = hit(sqlite_engine)
    listener = socketio.test_client(app, flask_test_client=admin)
    token = csrf_token(admin.get("/alerts").get_data(as_text=True))
    assert admin.post(f"/alerts/{alert.id}/acknowledge").status_code == 400  # no CSRF token
    response = admin.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": token}, follow_redirects=True)
    assert "Alert acknowledged." in response.get_data(as_text=True)
    stored = alerts.get_alert(sqlite_engine, alert.id)
    assert (stored.acknowledged_by, stored.state.value) == ("boss", "closed")
    [audit] = [e for e in entries(sqlite_engine) if e.action == "alert.acknowledge"]
    assert (audit.actor, audit.subject, audit.plate) == ("boss", f"alert:{alert.id}", "กข1234")
    [event] = [e for e in listener.get_received() if e["name"] == "alert"]
    assert event["args"][0]["id"] == alert.id and event["args"][0]["acknowledged_by"] == "boss"
    again = admin.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": token}, follow_redirects=True)
    assert "already acknowledged" in again.get_data(as_text=True)
    listener.disconnect()


def test_viewers_cannot_acknowledge(viewer, sqlite_engine):
    """A viewer sees alerts but gets 403 for an acknowledgement and no button."""
    alert = hit(sqlite_engine)
    page = viewer.get("/alerts").get_data(as_text=True)
    assert f'data-alert="{alert.id}"' in page and "/acknowledge" not in page
    token = csrf_token(page)
    assert viewer.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": token}).status_code == 403
    assert alerts.get_alert(sqlite_engine, alert.id).acknowledged_at is None


def test_tail_announces_new_alerts(sqlite_engine):
    """Without Redis, the dashboard's database tail emits each newly opened alert once."""
    seen = []
    tail = DatabaseTail(sqlite_engine, seen.append)
    alert = hit(sqlite_engine)
    tail.poll_once()
    tail.poll_once()
    assert [(e.name, e.payload["id"]) for e in seen if e.name == "alert"] == [("alert", alert.id)]
    assert seen[-1].payload == alerts.get_alert(sqlite_engine, alert.id).payload()


def test_thai_page(app, admin, sqlite_engine):
    """In Thai the page and its states are translated."""
    hit(sqlite_engine)
    token = csrf_token(admin.get("/").get_data(as_text=True))
    admin.post("/language", data={"locale": "th", "csrf_token": token, "next": "/alerts"})
    page = admin.get("/alerts").get_data(as_text=True)
    assert "การแจ้งเตือน" in page and "พบทะเบียนในรายการเฝ้าระวัง" in page and "เปิดอยู่" in page
