"""The REST API (/api/v1): API keys made by the real CLI, answers validated against the live OpenAPI document."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from dashboard import create_app
from fleet_store import alerts, apikeys
from fleet_store.alerts import Rule
from fleet_store.audit import entries
from fleet_store.lists import EntryFields, ListKind, add_entry
from tests.dashboard.support import add_checkpoint, add_detection, add_health
from tests.dashboard.test_cli import _run
from tests.support.images import scene_jpeg


@pytest.fixture
def api(settings, sqlite_engine):
    """A test client, a viewer key's headers, and the engine (SQLite, some rows)."""
    app = create_app(settings, engine=sqlite_engine, start_live=False, migrate=False)
    app.config.update(TESTING=True)
    _, secret = apikeys.create(sqlite_engine, "parking", "viewer")
    return app.test_client(), {"Authorization": f"Bearer {secret}"}, sqlite_engine


def validator(doc: dict, schema: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": doc["components"]},
                                           format_checker=jsonschema.FormatChecker())


def test_every_answer_matches_the_openapi_document(api, settings):
    """Each route answers as the live document says, and the document lists exactly the API's routes."""
    client, headers, engine = api
    add_checkpoint(engine, "gate-1")
    image = settings.image_dir / "2026" / "a.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(scene_jpeg())
    detection_id = add_detection(engine, "กข 1234", "gate-1", province="ขอนแก่น", image_path="2026/a.jpg")
    add_detection(engine, "AB1234", "gate-1")
    add_health(engine, "gate-1", "camera", "FAIL", "no frames", temperature_c=60)
    add_entry(engine, ListKind.WATCH, EntryFields("AB1234", note="van"), "t")
    with engine.begin() as conn:
        alerts.raise_alert(conn, Rule.OFFLINE, "checkpoint:gate-1", "gate-1", {"last_seen_at": None},
                           datetime.now(UTC), ())
    doc = client.get("/api/v1/openapi.json").get_json()  # no key needed for the document
    jsonschema.Draft202012Validator.check_schema({"components": doc["components"]})
    for path, schema in (("/detections", "DetectionPage"), (f"/detections/{detection_id}", "Detection"),
                         ("/checkpoints", "CheckpointList"), ("/health", "HealthList"), ("/alerts", "AlertList"),
                         ("/watchlist", "WatchList"), ("/detections/999999", "Error"),
                         ("/detections?limit=0", "Error")):
        response = client.get("/api/v1" + path, headers=headers)
        path_key = path.split("?")[0].replace(str(detection_id), "{detection_id}").replace("999999", "{detection_id}")
        assert str(response.status_code) in doc["paths"][path_key]["get"]["responses"], path
        validator(doc, schema).validate(response.get_json())
    body = client.get("/api/v1/detections?plate=กข&province=ขอนแก่น", headers=headers).get_json()
    assert [d["license_plate"] for d in body["items"]] == ["กข 1234"] and body["next_before_id"] is None
    picture = client.get(f"/api/v1/detections/{detection_id}/image", headers=headers)
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg" and picture.data[:2] == b"\xff\xd8"
    assert client.get(f"/api/v1/detections/{detection_id}/image?which=plate", headers=headers).status_code == 404
    routes = {(re.sub(r"<int:(\w+)>", r"{\1}", r.rule.removeprefix("/api/v1")), method.lower())
              for r in client.application.url_map.iter_rules() if r.rule.startswith("/api/v1")
              for method in r.methods - {"HEAD", "OPTIONS"}}
    assert routes == {(path, method) for path, item in doc["paths"].items() for method in item}


def test_keys_are_checked(api, sqlite_url):
    """No key, a wrong key, a revoked key and a browser-style cookie are all refused with 401 JSON."""
    client, headers, engine = api
    assert client.get("/api/v1/checkpoints").status_code == 401
    wrong = client.get("/api/v1/checkpoints", headers={"Authorization": "Bearer ak_" + "x" * 43})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "unauthorized"
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/checkpoints", headers={"Authorization": "Basic " + "x" * 20}).status_code == 401
    assert client.get("/api/v1/checkpoints", headers=headers).status_code == 200
    apikeys.revoke(engine, "parking")
    assert client.get("/api/v1/checkpoints", headers=headers).status_code == 401
    assert client.post("/api/v1/checkpoints", headers=headers).status_code in (401, 405)


def test_bad_parameters_are_400_and_reads_are_audited(api):
    """Wrong numbers, times and states get 400 with a message; searches and views are audited per key."""
    client, headers, engine = api
    for query in ("limit=501", "before_id=x", "since=yesterday", "min_confidence=200",
                  f"since={datetime.now(UTC).isoformat()}&until={(datetime.now(UTC) - timedelta(days=1)).isoformat()}"):
        response = client.get("/api/v1/detections?" + query, headers=headers)
        assert response.status_code == 400 and response.get_json()["error"] == "bad_parameter", query
    assert client.get("/api/v1/alerts?state=nope", headers=headers).status_code == 400
    detection_id = add_detection(engine, "XY99", "gate-1")
    client.get(f"/api/v1/detections/{detection_id}", headers=headers)
    client.get("/api/v1/detections?plate=XY", headers=headers)
    actions = [(e.actor, e.action, e.plate) for e in entries(engine)]
    assert ("apikey:parking", "api.view", "XY99") in actions and ("apikey:parking", "api.search", "XY") in actions


@pytest.mark.slow
def test_apikeys_cli(sqlite_url):
    """add prints the key alone on the last line; list hides it; a repeat name or bad role is refused; revoke."""
    added = _run(sqlite_url, "apikeys", "add", "grafana")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("ak_") and len(key) > 40
    listing = _run(sqlite_url, "apikeys", "list").stdout
    assert "grafana" in listing and "viewer" in listing and key not in listing and "live" in listing
    again = _run(sqlite_url, "apikeys", "add", "grafana")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert _run(sqlite_url, "apikeys", "add", "x", "--role", "root").returncode == 2
    assert _run(sqlite_url, "apikeys", "add", "bad name").returncode == 1
    assert _run(sqlite_url, "apikeys", "revoke", "grafana").returncode == 0
    assert "revoked" in _run(sqlite_url, "apikeys", "list").stdout
    assert _run(sqlite_url, "apikeys", "revoke", "grafana").returncode == 1


def test_admin_keys_acknowledge_and_edit_the_watchlist(api):
    """An admin key acknowledges (audited, answers match the document) and adds/removes entries; a viewer key
    gets 403 for every write; repeats get 404/409."""
    client, viewer, engine = api
    _, secret = apikeys.create(engine, "ops", "admin")
    admin = {"Authorization": f"Bearer {secret}"}
    doc = client.get("/api/v1/openapi.json").get_json()
    with engine.begin() as conn:
        alert = alerts.raise_alert(conn, Rule.OFFLINE, "checkpoint:gate-9", "gate-9", {}, datetime.now(UTC), ())
    path = f"/api/v1/alerts/{alert.id}/acknowledge"
    assert client.post(path, headers=viewer).status_code == 403
    done = client.post(path, headers=admin)
    assert done.status_code == 200 and done.get_json()["acknowledged_by"] == "apikey:ops"
    validator(doc, "Alert").validate(done.get_json())
    assert client.post(path, headers=admin).status_code == 409
    assert client.post("/api/v1/alerts/999999/acknowledge", headers=admin).status_code == 404
    new = {"pattern": "กข 99", "province": "ภูเก็ต", "note": "api", "expires_at": "2027-01-31", "tolerance": 1}
    assert client.post("/api/v1/watchlist", json=new, headers=viewer).status_code == 403
    added = client.post("/api/v1/watchlist", json=new, headers=admin)
    assert added.status_code == 201 and added.get_json()["pattern"] == "กข99"
    validator(doc, "WatchEntry").validate(added.get_json())
    assert client.post("/api/v1/watchlist", json=new, headers=admin).status_code == 409
    bad = client.post("/api/v1/watchlist", json={"pattern": "AB1", "province": "Atlantis"}, headers=admin)
    assert bad.status_code == 400 and "province" in bad.get_json()["message"]
    assert client.post("/api/v1/watchlist", data="x", headers=admin).status_code == 400
    entry_id = added.get_json()["id"]
    assert client.delete(f"/api/v1/watchlist/{entry_id}", headers=viewer).status_code == 403
    assert client.delete(f"/api/v1/watchlist/{entry_id}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/watchlist/{entry_id}", headers=admin).status_code == 404
    actions = [(e.actor, e.action) for e in entries(engine)]
    assert {("apikey:ops", "alert.acknowledge"), ("apikey:ops", "list.add"), ("apikey:ops", "list.remove")} \
        <= set(actions)
