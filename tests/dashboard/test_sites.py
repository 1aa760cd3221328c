"""A user limited to a site sees nothing of another site through any path: pages, CSV, images, sockets."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from dashboard.extensions import socketio
from dashboard.users import Role, add_user, set_sites
from fleet_store.lists import EntryFields, ListKind, add_entry
from tests.dashboard.conftest import csrf_token, login
from tests.dashboard.support import add_checkpoint, add_detection, add_health

SECRETS = ("gate-bravo", "BRAVO999", "bravo-trouble", "Site B")


@pytest.fixture
def two_sites(app, sqlite_engine, settings):
    """Site A has gate-alpha, site B gate-bravo; each has a detection with images, health, list entries."""
    images = settings.image_dir
    (images / "b").mkdir(parents=True)
    (images / "b/scene.jpg").write_bytes(b"\xff\xd8bravo-scene")
    (images / "b/plate.jpg").write_bytes(b"\xff\xd8bravo-plate")
    add_checkpoint(sqlite_engine, "gate-alpha", site="Site A", name="Alpha gate")
    add_checkpoint(sqlite_engine, "gate-bravo", site="Site B", name="Bravo gate", status="offline")
    alpha = add_detection(sqlite_engine, "ALPHA111", "gate-alpha", province="ภูเก็ต")
    bravo = add_detection(sqlite_engine, "BRAVO999", "gate-bravo", province="ภูเก็ต", image_path="b/scene.jpg",
                          plate_image_path="b/plate.jpg")
    add_health(sqlite_engine, "gate-bravo", "camera", "FAIL", message="bravo-trouble")
    add_health(sqlite_engine, "gate-alpha", "camera", "PASS")
    add_entry(sqlite_engine, ListKind.WATCH, EntryFields("*9*"), "boss")
    add_entry(sqlite_engine, ListKind.ALLOW, EntryFields("BRAVO999", site="Site B"), "boss")
    add_entry(sqlite_engine, ListKind.ALLOW, EntryFields("ALPHA111", site="Site A"), "boss")
    add_user(sqlite_engine, "anna", "anna-pass-123", Role.VIEWER, ["Site A"])
    add_user(sqlite_engine, "ed", "editor-pass-1", Role.EDITOR, ["Site A"])
    return alpha, bravo


def _client(app, name: str, password: str):
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    return client


# Not a user's page: served to the monitoring network only (DASHBOARD_METRICS_ALLOW, loopback by default,
# 403 to everyone else whoever is logged in), and documented to name every checkpoint (docs/alerts.md).
MACHINE_PAGES = {"/metrics"}


def _urls(app, alpha: int, bravo: int) -> list[str]:
    """Every GET route of the app, with another site's ids filled in, plus search and CSV variants."""
    values = {"detection_id": bravo, "checkpoint_id": "gate-bravo", "name": "allowlist", "filename": "app.css"}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule in MACHINE_PAGES:
            continue
        for name in (("watchlist", "allowlist") if "name" in rule.arguments else ("",)):
            args = {k: (name if k == "name" else values[k]) for k in rule.arguments}
            urls.append(app.url_map.bind("localhost").build(rule.endpoint, args))
    return urls + ["/?site=Site+B", "/?q=bravo", "/detections?plate=BRAVO", "/detections?checkpoint=gate-bravo",
                   "/detections.csv?checkpoint=gate-bravo", "/detections?province=ภูเก็ต",
                   "/statistics?by=day", "/checkpoints/gate-bravo?range=7d",
                   "/statistics?view=travel&from=gate-alpha&to=gate-bravo", "/statistics?view=repeats",
                   "/statistics?view=hours", "/statistics.csv?table=repeats", "/statistics.csv?table=hours",
                   "/statistics.csv?table=sites", "/statistics.csv?table=travel&from=gate-alpha&to=gate-bravo"]


def test_a_site_limited_viewer_sees_nothing_of_another_site(app, two_sites):
    """Every GET route answers without a trace of site B (or refuses); site A's data is there."""
    alpha, bravo = two_sites
    anna = _client(app, "anna", "anna-pass-123")
    checked = 0
    for url in _urls(app, alpha, bravo):
        answer = anna.get(url)
        body = answer.get_data()
        asked = unquote_plus(url).casefold()
        for secret in SECRETS:  # a filter the user typed is echoed in the form: that is not a leak
            if secret.casefold() not in asked:
                assert secret.encode() not in body, (url, secret, answer.status_code)
        assert b"bravo-scene" not in body and b"bravo-plate" not in body, url
        checked += 1
    assert checked >= 20
    assert "ALPHA111" in anna.get("/detections").get_data(as_text=True)
    assert "gate-alpha" in anna.get("/").get_data(as_text=True)
    assert 'id="n-all">1<' in anna.get("/").get_data(as_text=True)
    for url in (f"/detections/{bravo}", f"/detections/{bravo}/image", f"/detections/{bravo}/plate",
                "/checkpoints/gate-bravo"):
        assert anna.get(url).status_code == 404, url
    assert anna.get("/allowlist.csv").status_code == 403
    assert "ALPHA111" in anna.get("/allowlist").get_data(as_text=True)


def test_a_site_limited_editor_cannot_correct_another_site(app, sqlite_engine, two_sites):
    """An editor of site A gets 404 for site B's detection, even with a valid CSRF token."""
    alpha, bravo = two_sites
    ed = _client(app, "ed", "editor-pass-1")
    token = csrf_token(ed.get(f"/detections/{alpha}").get_data(as_text=True))
    answer = ed.post(f"/detections/{bravo}/correct", data={"csrf_token": token, "plate": "X1"})
    assert answer.status_code == 404
    assert ed.post(f"/detections/{alpha}/correct", data={"csrf_token": token, "plate": "ALPHA117"}).status_code == 302


def _live(plate: str, checkpoint_id: str | None) -> dict:
    payload = {"id": 1, "license_plate": plate, "province": "", "confidence": 90.0}
    return payload | ({"checkpoint_id": checkpoint_id} if checkpoint_id else {})


EVENTS = [("detection", _live("ALPHA1", "gate-alpha")), ("detection", _live("BRAVO1", "gate-bravo")),
          ("detection", _live("NOWHERE1", "gate-unknown")), ("alert", _live("NOCP1", None))]


def _plates(client) -> list[str]:
    return sorted(r["args"][0]["license_plate"] for r in client.get_received())


def test_live_events_reach_only_the_sites_a_user_may_see(app, admin, two_sites):
    """A site-limited browser gets its site's events only; events without a known site go to full-fleet users."""
    anna = socketio.test_client(app, flask_test_client=_client(app, "anna", "anna-pass-123"))
    boss = socketio.test_client(app, flask_test_client=admin)
    assert anna.is_connected() and boss.is_connected()
    for name, payload in EVENTS:
        socketio.emit(name, payload, namespace="/")
    assert _plates(anna) == ["ALPHA1"]
    assert _plates(boss) == ["ALPHA1", "BRAVO1", "NOCP1", "NOWHERE1"]


def test_events_from_redis_are_routed_by_site(sqlite_engine, redis_url, monkeypatch):
    """What the Redis manager delivers locally (an ingest's publish) goes to the fleet room and the site's room.

    Flask-SocketIO's test client refuses a message queue, so this checks the manager's local delivery;
    tests/dashboard/test_redis.py checks the whole path with two dashboard processes and a browser."""
    import socketio as python_socketio

    from dashboard.rooms import SiteDirectory, SiteRoutedRedisManager

    add_checkpoint(sqlite_engine, "gate-alpha", site="Site A")
    delivered = []
    monkeypatch.setattr(python_socketio.Manager, "emit", lambda self, event, data, namespace=None, room=None,
                        **kw: delivered.append((data["license_plate"], room)))
    manager = SiteRoutedRedisManager(redis_url, SiteDirectory(sqlite_engine))
    for name, payload in EVENTS:
        manager._handle_emit({"method": "emit", "event": name, "data": [payload], "namespace": "/", "room": None,
                              "skip_sid": None, "callback": None, "host_id": "ingest"})
    manager._handle_emit({"method": "emit", "event": "detection", "data": [_live("DIRECT1", "gate-bravo")],
                          "namespace": "/", "room": "fleet", "callback": None})
    assert delivered == [("ALPHA1", "fleet"), ("ALPHA1", "site:Site A"), ("BRAVO1", "fleet"), ("NOWHERE1", "fleet"),
                         ("NOCP1", "fleet"), ("DIRECT1", "fleet")]


def test_admins_see_every_site_and_limits_apply_at_once(app, admin, sqlite_engine, two_sites):
    """Admins are fleet-wide; limiting a logged-in user ends their login so the limit holds from the next page."""
    alpha, bravo = two_sites
    assert "BRAVO999" in admin.get("/detections").get_data(as_text=True)
    eve = _client(app, "eve", "viewer-pass-123")
    assert "BRAVO999" in eve.get("/detections").get_data(as_text=True)
    set_sites(sqlite_engine, "eve", ["Site A"])
    assert eve.get("/detections").status_code == 302
    eve = _client(app, "eve", "viewer-pass-123")
    assert "BRAVO999" not in eve.get("/detections").get_data(as_text=True)


def test_users_page_sets_sites(app, admin, sqlite_engine, two_sites):
    """The users page limits a user to sites and lifts the limit; the change is audited."""
    from dashboard.users import get_user_by_name
    from fleet_store.audit import entries

    anna = get_user_by_name(sqlite_engine, "anna")
    token = csrf_token(admin.get("/users").get_data(as_text=True))
    admin.post(f"/users/{anna.id}/sites", data={"csrf_token": token, "sites": "Site A, Site B"})
    assert get_user_by_name(sqlite_engine, "anna").sites == ("Site A", "Site B")
    admin.post(f"/users/{anna.id}/sites", data={"csrf_token": token, "sites": ""})
    assert get_user_by_name(sqlite_engine, "anna").limited_to is None
    assert [e.action for e in entries(sqlite_engine, limit=2)] == ["user.sites", "user.sites"]
