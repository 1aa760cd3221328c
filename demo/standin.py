"""Stand-in checkpoint footage for the demo: rendered plates, sent two ways.

Scenes are rendered with Pillow: a road, a car and a Thai (``1กข 2345`` plus
the province, font from Debian's ``fonts-thai-tlwg``) or Latin plate.

- ``python -m demo.standin --outbox DB_PATH``: feed a running **real edge
  agent** the way any outside program may (DESIGN.md): write the scene and the
  plate crop to disk and insert ``license_plate``, ``confidence``,
  ``timestamp``, ``image_path``, ``province`` and ``plate_image_path`` into its
  ``detection_results``; the agent delivers it. For an agent without its
  vision package (the demo's default replays footage through vision).
- ``python -m demo.standin``: be the whole checkpoint: send each detection with
  ``fleet_protocol.encode_message`` over a WebSocket with the Bearer token,
  and health for four components every ``STANDIN_HEALTH_SECONDS``. Reads the
  edge agent's variables (WEBSOCKET_SERVER_URL, CHECKPOINT_ID, CHECKPOINT_TOKEN).

    WEBSOCKET_SERVER_URL=ws://127.0.0.1:8765 CHECKPOINT_ID=demo-1 CHECKPOINT_TOKEN=... python -m demo.standin
    STANDIN_INTERVAL=3 python -m demo.standin --outbox var/demo/edge/demo-1/lpr_data.db
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import random
import signal
import sqlite3
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from websockets.asyncio.client import connect

from fleet_protocol import Detection, HealthReport, Metric, Refusal, encode_message, parse_answer

log = logging.getLogger("demo.standin")
THAI_FONTS = [Path("/usr/share/fonts/truetype/tlwg/Garuda-Bold.ttf"), Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf"),
              Path("/usr/share/fonts/truetype/tlwg/Loma-Bold.ttf")]
THAI_LETTERS = "กขคงจฉชซญฎฐฒณดตถทธนบปผพฟภมยรลวศษสหฬอฮ"
PROVINCES = ["กรุงเทพมหานคร", "นนทบุรี", "ปทุมธานี", "เชียงใหม่", "ขอนแก่น", "ภูเก็ต", "ชลบุรี"]
COMPONENTS = ("camera", "detector", "storage", "uplink")


class StandinSettings(BaseSettings):
    """The edge agent's variable names, plus pacing for the stand-in."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    websocket_server_url: str = Field("ws://127.0.0.1:8765", description="ingest URL")
    checkpoint_id: str = Field("", description="this checkpoint's id (sender mode)")
    checkpoint_token: str = Field("", description="its ingest token (sender mode)")
    hostname: str = Field("standin", description="hostname reported in messages")
    standin_interval: float = Field(3.0, gt=0, description="mean seconds between vehicles")
    standin_health_seconds: float = Field(15.0, gt=0, description="seconds between health reports")
    standin_latitude: float | None = Field(None, description="position sent with detections")
    standin_longitude: float | None = Field(None, description="position sent with detections")
    fleet_timezone: str = Field("Asia/Bangkok", description="zone of the naive timestamps on the wire")


def random_plate(rng: random.Random) -> str:
    """A plausible Thai (``1กข 2345``) or Latin (``ABC1234``) plate."""
    if rng.random() < 0.7:
        prefix = (str(rng.randint(1, 9)) if rng.random() < 0.4 else "") + "".join(rng.choices(THAI_LETTERS, k=2))
        return f"{prefix} {rng.randint(1, 9999)}"
    return "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=3)) + str(rng.randint(1000, 9999))


@lru_cache(maxsize=8)
def _font(size: int):
    for path in THAI_FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    log.warning("standin: no Thai font found (apt-get install fonts-thai-tlwg); Thai plates will not render")
    return ImageFont.load_default(size)


@dataclass(frozen=True, slots=True)
class Capture:
    """One rendered vehicle: the scene, the plate crop (JPEGs) and the province on a Thai plate ("" else)."""

    scene: bytes
    plate: bytes
    province: str


def render_scene(plate: str, rng: random.Random, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG of a road scene with a car whose plate reads ``plate`` (and a province line for Thai)."""
    return render_capture(plate, rng, size).scene


def render_capture(plate: str, rng: random.Random, size: tuple[int, int] = (640, 480)) -> Capture:
    """A road scene with a car whose plate reads ``plate``, its plate crop and the province drawn under it."""
    width, height = size
    sky = tuple(rng.randint(120, 200) for _ in range(3))
    image = Image.new("RGB", size, sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, height * 0.55, width, height], fill=(70, 72, 76))
    for x in range(0, width, 80):
        draw.rectangle([x, height * 0.8, x + 40, height * 0.81], fill=(230, 230, 230))
    car = tuple(rng.randint(0, 255) for _ in range(3))
    left, top = rng.randint(60, 200), rng.randint(140, 200)
    draw.rounded_rectangle([left, top, left + 360, top + 220], 30, fill=car)
    draw.rectangle([left + 40, top + 20, left + 320, top + 90], fill=(40, 50, 60))
    province = rng.choice(PROVINCES)
    x, y = left + 100, top + 130
    thai = _draw_plate(draw, plate, x, y, province)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    return Capture(_jpeg(image), _jpeg(image.crop((x - 8, y - 8, x + 168, y + 78))), province if thai else "")


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _draw_plate(draw: ImageDraw.ImageDraw, plate: str, x: int, y: int, province: str) -> bool:
    """Draw the plate; True when it is Thai (and so carries the province below)."""
    draw.rectangle([x, y, x + 160, y + 70], fill=(250, 250, 245), outline=(20, 20, 20), width=3)
    draw.text((x + 80, y + 26), plate, font=_font(28), fill=(10, 10, 10), anchor="mm")
    thai = any("\u0e00" <= c <= "\u0e7f" for c in plate)
    if thai:
        draw.text((x + 80, y + 56), province, font=_font(14), fill=(10, 10, 10), anchor="mm")
    return thai


def system_info(rng: random.Random, backlog: int) -> dict:
    """Plausible Pi figures as the edge agent writes them: numbers under the declared metric keys."""
    cpu, memory = round(rng.uniform(8, 65), 1), round(rng.uniform(30, 70), 1)
    return {Metric.CPU_PERCENT.value: cpu, Metric.MEMORY_PERCENT.value: memory,
            Metric.DISK_PERCENT.value: round(rng.uniform(20, 40), 1),
            Metric.TEMPERATURE_C.value: round(rng.uniform(45, 72), 1), Metric.OUTBOX_BACKLOG.value: backlog,
            Metric.UPTIME_S.value: rng.randint(3600, 30 * 86400),
            "cpu_usage": f"{cpu:.0f}%", "memory_usage": f"{memory:.0f}%", "platform": "linux", "python_version": "3.11"}


class Standin:
    """Sends detections and health for one checkpoint until :meth:`stop`."""

    def __init__(self, settings: StandinSettings, seed: int | None = None):
        self.settings = settings
        self.tz = ZoneInfo(settings.fleet_timezone)
        self.rng = random.Random(seed if seed is not None else zlib.crc32(settings.checkpoint_id.encode()))
        self.stopping = asyncio.Event()
        self.sent = 0

    def detection(self) -> Detection:
        plate = random_plate(self.rng)
        capture = render_capture(plate, self.rng)
        return Detection(checkpoint_id=self.settings.checkpoint_id, license_plate=plate,
                         confidence=round(self.rng.uniform(72, 99.5), 1), timestamp=datetime.now(UTC),
                         hostname=self.settings.hostname, image=capture.scene, plate_image=capture.plate,
                         province=capture.province, latitude=self.settings.standin_latitude,
                         longitude=self.settings.standin_longitude, event_id=str(uuid.uuid4()))

    def health(self, component: str) -> HealthReport:
        status = self.rng.choices(["PASS", "WARN", "FAIL"], weights=[90, 8, 2])[0]
        message = {"PASS": f"{component} working normally", "WARN": f"{component} slow",
                   "FAIL": f"{component} not responding"}[status]
        return HealthReport(checkpoint_id=self.settings.checkpoint_id, component=component, status=status,
                            timestamp=datetime.now(UTC), hostname=self.settings.hostname, message=message,
                            system_info=system_info(self.rng, 0), event_id=str(uuid.uuid4()))

    async def run(self) -> None:
        """Connect (reconnecting with backoff) and send until stopped."""
        headers = {"Authorization": f"Bearer {self.settings.checkpoint_token}"}
        async for ws in connect(self.settings.websocket_server_url, additional_headers=headers):
            log.info("standin %s: connected to %s", self.settings.checkpoint_id, self.settings.websocket_server_url)
            try:
                await self._session(ws)
                return
            except OSError as exc:
                log.info("standin %s: connection lost (%s); reconnecting", self.settings.checkpoint_id, exc)
            except Exception as exc:  # websockets' ConnectionClosed and friends: reconnect
                if self.stopping.is_set():
                    return
                log.info("standin %s: connection lost (%s); reconnecting", self.settings.checkpoint_id, exc)

    async def _session(self, ws) -> None:
        next_health = 0.0
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            if loop.time() >= next_health:
                for component in COMPONENTS:
                    await self._send(ws, self.health(component))
                next_health = loop.time() + self.settings.standin_health_seconds
            await self._send(ws, await asyncio.to_thread(self.detection))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.rng.expovariate(1 / self.settings.standin_interval))
        await ws.close()

    async def _send(self, ws, message) -> None:
        await ws.send(encode_message(message, self.tz))
        answer = parse_answer(await ws.recv())
        self.sent += 1
        if isinstance(answer, Refusal):
            log.warning("standin %s: refused: %s", self.settings.checkpoint_id, answer)

    def stop(self) -> None:
        self.stopping.set()


def wait_for_outbox(db_path: Path, stopping, timeout: float = 60) -> None:
    """Wait until the edge agent has created its outbox table."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping.is_set():
        if db_path.exists():
            with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as conn:
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'detection_results'").fetchone():
                    return
        stopping.wait(0.2)
    raise SystemExit(f"standin: no outbox at {db_path} after {timeout:.0f} s (is the edge agent running?)")


def feed_outbox(db_path: Path, settings: StandinSettings, stopping, seed: int = 0) -> int:
    """Insert rendered detections into an edge agent's outbox until ``stopping`` is set; return how many."""
    rng = random.Random(seed)
    footage = db_path.parent / "footage"
    footage.mkdir(parents=True, exist_ok=True)
    wait_for_outbox(db_path, stopping)
    tz = ZoneInfo(settings.fleet_timezone)
    count = 0
    while not stopping.wait(rng.expovariate(1 / settings.standin_interval)):
        plate = random_plate(rng)
        capture = render_capture(plate, rng)
        scene, crop = footage / f"{uuid.uuid4().hex}.jpg", footage / f"{uuid.uuid4().hex}.plate.jpg"
        scene.write_bytes(capture.scene)
        crop.write_bytes(capture.plate)
        with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as conn, conn:
            conn.execute("INSERT INTO detection_results (license_plate, confidence, timestamp, image_path, "
                         "province, plate_image_path) VALUES (?, ?, ?, ?, ?, ?)",
                         (plate, round(rng.uniform(72, 99.5), 1), datetime.now(tz).replace(tzinfo=None).isoformat(),
                          str(scene), capture.province, str(crop)))
        count += 1
    return count


def _feed_main(db_path: Path, settings: StandinSettings) -> None:
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    count = feed_outbox(db_path, settings, stopping, seed=zlib.crc32(str(db_path).encode()))
    log.info("standin: fed %d detections into %s", count, db_path)


async def _main(settings: StandinSettings) -> None:
    standin = Standin(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, standin.stop)
    runner = asyncio.create_task(standin.run())
    await standin.stopping.wait()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(runner, 5)
    log.info("standin %s: stopped after %d messages", settings.checkpoint_id, standin.sent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--outbox", type=Path, help="feed this edge agent outbox instead of sending")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(message)s")
    settings = StandinSettings()
    if args.outbox:
        _feed_main(args.outbox, settings)
    elif not (settings.checkpoint_id and settings.checkpoint_token):
        parser.error("sending needs CHECKPOINT_ID and CHECKPOINT_TOKEN (or use --outbox)")
    else:
        asyncio.run(_main(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
