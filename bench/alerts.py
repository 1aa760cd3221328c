"""Alert benchmarks: watchlist matching cost per stored detection, and detection ack -> webhook delivery.

    python -m bench.alerts               # both
    python -m bench.alerts match delivery

- match: a 10,000-entry watchlist (mixes of exact plates, one-character
  tolerance and wildcard patterns), 20,000 random reads of which 1 % are
  listed. Per detection: the index lookup alone (``ListIndex.matching``), the
  matcher as the writer runs it inside its SQLite transaction
  (``WatchMatcher.match``: list change check + lookup + the hits' alert and
  delivery rows; batches of 1 and of 50; the commit is the detections' own and
  not counted), and the rule applied to every entry in turn (what a scan
  without the index costs). Also the time to build the index after a change.
- delivery: a real ``python -m central_server`` (SQLite) with 1,000 listed
  plates and a webhook receiver on 127.0.0.1; 20 checkpoints send 100
  detections/s in total for 10 s over protocol v1, each a different listed
  plate. Latency = webhook receive time - the sender's ack time (same clock).

Prints markdown tables.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from websockets.asyncio.client import connect

from central_server import auth
from demo.standin import random_plate
from fleet_store import alerts, db, lists
from fleet_store.alerts import WatchMatcher
from fleet_store.lists import EntryFields, ListIndex, ListKind, catches, normalise
from fleet_store.records import StoredDetection
from fleet_store.schema import alert_deliveries, lpr_detections
from fleet_store.schema import alerts as alerts_table
from tests.support.ingest import ingest_process, ingest_settings
from tests.support.messages import detection, dumps
from tests.support.receivers import WebhookReceiver, free_port

NOW = datetime.now(UTC)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def _entries(rng: random.Random, n: int, tolerant: float, wild: float) -> list[EntryFields]:
    seen, out = set(), []
    while len(out) < n:
        plate = normalise(random_plate(rng))
        r = rng.random()
        if r < wild:
            pattern, tolerance = plate[:-2] + "*", 0
        else:
            pattern, tolerance = plate, int(r < wild + tolerant)
        if pattern not in seen:
            seen.add(pattern)
            out.append(EntryFields(pattern, tolerance=tolerance))
    return out


def _reads(rng: random.Random, fields: list[EntryFields], n: int) -> list[str]:
    listed = [f.pattern for f in fields if "*" not in f.pattern]
    return [rng.choice(listed) if rng.random() < 0.01 else normalise(random_plate(rng)) for _ in range(n)]


def _per_call_us(func, items, repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            func(item)
    return (time.perf_counter() - started) / (len(items) * repeat) * 1e6


def bench_match() -> None:
    rng = random.Random(15)
    mixes = [("10,000 exact", 0.0, 0.0), ("9,000 exact + 1,000 tolerance 1", 0.1, 0.0),
             ("9,500 exact + 500 wildcard", 0.0, 0.05)]
    print("| watchlist (10,000 entries) | build index | lookup / read | matcher, batch of 1 / read | "
          "matcher, batch of 50 / read | rule on every entry / read |")
    print("|---|---|---|---|---|---|")
    for label, tolerant, wild in mixes:
        fields = _entries(rng, 10_000, tolerant, wild)
        reads = _reads(rng, fields, 20_000)
        with tempfile.TemporaryDirectory() as tmp:
            engine = db.make_engine(f"sqlite:///{tmp}/bench.db")
            db.upgrade(engine)
            lists.import_csv(engine, ListKind.WATCH, _csv(fields), "bench", UTC)
            entries = lists.list_entries(engine, ListKind.WATCH)
            started = time.perf_counter()
            index = ListIndex(entries)
            build_ms = (time.perf_counter() - started) * 1000
            lookup = _per_call_us(lambda p, index=index: index.matching(p, "", NOW), reads)
            one, fifty = _matcher_cost(engine, reads, 1), _matcher_cost(engine, reads, 50)
            scan = _per_call_us(lambda p, entries=entries: [e for e in entries if catches(e, p, "", NOW)], reads[:50])
            engine.dispose()
        print(f"| {label} | {build_ms:.0f} ms | {lookup:.1f} µs | {one:.0f} µs | {fifty:.1f} µs | {scan:,.0f} µs |")


def _csv(fields: list[EntryFields]) -> str:
    return "plate,tolerance\n" + "".join(f"{f.pattern},{f.tolerance}\n" for f in fields)


def _matcher_cost(engine, reads: list[str], batch: int) -> float:
    """µs per detection of WatchMatcher.match inside the writer's transaction (its commit not counted:
    the detections' own commit carries the alert rows)."""
    matcher = WatchMatcher(("webhook",))
    with engine.begin() as conn:
        matcher.index(conn)  # built once; a list change costs "build index" once
    detections = [StoredDetection(i, "gate", None, p, "", 90.0, NOW, NOW, "", "", None, None, False, False)
                  for i, p in enumerate(reads[:5000])]
    elapsed = 0.0
    for start in range(0, len(detections), batch):
        with engine.begin() as conn:
            started = time.perf_counter()
            matcher.match(conn, detections[start:start + batch], NOW)
            elapsed += time.perf_counter() - started
    with engine.begin() as conn:  # leave no alerts for the next run
        conn.execute(alert_deliveries.delete())
        conn.execute(alerts_table.delete())
    return elapsed / len(detections) * 1e6


# --------------------------------------------------------------------------- delivery


async def _checkpoint(url: str, token: str, checkpoint_id: str, plates: list[str], rate: float,
                      acked: dict[str, float]) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        async def receive():
            for _ in plates:
                answer = json.loads(await ws.recv())
                acked[answer["event_id"]] = time.monotonic()

        reader = asyncio.create_task(receive())
        start = time.monotonic()
        for n, plate in enumerate(plates):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            await ws.send(dumps(detection(None, checkpoint_id, license_plate=plate)))
        await asyncio.wait_for(reader, 30)


def bench_delivery(total_rate: float = 100, seconds: float = 10, checkpoints: int = 20) -> None:
    rng = random.Random(16)
    plates = list(dict.fromkeys(normalise(random_plate(rng)) for _ in range(3000)))[:1000]
    receiver = WebhookReceiver(free_port())
    received: dict[int, float] = {}
    original = receiver.answer

    def answer(request):
        received.setdefault(json.loads(request.body)["detail"]["detection_id"], time.monotonic())
        return original(request)

    receiver.answer = answer
    receiver.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ingest_settings(f"sqlite:///{tmp}/central.db", Path(tmp), alert_webhook_url=receiver.url,
                                   alert_webhook_secret="bench", log_level="WARNING")
        engine = db.make_engine(settings.central_db_url)
        db.upgrade(engine)
        lists.import_csv(engine, ListKind.WATCH, "plate\n" + "\n".join(plates) + "\n", "bench", UTC)
        tokens = {f"cp{i}": auth.add_checkpoint(engine, f"cp{i}") for i in range(checkpoints)}
        per = int(total_rate * seconds / checkpoints)
        with ingest_process(settings) as server:
            acked: dict[str, float] = {}

            async def run():
                await asyncio.gather(*(_checkpoint(server.url, token, cp, plates[i * per:(i + 1) * per],
                                                   total_rate / checkpoints, acked)
                                       for i, (cp, token) in enumerate(tokens.items())))

            asyncio.run(run())
            deadline = time.monotonic() + 30
            while len(received) < per * checkpoints and time.monotonic() < deadline:
                time.sleep(0.1)
            ids = _event_ids(engine)
        rows = alerts.deliveries(engine)
        engine.dispose()
    receiver.stop()
    latencies = [(received[d] - acked[e]) * 1000 for d, e in ids.items() if d in received and e in acked]
    duplicates = len(receiver.received) - len(received)
    print("| detections/s | watchlist | alerts | delivered | duplicates | ack → webhook p50 | p99 | max |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {total_rate:.0f} ({checkpoints} checkpoints, {seconds:.0f} s) | {len(plates):,} | {len(rows)} | "
          f"{sum(r.delivered_at is not None for r in rows)} | {duplicates} | {_pct(latencies, 50):.1f} ms | "
          f"{_pct(latencies, 99):.1f} ms | {max(latencies):.1f} ms |")


def _event_ids(engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {r.id: r.event_id for r in conn.execute(select(lpr_detections.c.id, lpr_detections.c.event_id))}


def main(argv: list[str] | None = None) -> None:
    names = argv if argv else ["match", "delivery"]
    if "match" in names:
        print("### Watchlist matching per stored detection (SQLite file, this machine)\n")
        bench_match()
    if "delivery" in names:
        print("\n### Detection ack → webhook delivery (real ingest process, SQLite)\n")
        bench_delivery()


if __name__ == "__main__":
    main(sys.argv[1:])
