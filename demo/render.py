"""Synthetic plates and footage: Thai two-line and Latin plates composited into scenes.

Used by the tests and the benchmark (the rendered accuracy set) and by ``make demo``
(footage of cars driving up to a checkpoint). Everything is drawn from a seed, so a
set is the same on every machine with the same fonts. Thai text needs Debian's
``fonts-thai-tlwg``; Latin text uses ``fonts-dejavu-core`` (or Tlwg's Latin glyphs).
"""

from __future__ import annotations

import csv
import json
import logging
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edge_agent.vision.base import Box, VisionError
from edge_agent.vision.plates import LATIN_FORMATS, THAI_PLATE_LETTERS
from fleet_protocol.provinces import THAI_PROVINCES

log = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts/truetype/tlwg"), Path("/usr/share/fonts/truetype/dejavu"))
THAI_FONTS = ("Loma-Bold.ttf", "Garuda-Bold.ttf", "Kinnari-Bold.ttf")
LATIN_FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", "Loma-Bold.ttf")
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # I, O and Q are left out by most issuers


class FontMissingError(VisionError):
    """A font the renderer needs is not installed (``apt-get install fonts-thai-tlwg``)."""


@dataclass(frozen=True, slots=True)
class PlateSpec:
    """What a rendered plate says: normalised ``text``, ``province`` (Thai), ``kind`` thai/latin."""

    text: str
    kind: str
    province: str = ""
    region: str = ""
    layout: str = "car"  # Thai: "car" (two lines) or "motorcycle" (series, province, number stacked)


@dataclass(frozen=True, slots=True, eq=False)
class RenderedSample:
    """A scene with one plate in it, and where the plate is."""

    image: np.ndarray
    spec: PlateSpec
    box: Box


def _font(names: tuple[str, ...], text: str, max_w: int, max_h: int, rng: random.Random) -> ImageFont.FreeTypeFont:
    """One of the installed ``names``, sized so that ``text`` fits in ``max_w``×``max_h``."""
    found = [d / n for n in names for d in FONT_DIRS if (d / n).exists()]
    if not found:
        raise FontMissingError(f"none of {names} in {[str(d) for d in FONT_DIRS]}; install fonts-thai-tlwg")
    path, size = str(rng.choice(found)), max_h
    font = ImageFont.truetype(path, size)
    while size > 8:
        x0, y0, x1, y1 = font.getbbox(text)
        if x1 - x0 <= max_w and y1 - y0 <= max_h:
            break
        size -= 4
        font = ImageFont.truetype(path, size)
    return font


def random_thai(rng: random.Random) -> PlateSpec:
    """A Thai car plate: optional digit, two consonants, 1-4 digits, and a province."""
    prefix = str(rng.randint(1, 9)) if rng.random() < 0.5 else ""
    letters = "".join(rng.choice(THAI_PLATE_LETTERS) for _ in range(2))
    number = str(rng.randint(1, 9999))
    return PlateSpec(prefix + letters + number, "thai", rng.choice(THAI_PROVINCES), "TH")


def random_latin(rng: random.Random, regions: tuple[str, ...] = ("US", "SK", "BR", "PL", "GB", "ES")) -> PlateSpec:
    """A Latin plate following one fixed layout of a randomly chosen region."""
    region = rng.choice(regions)
    fmt = rng.choice([f for f in LATIN_FORMATS[region] if "{" not in f])
    pick = {"L": PLATE_LETTERS, "9": "0123456789", "A": PLATE_LETTERS + "0123456789"}
    return PlateSpec("".join(rng.choice(pick[c]) for c in fmt), "latin", region=region)


def _draw_centered(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont,
    cx: float,
    cy: float,
    fill: tuple[int, int, int],
) -> None:
    draw.text((cx, cy), text, font=font, fill=fill, anchor="mm")


def random_thai_motorcycle(rng: random.Random) -> PlateSpec:
    """A Thai motorcycle plate: optional digit and two or three consonants, a province, 1-999."""
    prefix = str(rng.randint(1, 9)) if rng.random() < 0.4 else ""
    letters = "".join(rng.choice(THAI_PLATE_LETTERS) for _ in range(rng.choice((2, 3))))
    number = str(rng.randint(1, 999))
    return PlateSpec(prefix + letters + number, "thai", rng.choice(THAI_PROVINCES), "TH", layout="motorcycle")


def render_thai_motorcycle_plate(spec: PlateSpec, rng: random.Random) -> np.ndarray:
    """A 1.2:1 white motorcycle plate (17.2 x 14.4 cm): series, province, number in three rows (BGR)."""
    w, h = 344, 288
    img = Image.new("RGB", (w, h), (245, 245, 240))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((4, 4, w - 5, h - 5), radius=12, outline=(20, 20, 20), width=6)
    digits_at = len(spec.text.rstrip("0123456789"))
    series, number = spec.text[:digits_at], spec.text[digits_at:]
    _draw_centered(draw, series, _font(THAI_FONTS, series, w - 60, 84, rng), w / 2, 62, (15, 15, 15))
    _draw_centered(draw, spec.province, _font(THAI_FONTS, spec.province, w - 50, 44, rng), w / 2, 140, (15, 15, 15))
    _draw_centered(draw, number, _font(THAI_FONTS, number, w - 60, 96, rng), w / 2, 218, (15, 15, 15))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def render_thai_plate(spec: PlateSpec, rng: random.Random) -> np.ndarray:
    """A 2.3:1 white Thai plate: series and number on line 1, province on line 2 (BGR)."""
    if spec.layout == "motorcycle":
        return render_thai_motorcycle_plate(spec, rng)
    w, h = 460, 200
    img = Image.new("RGB", (w, h), (245, 245, 240))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((4, 4, w - 5, h - 5), radius=14, outline=(20, 20, 20), width=6)
    digits_at = len(spec.text.rstrip("0123456789"))
    line1 = spec.text[:digits_at] + " " + spec.text[digits_at:]
    _draw_centered(draw, line1, _font(THAI_FONTS, line1, w - 40, 100, rng), w / 2, 72, (15, 15, 15))
    _draw_centered(draw, spec.province, _font(THAI_FONTS, spec.province, w - 60, 50, rng), w / 2, 160, (15, 15, 15))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def render_latin_plate(spec: PlateSpec, rng: random.Random) -> np.ndarray:
    """A one-line Latin plate: EU style (blue band) or US style (wider margins), BGR."""
    eu = spec.region not in ("US", "BR")
    w, h = (520, 112) if eu else (400, 200)
    bg = (250, 250, 250) if eu or rng.random() < 0.6 else (235, 225, 180)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle((2, 2, w - 3, h - 3), outline=(20, 20, 20), width=5)
    text = spec.text
    if eu:
        draw.rectangle((5, 5, 50, h - 6), fill=(30, 60, 170))
        _draw_centered(draw, text, _font(LATIN_FONTS, text, w - 90, 84, rng), (w + 50) / 2, h / 2, (10, 10, 10))
    else:
        _draw_centered(draw, text, _font(LATIN_FONTS, text, w - 40, 110, rng), w / 2, h / 2 + 10, (20, 20, 60))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def render_plate(spec: PlateSpec, rng: random.Random) -> np.ndarray:
    """The plate image for ``spec`` (BGR, flat, not yet warped)."""
    return render_thai_plate(spec, rng) if spec.kind == "thai" else render_latin_plate(spec, rng)


def random_background(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """A road-ish scene: sky and tarmac gradients, a few blocks (buildings, poles), noise."""
    w, h = size
    nprng = np.random.default_rng(rng.randrange(2**32))
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    sky = np.array([rng.randint(150, 230), rng.randint(130, 200), rng.randint(90, 160)], np.float32)
    road = np.array([rng.randint(60, 110)] * 3, np.float32)
    img = (sky * (1 - ramp[..., None]) + road * ramp[..., None]) * np.ones((h, w, 1), np.float32)
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randrange(w), rng.randrange(h // 2)
        color = [rng.randint(40, 200) for _ in range(3)]
        cv2.rectangle(img, (x0, y0), (x0 + rng.randint(30, 250), y0 + rng.randint(40, 300)), color, -1)
    img += nprng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _plate_quad(rng: random.Random, pw: int, ph: int, cx: float, cy: float, angle: float) -> np.ndarray:
    """Destination corners for a plate of ``pw``×``ph`` centred at (cx, cy), tilted and in perspective."""
    rot = np.deg2rad(rng.uniform(-angle / 3, angle / 3))
    skew = rng.uniform(-angle, angle) / 90.0  # horizontal yaw: one side shorter than the other
    half = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]], np.float32)
    half[:, 1] *= np.array([1 - skew, 1 + skew, 1 + skew, 1 - skew], np.float32)
    c, s = np.cos(rot), np.sin(rot)
    rotated = half @ np.array([[c, s], [-s, c]], np.float32)
    return rotated + np.array([cx, cy], np.float32)


def paste_plate(scene: np.ndarray, plate: np.ndarray, quad: np.ndarray) -> Box:
    """Warp ``plate`` onto ``scene`` (in place) at the 4 corners ``quad``; returns its bounding box."""
    h, w = plate.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(plate, m, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, size, flags=cv2.INTER_AREA)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    scene[:] = (warped * alpha + scene * (1 - alpha)).astype(np.uint8)
    x, y, bw, bh = cv2.boundingRect(quad.astype(np.float32))
    return Box(int(x), int(y), int(bw), int(bh))


def degrade(image: np.ndarray, rng: random.Random, blur: float, light: float, min_blur: float = 0.0) -> np.ndarray:
    """Camera-like damage: Gaussian blur of ``min_blur``..``blur`` sigma, gain/gamma by ``light``, noise."""
    out = image.astype(np.float32)
    sigma = rng.uniform(min_blur, blur)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    gain = rng.uniform(1 - light, 1 + light / 2)
    gamma = rng.uniform(1 - light / 2, 1 + light / 2)
    out = 255.0 * np.power(np.clip(out * gain / 255.0, 0, 1), gamma)
    nprng = np.random.default_rng(rng.randrange(2**32))
    out += nprng.normal(0, rng.uniform(0, 5), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def draw_vehicle(scene: np.ndarray, rng: random.Random, cx: int, bottom: int, width: int) -> tuple[int, int]:
    """A boxy car body (in place) whose bumper is at ``bottom``; returns the plate's centre."""
    h = int(width * 0.6)
    color = [rng.randint(20, 230) for _ in range(3)]
    x0, y0 = cx - width // 2, bottom - h
    cv2.rectangle(scene, (x0, y0), (x0 + width, bottom), color, -1)
    glass = [int(c * 0.4) for c in color]
    cv2.rectangle(scene, (x0 + width // 8, y0 + h // 10), (x0 + width * 7 // 8, y0 + h * 4 // 10), glass, -1)
    for lx in (x0 + width // 12, x0 + width * 10 // 12):
        cv2.rectangle(scene, (lx, y0 + h // 2), (lx + width // 12, y0 + h * 6 // 10), (40, 40, 220), -1)
    return cx, y0 + int(h * 0.72)


def render_sample(
    rng: random.Random,
    spec: PlateSpec,
    size: tuple[int, int] = (1280, 720),
    angle: float = 15.0,
    blur: float = 1.0,
    light: float = 0.35,
) -> RenderedSample:
    """One scene: a car carrying ``spec``'s plate at a random place, angle, blur and lighting."""
    scene = random_background(rng, size)
    w, h = size
    car_w = int(w * rng.uniform(0.3, 0.45))
    cx = rng.randint(car_w // 2 + 10, w - car_w // 2 - 10)
    px, py = draw_vehicle(scene, rng, cx, rng.randint(int(h * 0.75), h - 10), car_w)
    plate = render_plate(spec, rng)
    pw = int(car_w * rng.uniform(0.38, 0.5))
    ph = int(pw * plate.shape[0] / plate.shape[1])
    box = paste_plate(scene, plate, _plate_quad(rng, pw, ph, px, py, angle))
    return RenderedSample(degrade(scene, rng, blur, light), spec, box)


def composite_into_photo(photo: np.ndarray, box: Box, spec: PlateSpec, rng: random.Random) -> np.ndarray:
    """A copy of ``photo`` with ``spec``'s plate drawn over the annotated plate ``box``."""
    return plate_into_photo(photo, box, render_plate(spec, rng))[0]


def plate_into_photo(
    photo: np.ndarray, box: Box, plate: np.ndarray, aspect: float | None = None
) -> tuple[np.ndarray, Box]:
    """A copy of ``photo`` with the plate image ``plate`` over the annotated plate ``box`` (same
    width, centred; its own shape, or ``aspect`` width:height), and where it landed."""
    out = photo.copy()
    ratio = aspect if aspect else plate.shape[1] / plate.shape[0]
    ph = max(box.h, int(box.w / ratio))  # Thai plates are taller than most
    cx, cy = box.center
    cy = min(max(cy, ph / 2), out.shape[0] - ph / 2)
    quad = np.array(
        [
            [cx - box.w / 2, cy - ph / 2],
            [cx + box.w / 2, cy - ph / 2],
            [cx + box.w / 2, cy + ph / 2],
            [cx - box.w / 2, cy + ph / 2],
        ],
        np.float32,
    )
    return out, paste_plate(out, plate, quad)


def write_accuracy_set(
    folder: Path, seed: int, count: int, thai_share: float = 0.5, size: tuple[int, int] = (1280, 720)
) -> list[dict[str, str]]:
    """Write ``count`` rendered scenes and ``manifest.csv`` (file, plate_text, province, kind, box)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        spec = random_thai(rng) if rng.random() < thai_share else random_latin(rng)
        sample = render_sample(rng, spec, size)
        name = f"plate_{i:04d}.jpg"
        cv2.imwrite(str(folder / name), sample.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        rows.append(
            {
                "file": name,
                "plate_text": spec.text,
                "province": spec.province,
                "kind": spec.kind,
                "box": " ".join(map(str, sample.box.as_list())),
            }
        )
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["file"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


@dataclass(frozen=True, slots=True)
class DemoVehicle:
    """One car in demo footage: its plate and the frames (inclusive) where the plate is in view."""

    spec: PlateSpec
    first_frame: int
    last_frame: int


def write_demo_footage(
    folder: Path,
    seed: int,
    vehicles: int = 4,
    fps: int = 10,
    size: tuple[int, int] = (1280, 720),
    dwell_s: float = 3.0,
    gap_s: float = 2.0,
    thai_share: float = 0.5,
    blur: float = 0.6,
) -> list[DemoVehicle]:
    """Write JPEG frames ``frame_NNNNNN.jpg`` of cars driving in, stopping and leaving.

    Each car shows its plate for about ``dwell_s`` seconds, with ``gap_s`` seconds of
    empty road between cars; ``blur`` is the largest Gaussian sigma applied to a frame.
    Also writes ``footage.json`` describing every car; returns it.
    Replay the folder with ``CAMERA_SOURCE=<folder>``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    background = random_background(rng, size)
    index, cars = 0, []
    for _ in range(vehicles):
        index = _write_frames(folder, index, [background] * int(gap_s * fps))
        spec = random_thai(rng) if rng.random() < thai_share else random_latin(rng)
        frames = _vehicle_frames(background, spec, rng, int(dwell_s * fps), blur)
        cars.append(DemoVehicle(spec, index, index + len(frames) - 1))
        index = _write_frames(folder, index, frames)
    index = _write_frames(folder, index, [background] * int(gap_s * fps))
    manifest = [
        {
            "text": c.spec.text,
            "province": c.spec.province,
            "kind": c.spec.kind,
            "first_frame": c.first_frame,
            "last_frame": c.last_frame,
        }
        for c in cars
    ]
    (folder / "footage.json").write_text(
        json.dumps({"fps": fps, "vehicles": manifest}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    log.info("wrote %d frames with %d vehicles to %s", index, len(cars), folder)
    return cars


def _vehicle_frames(
    background: np.ndarray, spec: PlateSpec, rng: random.Random, count: int, blur: float
) -> list[np.ndarray]:
    """A car sliding in from the right to a stop, then waiting: one image per frame."""
    h, w = background.shape[:2]
    plate = render_plate(spec, rng)
    car_w, stop_x = int(w * 0.4), int(w * rng.uniform(0.35, 0.6))
    pw = int(car_w * 0.45)
    ph = int(pw * plate.shape[0] / plate.shape[1])
    frames, drive_in = [], max(1, count // 4)
    for i in range(count):
        t = min(1.0, i / drive_in)
        cx = int(w + car_w / 2 - (w + car_w / 2 - stop_x) * t)
        scene = background.copy()
        px, py = draw_vehicle(scene, random.Random(zlib.crc32(spec.text.encode())), cx, h - 20, car_w)
        quad = np.array(
            [
                [px - pw / 2, py - ph / 2],
                [px + pw / 2, py - ph / 2],
                [px + pw / 2, py + ph / 2],
                [px - pw / 2, py + ph / 2],
            ],
            np.float32,
        )
        paste_plate(scene, plate, quad)
        frames.append(degrade(scene, rng, blur, 0.1, min_blur=blur / 2))
    return frames


def _write_frames(folder: Path, start: int, frames: list[np.ndarray]) -> int:
    for offset, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{start + offset:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return start + len(frames)
