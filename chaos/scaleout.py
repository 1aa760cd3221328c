"""Scale-out on real engines: two ingest processes sharing one port on PostgreSQL, two dashboards on Redis.

100 checkpoints send lockstep at a fixed total rate; a headless Chromium page on
each dashboard records every ``detection`` event it receives. Reported:
throughput, ack p99 (send → success answer), event p99 at each dashboard
(ack → browser, same clock), and that every acknowledged detection is stored
once and reached both browsers.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text
from websockets.asyncio.client import connect

from central_server import auth
from chaos.report import Outcome
from tests.dashboard.stack import CHROMIUM, CHROMIUM_ARGS, dashboard_env, dashboard_process, free_port
from tests.support.databases import throwaway_postgres
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_process, ingest_settings
from tests.support.messages import detection, dumps

PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
RECORDER = """() => { window.__rx = {}; window.fleetSocket.on('detection', (d) => {
    if (String(d.checkpoint_id).startsWith('scale-')) window.__rx[d.id] = Date.now(); }); }"""


async def _checkpoint(url, checkpoint_id, token, template, rate, seconds, acks, latencies, errors):
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, compression=None) as ws:
        await asyncio.sleep(random.random() / rate)
        next_at = time.monotonic()
        end = next_at + seconds
        while next_at < end:
            sent = time.monotonic()
            await ws.send(template.replace(PLACEHOLDER, str(uuid.uuid4())))
            answer = json.loads(await ws.recv())
            if answer.get("status") == "success":
                acks[answer["record_id"]] = time.time() * 1000
                latencies.append((time.monotonic() - sent) * 1000)
            else:
                errors.append(answer.get("code"))
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def _drive(url: str, tokens: dict[str, str], total_rate: float, seconds: float):
    jpeg = scene_jpeg(320, 240, quality=70)
    acks: dict[int, float] = {}
    latencies: list[float] = []
    errors: list[str] = []
    rate = total_rate / len(tokens)

    async def main():
        await asyncio.gather(*(
            _checkpoint(url, cp, tok, dumps(detection(jpeg, checkpoint_id=cp, event_id=PLACEHOLDER)), rate,
                        seconds, acks, latencies, errors) for cp, tok in tokens.items()))

    started = time.monotonic()
    asyncio.run(main())
    return acks, latencies, errors, time.monotonic() - started


def _pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def _login(page, base: str, password: str) -> None:
    page.goto(base + "/login")
    if page.locator("input[name=password]").count():
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
    page.wait_for_selector("#fleet", timeout=20_000)


def scale_out(workdir: Path, pg_admin_url: str, redis_url: str, checkpoints: int = 100,
              total_rate: float = 500, seconds: float = 60) -> Outcome:
    """Run the scale-out scenario; ``Outcome.extra`` holds the figures."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard.stack import ADMIN_PASSWORD

    with throwaway_postgres(pg_admin_url, prefix="fleet_scale") as db_url:
        settings = ingest_settings(db_url, workdir, redis_url=redis_url, ingest_reuse_port=True)
        port = free_port()
        with ingest_process(settings, port=port, log_path=workdir / "ingest1.log") as one, \
                ingest_process(settings, port=port, log_path=workdir / "ingest2.log"):
            engine = one.engine()
            tokens = {f"scale-{i:03d}": auth.add_checkpoint(engine, f"scale-{i:03d}") for i in range(checkpoints)}
            envs = [dashboard_env(db_url, settings.image_dir, free_port(), workdir, redis_url=redis_url)
                    for _ in range(2)]
            with dashboard_process(envs[0], workdir / "dash1.log") as d1, \
                    dashboard_process(envs[1], workdir / "dash2.log") as d2, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                pages = []
                for dash in (d1, d2):
                    page = browser.new_context().new_page()
                    _login(page, dash.url, ADMIN_PASSWORD)
                    page.goto(dash.url + "/statistics")  # a page without a growing table: the socket is the point
                    page.wait_for_selector("#conn.up", timeout=20_000)
                    page.evaluate(RECORDER)
                    pages.append(page)
                with ThreadPoolExecutor(1) as pool:
                    acks, ack_ms, errors, wall = pool.submit(_drive, one.url, tokens, total_rate, seconds).result()
                pages[0].wait_for_timeout(3000)
                received = [{int(k): v for k, v in page.evaluate("() => window.__rx").items()} for page in pages]
                browser.close()
            with engine.connect() as conn:
                stored, distinct = conn.execute(text(
                    "SELECT count(*), count(DISTINCT (checkpoint_id, event_id)) FROM lpr_detections")).one()
            engine.dispose()
    event_ms = [[rx[i] - acks[i] for i in acks if i in rx] for rx in received]
    seen_by_both = sum(1 for i in acks if i in received[0] and i in received[1])
    outcome = Outcome(f"scale-out: 2 ingest (shared port, PostgreSQL) + 2 dashboards (Redis), {checkpoints} "
                      f"checkpoints at {total_rate:.0f}/s for {seconds:.0f} s", len(acks) + len(errors), stored,
                      stored - distinct, max(0, len(acks) - distinct))
    outcome.notes += [f"{len(acks) / wall:.0f} acked/s", f"ack p99 {_pct(ack_ms, 99):.0f} ms",
                      f"event p99 {_pct(event_ms[0], 99):.0f} / {_pct(event_ms[1], 99):.0f} ms at the two dashboards",
                      f"seen by both {seen_by_both}/{len(acks)}", f"{len(errors)} refusals"]
    outcome.extra = {"acked": len(acks), "rate": len(acks) / wall, "ack_p99": _pct(ack_ms, 99),
                     "event_p99": [_pct(m, 99) for m in event_ms], "seen_by_both": seen_by_both,
                     "stored": stored, "distinct": distinct, "errors": errors}
    return outcome
