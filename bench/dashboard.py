"""Dashboard benchmarks: live latency to a real browser, partial-plate search at 1M rows, big-fleet overview.

    python -m bench.dashboard              # all three
    python -m bench.dashboard live search pages

- live: 100 checkpoints send 200 detections/s in total over protocol v1 to a
  real ``python -m central_server``; a headless Chromium on the dashboard's
  live page records when each ``detection`` event arrives. Latency = browser
  receive time - the sender's ack time (same clock). Without Redis (the
  dashboard follows the database) and with Redis (the ingest publishes).
- search: 1,000,000 detections (bulk Core/COPY inserts), 200 random plate
  parts of 3-5 characters taken from stored plates (Thai and Latin); time of
  one result page (50 rows) through ``dashboard.search.search``.
- pages: the volume fixture (tests/support/volume.py: 500 checkpoints, 100,000
  detections over 30 days, a day of health from every component) on SQLite and
  PostgreSQL; render time of every page (20 renders each; the search's Older
  pages included) through the real app, p50 and p95.

Prints markdown tables. Targets: live p99 <= 150 ms (no Redis) / 50 ms
(Redis); search p95 <= 200 ms on SQLite and PostgreSQL; overview <= 1 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from websockets.asyncio.client import connect

from central_server import auth
from demo.standin import random_plate
from fleet_store import db
from fleet_store.schema import lpr_detections
from tests.dashboard.stack import (
    ADMIN_PASSWORD,
    CHROMIUM,
    CHROMIUM_ARGS,
    dashboard_env,
    dashboard_process,
    free_port,
)
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_process, ingest_settings
from tests.support.messages import detection, dumps

PG_ADMIN = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- live latency


WARMUP = 2.0  # seconds of load before measuring (connections and caches settle)


async def _sender(url: str, checkpoint_id: str, token: str, jpeg: bytes, rate: float, seconds: float,
                  acks: dict[int, float]) -> None:
    """One checkpoint: ``rate`` detections/s, lockstep; records wall-clock ack times after the warm-up."""
    headers = {"Authorization": f"Bearer {token}"}
    template = dumps(detection(jpeg, checkpoint_id=checkpoint_id, event_id="00000000-0000-4000-8000-000000000000"))
    async with connect(url, additional_headers=headers, compression=None, max_size=2**23) as ws:
        await asyncio.sleep(random.random() / rate)  # spread the checkpoints over the interval
        next_at = time.monotonic()
        measure_from, end = next_at + WARMUP, next_at + WARMUP + seconds
        while next_at < end:
            await ws.send(template.replace("00000000-0000-4000-8000-000000000000", str(uuid.uuid4())))
            answer = json.loads(await ws.recv())
            if answer.get("status") == "success" and time.monotonic() >= measure_from:
                acks[answer["record_id"]] = time.time() * 1000
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def _drive(url: str, tokens: dict[str, str], total_rate: float, seconds: float) -> dict[int, float]:
    jpeg = scene_jpeg(320, 240, quality=70)
    acks: dict[int, float] = {}
    rate = total_rate / len(tokens)

    async def main():
        await asyncio.gather(*(_sender(url, cp, tok, jpeg, rate, seconds, acks) for cp, tok in tokens.items()))

    asyncio.run(main())
    return acks


def live_latency(redis_url: str | None, checkpoints_n: int = 100, total_rate: float = 200,
                 seconds: float = 15, path: str = "/live", db_url: str | None = None) -> dict:
    """One live-latency run (SQLite unless ``db_url``); returns figures for the table."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        settings = ingest_settings(db_url or f"sqlite:///{tmp / 'central.db'}", tmp, redis_url=redis_url)
        with ingest_process(settings, log_path=tmp / "ingest.log") as ingest:
            engine = ingest.engine()
            tokens = {f"bench-{i:03d}": auth.add_checkpoint(engine, f"bench-{i:03d}") for i in range(checkpoints_n)}
            engine.dispose()
            env = dashboard_env(settings.central_db_url, settings.image_dir, free_port(), tmp, redis_url=redis_url)
            with dashboard_process(env, tmp / "dashboard.log") as dash, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                _browser_login(page, dash.url)
                page.goto(dash.url + path)
                page.wait_for_selector("#conn.up", timeout=15_000)
                page.evaluate(RECORDER)
                with ThreadPoolExecutor(1) as pool:
                    acks = pool.submit(_drive, ingest.url, tokens, total_rate, seconds).result()
                page.wait_for_timeout(1500)
                received = {int(k): v for k, v in page.evaluate("() => window.__rx").items()}
                browser.close()
    latencies = [received[i] - acks[i] for i in acks if i in received]
    return {"acked": len(acks), "received": len(latencies), "rate": len(acks) / seconds,
            "p50": _pct(latencies, 50), "p99": _pct(latencies, 99), "max": max(latencies, default=float("nan"))}


RECORDER = """() => { window.__rx = {}; window.fleetSocket.on('detection', (d) => {
    if (String(d.checkpoint_id).startsWith('bench-')) window.__rx[d.id] = Date.now(); }); }"""


def _browser_login(page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#fleet", timeout=15_000)


def bench_live() -> None:
    print("| live path (100 checkpoints, 200 det/s, 15 s) | acked | in browser | p50 ms | p99 ms | max ms "
          "| target p99 | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    runs = [("no Redis, SQLite (dashboard polls the DB every 50 ms)", None, 150, False)]
    if _port_open(5432):
        runs.append(("no Redis, PostgreSQL (dashboard polls at each commit's NOTIFY)", None, 150, True))
    if _port_open(6379):
        runs.append(("Redis message queue", REDIS, 50, False))
    for label, redis_url, target, postgres in runs:
        if postgres:
            with _pg_database() as url:
                r = live_latency(redis_url, db_url=url)
        else:
            r = live_latency(redis_url)
        print(f"| {label} | {r['acked']} ({r['rate']:.0f}/s) | {r['received']} | {r['p50']:.0f} | {r['p99']:.0f} "
              f"| {r['max']:.0f} | ≤ {target} | {os.getloadavg()[0]:.1f} |", flush=True)
    if not _port_open(6379):
        print("| Redis message queue | skipped: Redis not running on 127.0.0.1:6379 | | | | | | |")


# --------------------------------------------------------------------------- search


def _rows(n: int, rng: random.Random, start: datetime):
    cps = [f"cp-{i:03d}" for i in range(100)]
    for i in range(n):
        when = start + timedelta(seconds=i * 2.5)
        yield {"checkpoint_id": cps[i % 100], "license_plate": random_plate(rng),
               "confidence": round(rng.uniform(60, 99.9), 1), "timestamp": when, "received_at": when}


def fill_sqlite(engine, n: int, rng: random.Random) -> list[str]:
    """Insert ``n`` detections with Core executemany (the FTS triggers index them as they go)."""
    plates, batch = [], []
    start = datetime.now(UTC) - timedelta(days=30)
    with engine.begin() as conn:
        for row in _rows(n, rng, start):
            batch.append(row)
            if len(batch) == 50_000:
                conn.execute(insert(lpr_detections), batch)
                plates += [r["license_plate"] for r in batch[:50]]
                batch = []
        if batch:
            conn.execute(insert(lpr_detections), batch)
    return plates


def fill_postgres(engine, n: int, rng: random.Random) -> list[str]:
    """COPY ``n`` detections in, with the trigram index dropped during the load and rebuilt after."""
    plates = []
    start = datetime.now(UTC) - timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX IF EXISTS ix_lpr_detections_plate_trgm"))
        cursor = conn.connection.driver_connection.cursor()
        columns = "checkpoint_id, license_plate, confidence, timestamp, received_at"
        with cursor.copy(f"COPY lpr_detections ({columns}) FROM STDIN") as copy:
            for i, row in enumerate(_rows(n, rng, start)):
                naive = row["timestamp"].replace(tzinfo=None)
                copy.write_row((row["checkpoint_id"], row["license_plate"], row["confidence"], naive, naive))
                if i % 20_000 == 0:
                    plates.append(row["license_plate"])
        conn.execute(text("CREATE INDEX ix_lpr_detections_plate_trgm ON lpr_detections "
                          "USING gin (license_plate gin_trgm_ops)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE lpr_detections"))
    return plates


def _parts(plates: list[str], rng: random.Random, count: int = 200) -> list[str]:
    parts = []
    while len(parts) < count:
        plate = rng.choice(plates)
        size = rng.randint(3, min(5, len(plate)))
        start = rng.randint(0, len(plate) - size)
        part = plate[start:start + size]
        if part.strip() == part:
            parts.append(part)
    return parts


def time_searches(engine, parts: list[str]) -> tuple[list[float], int]:
    from dashboard.search import SearchQuery, search

    times, found = [], 0
    search(engine, SearchQuery(plate=parts[0]))  # warm the connection pool and caches
    for part in parts:
        started = time.perf_counter()
        page = search(engine, SearchQuery(plate=part))
        times.append((time.perf_counter() - started) * 1000)
        found += bool(page.rows)
    return times, found


def bench_search(n: int = 1_000_000) -> None:
    print(f"| partial-plate search, {n:,} rows | load s | queries | with hits | p50 ms | p95 ms | max ms "
          "| target p95 |")
    print("|---|---|---|---|---|---|---|---|")
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{tmp}/search.db")
        db.upgrade(engine)
        started = time.perf_counter()
        plates = fill_sqlite(engine, n, rng)
        _search_row("SQLite (FTS5 trigram)", engine, plates, time.perf_counter() - started, rng)
        engine.dispose()
    if not _port_open(5432):
        print("| PostgreSQL | skipped: not running on 127.0.0.1:5432 | | | | | | |")
        return
    with _pg_database() as url:
        engine = db.make_engine(url)
        db.upgrade(engine)
        started = time.perf_counter()
        plates = fill_postgres(engine, n, rng)
        _search_row("PostgreSQL (pg_trgm GIN)", engine, plates, time.perf_counter() - started, rng)
        engine.dispose()


def _search_row(label: str, engine, plates: list[str], load: float, rng: random.Random) -> None:
    times, found = time_searches(engine, _parts(plates, rng))
    print(f"| {label} | {load:.0f} | {len(times)} | {found} | {statistics.median(times):.1f} | {_pct(times, 95):.1f} "
          f"| {max(times):.1f} | ≤ 200 |", flush=True)


class _pg_database:
    """A throwaway PostgreSQL database (dropped on exit)."""

    def __enter__(self) -> str:
        from sqlalchemy import create_engine

        self.name = f"fleet_bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name

    def __exit__(self, *exc) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


# --------------------------------------------------------------------------- pages at volume


PAGES = ("/", "/live", "/checkpoints/cp-001", "/detections", "/detections?plate=กข", "/detections?province={province}",
         "{older}", "/statistics", "/statistics?by=day", "/watchlist", "/detections/{detail}",
         "/?state=problems", "/?site=Site C&q=Gate&page=2", "/statistics?view=hours", "/statistics?view=repeats",
         "/statistics?view=travel&from=cp-001&to=cp-011", "/audit", "/audit?action=search", "/users", "/allowlist")


def bench_pages(renders: int = 20) -> None:
    from tests.support.volume import fill_fleet

    print("| page at volume (500 checkpoints, 100,000 detections) | backend | p50 ms | p95 ms | target p95 |")
    print("|---|---|---|---|---|")
    backends = [("SQLite", None)] + ([("PostgreSQL", "pg")] if _port_open(5432) else [])
    for label, kind in backends:
        with tempfile.TemporaryDirectory() as tmp:
            if kind:
                with _pg_database() as url:
                    _page_rows(label, url, tmp, fill_fleet, renders)
            else:
                _page_rows(label, f"sqlite:///{tmp}/fleet.db", tmp, fill_fleet, renders)
    if not _port_open(5432):
        print("| (all pages) | PostgreSQL skipped: not running on 127.0.0.1:5432 | | | |")


def _logged_in_client(url: str, tmp: str, engine):
    from dashboard import create_app
    from dashboard.config import DashboardSettings
    from dashboard.users import Role, add_user

    add_user(engine, "bench", "bench-password", Role.ADMIN)
    settings = DashboardSettings(central_db_url=url, image_dir=Path(tmp) / "images", dashboard_secret_key="bench")
    client = create_app(settings, engine=engine, start_live=False, migrate=False).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": token})
    return client


def _page_rows(label: str, url: str, tmp: str, fill_fleet, renders: int) -> None:
    engine = db.make_engine(url)
    db.upgrade(engine)
    counts = fill_fleet(engine)
    client = _logged_in_client(url, tmp, engine)
    first = client.get(f"/detections?province={counts.repeat_province}").get_data(as_text=True)
    older = first.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
    detail = first.split('<tr data-id="')[1].split('"')[0]
    for template in PAGES:
        path = template.format(province=counts.repeat_province, older=older, detail=detail)
        times = []
        for _ in range(renders):
            started = time.perf_counter()
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            times.append((time.perf_counter() - started) * 1000)
        print(f"| `{path[:60]}` | {label} | {statistics.median(times):.0f} | {_pct(times, 95):.0f} | ≤ 1000 |",
              flush=True)
    engine.dispose()


# --------------------------------------------------------------------------- entry


PARTS = {"live": bench_live, "search": bench_search, "pages": bench_pages}


def main(argv: list[str] | None = None) -> None:
    names = argv if argv else list(PARTS)
    for name in names:
        if name == "live" and not os.path.exists(CHROMIUM):
            print("live: skipped (Debian chromium not installed)\n")
            continue
        PARTS[name]()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
