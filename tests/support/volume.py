"""The volume fixture: a fleet the size users run, written fast into a real central database.

    counts = fill_fleet(engine, checkpoints_n=500, detections=100_000)

500 checkpoints on 10 sites with names and positions (a few without), mixed
states; four components per checkpoint reporting every 10 minutes for a day
(with the health metrics as numbers); a day of connection events; detections
over the last 30 days, denser in the last day (Thai plates with provinces, one
in ten Latin), some seen at two checkpoints so travel-time and repeat-plate
statistics have something to find. Deterministic for a seed.

SQLite gets Core ``executemany`` in large batches (its FTS triggers index as
rows go in); PostgreSQL gets ``COPY`` with the trigram index rebuilt after the
load. Tests build it once per module and backend; ``bench.dashboard`` uses the same data.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, Table, insert, text

from fleet_protocol import THAI_PROVINCES
from fleet_store.schema import checkpoints, connection_events, health_monitors, lpr_detections

THAI_CONSONANTS = "กขคฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ"
LATIN = "ABCDEFGHJKLMNPRSTUVWXYZ"
COMPONENTS = ("camera", "detector", "outbox", "uplink")
SITES = tuple(f"Site {chr(65 + i)}" for i in range(10))


@dataclass(frozen=True, slots=True)
class FleetCounts:
    """What :func:`fill_fleet` wrote."""

    checkpoints: int
    detections: int
    health: int
    connection_events: int
    repeat_plate: str
    repeat_province: str


def thai_plate(rng: random.Random) -> str:
    """A Thai private-car registration: optional digit, two consonants, 1-4 digits."""
    lead = str(rng.randint(1, 9)) if rng.random() < 0.5 else ""
    return f"{lead}{rng.choice(THAI_CONSONANTS)}{rng.choice(THAI_CONSONANTS)}{rng.randint(1, 9999)}"


def latin_plate(rng: random.Random) -> str:
    """A Latin plate such as ``ABC1234``."""
    return "".join(rng.choice(LATIN) for _ in range(3)) + str(rng.randint(1000, 9999))


def checkpoint_rows(n: int, rng: random.Random, now: datetime) -> list[dict]:
    """``n`` checkpoints on :data:`SITES`; every 50th has no position, about one in eight is offline."""
    rows = []
    for i in range(n):
        placed = i % 50 != 7
        status = "offline" if rng.random() < 0.12 else "never" if i % 97 == 5 else "online"
        rows.append({"checkpoint_id": f"cp-{i:03d}", "name": f"Gate {i}", "site": SITES[i % len(SITES)],
                     "created_at": now - timedelta(days=60), "status": status, "connected": status == "online",
                     "last_seen_at": None if status == "never" else now - timedelta(seconds=rng.uniform(0, 600)),
                     "latitude": 13 + rng.random() * 6 if placed else None,
                     "longitude": 99 + rng.random() * 5 if placed else None})
    return rows


def detection_rows(n: int, checkpoint_ids: list[str], rng: random.Random, now: datetime,
                   days: int = 30) -> Iterator[dict]:
    """``n`` detections, oldest first, half of them in the last day; one plate in twenty repeats."""
    repeats = [(thai_plate(rng), rng.choice(THAI_PROVINCES)) for _ in range(50)]
    for i in range(n):
        recent = i >= n // 2
        age = (n - i) / (n // 2) * 86_400 if recent else 86_400 + (n // 2 - i) / (n // 2) * (days - 1) * 86_400
        when = now - timedelta(seconds=age)
        if rng.random() < 0.05:
            plate, province = rng.choice(repeats)
        elif rng.random() < 0.1:
            plate, province = latin_plate(rng), ""
        else:
            plate, province = thai_plate(rng), rng.choice(THAI_PROVINCES)
        yield {"checkpoint_id": rng.choice(checkpoint_ids), "event_id": None, "license_plate": plate,
               "province": province, "province_confidence": round(rng.uniform(70, 99.9), 1) if province else None,
               "plate_raw": plate, "confidence": round(rng.uniform(60, 99.9), 1), "timestamp": when,
               "received_at": when + timedelta(seconds=rng.uniform(0.05, 2)), "hostname": "edge",
               "vehicle_type": "", "vehicle_color": ""}


def health_rows(checkpoint_ids: list[str], rng: random.Random, now: datetime, hours: int = 24) -> Iterator[dict]:
    """Every component of every checkpoint every 10 minutes for ``hours``, with numeric metrics."""
    for step in range(hours * 6, -1, -1):
        when = now - timedelta(minutes=10 * step)
        for cp in checkpoint_ids:
            info = {"cpu_percent": rng.randint(5, 90), "memory_percent": rng.randint(20, 80),
                    "disk_percent": rng.randint(10, 70), "temperature_c": round(rng.uniform(40, 80), 1),
                    "outbox_backlog": rng.randint(0, 50)}
            for component in COMPONENTS:
                status = "FAIL" if rng.random() < 0.01 else "WARN" if rng.random() < 0.05 else "PASS"
                yield {"checkpoint_id": cp, "event_id": None, "hostname": "edge", "timestamp": when,
                       "received_at": when, "component": component, "status": status, "message": "ok",
                       "system_info": info}


def connection_rows(checkpoint_ids: list[str], rng: random.Random, now: datetime) -> Iterator[dict]:
    """A connect and a disconnect per checkpoint in the last day."""
    for cp in checkpoint_ids:
        start = now - timedelta(hours=rng.uniform(2, 23))
        for event, at in (("connected", start), ("disconnected", start + timedelta(minutes=rng.uniform(1, 60)))):
            yield {"checkpoint_id": cp, "at": at, "event": event, "remote": "10.0.0.1:5000", "detail": "",
                   "status": "online", "connected": event == "connected"}


def bulk_insert(engine: Engine, table: Table, rows: Iterable[dict], batch: int = 20_000) -> int:
    """Insert ``rows`` fast (COPY on PostgreSQL, batched executemany elsewhere); return how many."""
    if engine.dialect.name == "postgresql":
        return _copy(engine, table, rows)
    count, chunk = 0, []
    with engine.begin() as conn:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                conn.execute(insert(table), chunk)
                count, chunk = count + len(chunk), []
        if chunk:
            conn.execute(insert(table), chunk)
            count += len(chunk)
    return count


def _copy(engine: Engine, table: Table, rows: Iterable[dict]) -> int:
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    columns = list(first)
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            count = 0
            for row in itertools.chain([first], rows):
                copy.write_row([_pg_value(row[c]) for c in columns])
                count += 1
    return count


def _pg_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def fill_fleet(engine: Engine, checkpoints_n: int = 500, detections: int = 100_000, seed: int = 3,
               now: datetime | None = None) -> FleetCounts:
    """Write the volume fixture into a migrated, empty database (see the module docstring)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    cps = checkpoint_rows(checkpoints_n, rng, now)
    ids = [cp["checkpoint_id"] for cp in cps]
    bulk_insert(engine, checkpoints, cps)
    pg = engine.dialect.name == "postgresql"
    if pg:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX IF EXISTS ix_lpr_detections_plate_trgm"))
    rows = list(detection_rows(detections, ids, rng, now))
    written = bulk_insert(engine, lpr_detections, rows)
    health = bulk_insert(engine, health_monitors, health_rows(ids, rng, now))
    events = bulk_insert(engine, connection_events, connection_rows(ids, rng, now))
    if pg:
        with engine.begin() as conn:
            conn.execute(text("CREATE INDEX ix_lpr_detections_plate_trgm ON lpr_detections "
                              "USING gin (license_plate gin_trgm_ops)"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    (plate, province), _ = Counter((r["license_plate"], r["province"]) for r in rows if r["province"]).most_common(1)[0]
    return FleetCounts(len(cps), written, health, events, plate, province)
