"""The dashboard's /healthz and /metrics: no login needed, /metrics only for allowed addresses."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.dashboard.support import add_checkpoint, add_health


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_needs_no_login(app):
    """A load balancer gets 200 and a tiny JSON without logging in."""
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_metrics_for_prometheus(app, admin, sqlite_engine):
    """Requests are counted by endpoint; the fleet gauges are the ingest's; Prometheus parses the page."""
    add_checkpoint(sqlite_engine, "gate-1")
    add_health(sqlite_engine, "gate-1", temperature_c=58.0)
    admin.get("/")
    response = app.test_client().get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    m = samples(response.get_data(as_text=True))
    assert m[("aicamera_dashboard_requests_total", (("endpoint", "fleet.overview"), ("status", "200")))] == 1
    assert m[("aicamera_checkpoint_temperature_celsius", (("checkpoint", "gate-1"), ("site", "")))] == 58.0
    assert m[("aicamera_checkpoint_up", (("checkpoint", "gate-1"), ("site", "")))] == 1
    assert ("aicamera_dashboard_sockets", ()) in m and ("aicamera_alerts_open", (("rule", "watchlist"),)) in m


def test_metrics_refused_to_other_addresses_and_forged_headers(app):
    """From outside the allowed networks /metrics is 403, and X-Forwarded-For is not believed without proxies."""
    client = app.test_client()
    outside = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    forged = client.get("/metrics", environ_base=outside, headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 403
    assert client.get("/healthz", environ_base=outside).status_code == 200
