"""The dispatcher on its own: two of them (two ingest processes) on one queue never send a notification twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

from central_server.dispatch import Dispatcher
from central_server.notify import WebhookChannel
from fleet_store import alerts, db
from fleet_store.alerts import Rule
from tests.support.receivers import WebhookReceiver, wait_for


class _SlowReceiver(WebhookReceiver):
    def answer(self, request):
        time.sleep(0.02)
        return super().answer(request)


def test_two_dispatchers_share_the_queue_without_duplicates(db_url):
    """60 queued webhooks drained by two dispatchers at once reach the receiver exactly once each."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for n in range(60):
            alerts.raise_alert(conn, Rule.OFFLINE, f"checkpoint:{n}", str(n), {}, now, ("webhook",))
    receiver = _SlowReceiver().start()  # a receiver that takes its time, so both dispatchers get work
    engines = [db.make_engine(db_url) for _ in range(2)]
    dispatchers = [Dispatcher(e, {"webhook": WebhookChannel(receiver.url, "k")}, poll=0.05, batch=7) for e in engines]
    try:
        threads = [threading.Thread(target=d.start) for d in dispatchers]
        for t in threads:
            t.start()
        wait_for(lambda: sum(r.delivered_at is not None for r in alerts.deliveries(engine)) == 60, 30)
    finally:
        for d in dispatchers:
            d.stop()
        receiver.stop()
        for e in engines + [engine]:
            e.dispose()
    keys = Counter(r.headers["idempotency-key"] for r in receiver.received)
    assert len(keys) == 60 and max(keys.values()) == 1
    assert all(d.stats["delivered"] > 0 for d in dispatchers)  # both took part
