"""``GET /healthz`` and ``GET /metrics`` of the dashboard (no login; ``/metrics`` only for allowed networks).

``/healthz`` answers 200 ``{"status": "ok"}`` while the database answers, 503
otherwise (no error text: it needs no login). ``/metrics`` is the Prometheus
page: requests by endpoint and status, their latency, open Socket.IO
connections, and the fleet gauges every central process exports
(``fleet_store.monitoring.FleetCollector``), for client addresses in
``DASHBOARD_METRICS_ALLOW`` (403 otherwise; behind nginx the address is the
one ``DASHBOARD_TRUSTED_PROXIES`` lets through). Names in docs/alerts.md.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fleet_store.monitoring import FleetCollector, address_allowed, parse_networks

from .context import fleet

bp = Blueprint("monitoring", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DashboardMetrics:
    """One app's registry."""

    def __init__(self, app: Flask):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("aicamera_dashboard_requests", "HTTP requests answered, by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.seconds = Histogram("aicamera_dashboard_request_seconds", "time to answer, by endpoint", ["endpoint"],
                                 registry=self.registry, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.registry.register(_Sockets(app))
        self.registry.register(FleetCollector(app.extensions["fleet"].engine))


class _Sockets:
    def __init__(self, app: Flask):
        self.app = app

    def describe(self):
        return []

    def collect(self):
        sockets = self.app.extensions["fleet"].sockets
        yield GaugeMetricFamily("aicamera_dashboard_sockets", "open Socket.IO connections of this process",
                                value=len(sockets._sockets) if sockets is not None else 0)


def init_app(app: Flask) -> None:
    """Count every request; register the routes."""
    metrics = app.extensions["dashboard_metrics"] = DashboardMetrics(app)
    allowed = parse_networks(app.extensions["fleet"].settings.dashboard_metrics_allow)
    app.extensions["metrics_allowed"] = allowed

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        endpoint = request.endpoint or "unknown"
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        if "started" in g:
            metrics.seconds.labels(endpoint).observe(time.perf_counter() - g.started)
        return response

    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    try:
        with fleet().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError:
        response = jsonify(status="degraded", database="unavailable")
        response.status_code = 503
    else:
        response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics():
    if not address_allowed(request.remote_addr or "", current_app.extensions["metrics_allowed"]):
        return Response("forbidden\n", 403, mimetype="text/plain")
    body = generate_latest(current_app.extensions["dashboard_metrics"].registry)
    return Response(body, 200, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
