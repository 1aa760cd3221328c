"""Central-side scenarios: PostgreSQL restarted under load, and a wire fuzzer beside valid traffic."""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import func, select
from websockets.asyncio.client import connect

from chaos.pg import private_postgres
from chaos.report import Outcome
from chaos.sender import SenderStats, send_all
from fleet_store.schema import lpr_detections
from tests.support.images import scene_jpeg
from tests.support.ingest import ingest_process, ingest_settings
from tests.support.messages import detection, dumps


def frames(checkpoint_id: str, count: int, jpeg: bytes) -> dict[str, str]:
    """``count`` valid detections for one checkpoint, keyed by event id."""
    out = {}
    for i in range(count):
        event_id = str(uuid.uuid4())
        out[event_id] = dumps(detection(jpeg, checkpoint_id=checkpoint_id, event_id=event_id,
                                        license_plate=f"C{i}"))
    return out


def stored_events(engine) -> collections.Counter:
    with engine.connect() as conn:
        rows = conn.execute(select(lpr_detections.c.event_id)).scalars().all()
    return collections.Counter(rows)


def _healthz(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return json.loads(response.read())["status"]
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())["status"]
    except OSError:
        return "down"


def postgres_restart(workdir: Path, checkpoints: int = 5, per_checkpoint: int = 400,
                     down_seconds: float = 3.0, rate_per_checkpoint: float = 40.0) -> Outcome:
    """Restart PostgreSQL twice while checkpoints stream; every ack must be stored, once."""
    jpeg = scene_jpeg(seed=3)
    with private_postgres() as pg:
        settings = ingest_settings(pg.url, workdir)
        with ingest_process(settings, log_path=workdir / "ingest.log") as server:
            tokens = {f"pg{i}": server.add_checkpoint(f"pg{i}") for i in range(checkpoints)}
            work = {cp: frames(cp, per_checkpoint, jpeg) for cp in tokens}
            health_seen: set[str] = set()
            stats = {cp: SenderStats() for cp in tokens}

            async def scenario() -> float:
                senders = [asyncio.create_task(send_all(server.url, tokens[cp], work[cp], 16, 180, stats[cp],
                                                            1 / rate_per_checkpoint))
                           for cp in tokens]
                await asyncio.sleep(1.0)
                recovery = 0.0
                for _ in range(2):
                    await asyncio.to_thread(pg.stop)
                    for _ in range(int(down_seconds / 0.1)):
                        health_seen.add(await asyncio.to_thread(_healthz, server.port))
                        await asyncio.sleep(0.1)
                    started = time.monotonic()
                    await asyncio.to_thread(pg.start)
                    while await asyncio.to_thread(_healthz, server.port) != "ok":
                        await asyncio.sleep(0.05)
                    recovery = max(recovery, time.monotonic() - started)
                    await asyncio.sleep(1.0)
                await asyncio.gather(*senders)
                return recovery

            recovery = asyncio.run(scenario())
            engine = server.engine()
            counts = stored_events(engine)
            engine.dispose()
    sent = sum(len(w) for w in work.values())
    acked = set().union(*(s.acked for s in stats.values()))
    refusals = sum((s.refusals for s in stats.values()), collections.Counter())
    reconnects = sum(s.reconnects for s in stats.values())
    outcome = Outcome("PostgreSQL restarted twice under load (central on PostgreSQL)", sent, len(counts),
                      sum(c - 1 for c in counts.values() if c > 1), len(acked - set(counts)), recovery)
    outcome.notes.append(f"{refusals.get('unavailable', 0)} 'unavailable' answers while down")
    outcome.notes.append(f"healthz saw {sorted(health_seen)}")
    outcome.notes.append(f"{reconnects} reconnects")
    outcome.extra = {"refusals": refusals, "reconnects": reconnects, "health": health_seen, "acked": len(acked)}
    return outcome


# --------------------------------------------------------------------------- fuzzing


def hostile_frames(rng: random.Random, jpeg: bytes, own: str, other: str) -> list[str | bytes]:
    """A varied batch of malformed or hostile frames (each must be refused)."""
    valid = dumps(detection(jpeg, checkpoint_id=own))
    bomb = bytearray(jpeg)
    sof = bomb.index(b"\xff\xc0")
    bomb[sof + 5: sof + 9] = (65000).to_bytes(2, "big") * 2
    makers = [
        lambda: valid[: rng.randint(1, len(valid) - 2)],                              # cut JSON
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))),       # binary junk
        lambda: "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 100))),
        lambda: dumps(detection(None, checkpoint_id=own, confidence=rng.choice(["x", [], {}, True, -5, 1e9]))),
        lambda: dumps(detection(None, checkpoint_id=own, license_plate=rng.choice(
            ["'; DROP TABLE lpr_detections; --", "<script>alert(1)</script>", "A" * 5000, "", 42]))),
        lambda: dumps(detection(None, checkpoint_id=own, hostname="<img src=x onerror=alert(1)>")),
        lambda: dumps(detection(None, checkpoint_id=own, image="data:image/jpeg;base64," + "%" * 400)),
        lambda: dumps(detection(jpeg[: rng.randint(200, len(jpeg) - 10)], checkpoint_id=own)),
        lambda: dumps(detection(bytes(bomb), checkpoint_id=own)),
        lambda: dumps(detection(None, checkpoint_id=other)),                          # another checkpoint
        lambda: dumps(detection(None, checkpoint_id=own, timestamp=rng.choice(
            ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "not a time", "2024-13-45T99:99:99"]))),
        lambda: dumps(detection(None, checkpoint_id=own, junk="z" * 20000)),
        lambda: dumps({"table": rng.choice(["users", "lpr_detections; --", None, 7]), "action": "insert"}),
        lambda: dumps({"table": "lpr_detection", "action": rng.choice(["delete", "update", "", None])}),
        lambda: "[" * 5000 + "]" * 5000,
        lambda: dumps(detection(None, checkpoint_id=own, event_id="' OR 1=1 --")),
    ]
    return [rng.choice(makers)() for _ in range(200)]


async def _fuzz_connection(url: str, token: str, batches: list[list], counts: collections.Counter) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None,
                       compression=None) as ws:
        for batch in batches:
            for frame in batch:
                await ws.send(frame)
            for _ in batch:
                answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
                counts[answer["status"] if answer["status"] == "success" else answer.get("code")] += 1


async def _valid_latencies(url: str, token: str, cp: str, jpeg: bytes, seconds: float) -> list[float]:
    latencies = []
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, compression=None) as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            await ws.send(dumps(detection(jpeg, checkpoint_id=cp)))
            answer = json.loads(await ws.recv())
            assert answer["status"] == "success", answer
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.02)
    return latencies


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))] * 1000


def wire_fuzz(workdir: Path, db_url: str, total: int = 10_000, connections: int = 4, seed: int = 7) -> Outcome:
    """``total`` hostile frames over ``connections`` sockets beside one valid sender."""
    jpeg = scene_jpeg(seed=5)
    rng = random.Random(seed)
    settings = ingest_settings(db_url, workdir, ingest_error_budget=1_000_000)
    with ingest_process(settings, log_path=workdir / "ingest.log") as server:
        tokens = {f"fz{i}": server.add_checkpoint(f"fz{i}") for i in range(connections)}
        valid_token = server.add_checkpoint("valid")
        per_conn = max(1, -(-total // (connections * 200)))  # batches of 200, at least `total` in all
        plans = {cp: [hostile_frames(rng, jpeg, cp, "valid") for _ in range(per_conn)] for cp in tokens}
        counts: collections.Counter = collections.Counter()

        def valid(seconds: float) -> list[float]:
            # Its own thread and event loop, so the fuzzers' client work doesn't delay it.
            return asyncio.run(_valid_latencies(server.url, valid_token, "valid", jpeg, seconds))

        async def scenario() -> tuple[list[float], list[float]]:
            baseline = await asyncio.to_thread(valid, 2.0)
            fuzzers = [asyncio.create_task(_fuzz_connection(server.url, tokens[cp], plans[cp], counts))
                       for cp in tokens]
            during = []
            while not all(f.done() for f in fuzzers):
                during += await asyncio.to_thread(valid, 1.0)
            await asyncio.gather(*fuzzers)
            return baseline, during

        baseline, during = asyncio.run(scenario())
        alive = _healthz(server.port) == "ok"
        engine = server.engine()
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(lpr_detections)).scalar()
        engine.dispose()
        images = len(list(settings.image_dir.rglob("*.jpg")))
    sent = sum(len(b) for plan in plans.values() for b in plan)
    valid_sent = len(baseline) + len(during)
    outcome = Outcome(f"wire fuzz: {sent} hostile frames on {connections} connections + valid sender",
                      sent, stored - valid_sent, 0, 0)
    outcome.notes.append(f"answers {dict(counts.most_common())}")
    outcome.notes.append(f"valid p99 {_p99(baseline):.1f} ms alone, {_p99(during):.1f} ms during fuzz")
    outcome.notes.append("server healthy after" if alive else "SERVER UNHEALTHY AFTER")
    outcome.extra = {"counts": counts, "alive": alive, "valid": valid_sent, "stored": stored, "images": images,
                     "baseline_p99_ms": _p99(baseline), "during_p99_ms": _p99(during)}
    return outcome
