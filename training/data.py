"""The real Thai plates: manifest, a split held out by plate, images in memory, augmentation.

The split is by registration + province (a hash), so the same plate photographed twice, or the
same photo exported twice by Roboflow (``-184_jpg`` / ``-184_png``), never sits on both sides.
Augmentation makes the training crops look like what the reader meets: boxes too tight or too
loose (a detector's box, a crop inside a larger frame), tilt and perspective, night/IR grey,
blur, JPEG, low resolution, part of the province hidden.
"""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.vision.thai_model import CHARSET, CONSONANTS, INPUT_H, INPUT_W, PROVINCE_NONE, valid_line1
from fleet_protocol.provinces import THAI_PROVINCES

HELD_OUT_PERCENT = 10
# Labels checked by eye against the photo and corrected (the dataset's own label is kept beside each fix).
LABEL_FIXES = Path(__file__).with_name("label_fixes.csv")
STORE_H, STORE_W = 96, 240  # images are kept at 1.5x the input size for augmentation


@dataclass(frozen=True, slots=True)
class Sample:
    file: str
    text: str
    province: str
    kind: str = "real"  # "real" (thai-plates), "rendered" (demo.render), "negative" (not a Thai plate)
    split_key: str = ""  # what the split hashes: the dataset's label, so a label fix never moves a plate

    @classmethod
    def from_row(cls, row: dict[str, str]) -> Sample:
        """A real crop from a :func:`manifest` row."""
        return cls(row["file"], row["plate_text"], row["province"], split_key=row["split_key"])

    @property
    def held_out(self) -> bool:
        if self.kind != "real":
            return False
        key = (self.split_key or f"{self.text}|{self.province}").encode()
        return int(hashlib.sha256(key).hexdigest(), 16) % 100 < HELD_OUT_PERCENT

    @property
    def targets(self) -> list[int]:
        return [CHARSET.index(ch) + 1 for ch in self.text]

    @property
    def province_class(self) -> int:
        """Index into THAI_PROVINCES, PROVINCE_NONE for a non-Thai plate, -1 where unlabelled (no loss)."""
        if self.kind == "negative":
            return PROVINCE_NONE
        return THAI_PROVINCES.index(self.province) if self.province else -1


def check_dataset(root: Path) -> None:
    """The folder is the one documented in ../shared/thai-plates/README.md, or a clear error."""
    for name in ("manifest.csv", "consonants.csv", "images"):
        if not (root / name).exists():
            raise SystemExit(f"{root}: no {name}; point --data at the thai-plates folder")
    with (root / "consonants.csv").open(encoding="utf-8") as f:
        listed = "".join(row["consonant"] for row in csv.DictReader(f))
    if listed != CONSONANTS:
        raise SystemExit(f"{root}/consonants.csv lists other consonants than the reader's alphabet")


def manifest(root: Path) -> list[dict[str, str]]:
    """The dataset's rows with the audited fixes of ``label_fixes.csv`` applied.

    Each row gains ``split_key``: its label as the dataset gives it, ``registration|province``, which
    decides the split (and lets a report score against the unaudited label too). A fix whose dataset
    label no longer matches the manifest is refused: the data changed under it.
    """
    check_dataset(root)
    with (root / "manifest.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["split_key"] = f"{row['plate_text']}|{row['province']}"
    return apply_label_fixes(rows, LABEL_FIXES, ("plate_text", "province"), root / "manifest.csv")


def apply_label_fixes(
    rows: list[dict[str, str]], fixes_file: Path, fields: tuple[str, ...], source: Path | str
) -> list[dict[str, str]]:
    """``rows`` with the audited labels of ``fixes_file`` put in ``fields`` (in place, and returned).

    Each fix names a ``file``, the label it was made against (``dataset_<field>``) and the label the
    photo shows (``<field>``). A fix whose dataset label is not what ``rows`` say, or whose file is
    not among them, stops the caller with both named: the data changed under it.
    """
    with fixes_file.open(encoding="utf-8") as f:
        fixes = {fix["file"]: fix for fix in csv.DictReader(f)}
    for row in rows:
        fix = fixes.pop(row["file"], None)
        if fix is None:
            continue
        if tuple(fix[f"dataset_{field}"] for field in fields) != tuple(row[field] for field in fields):
            raise SystemExit(f"{fixes_file.name}: {row['file']} is labelled "
                             f"{' '.join(repr(row[field]) for field in fields)} in {source}, "
                             "not what the fix was made against")
        for field in fields:
            row[field] = fix[field]
    if fixes:
        raise SystemExit(f"{fixes_file.name}: no such file in {source}: {', '.join(sorted(fixes))}")
    return rows


def load_samples(root: Path) -> list[Sample]:
    """Rows whose line 1 decodes into a valid registration (6,986 of 7,294)."""
    return [Sample.from_row(r) for r in manifest(root) if valid_line1(r["plate_text"])]


def load_images(root: Path, samples: list[Sample]) -> np.ndarray:
    out = np.empty((len(samples), STORE_H, STORE_W, 3), np.uint8)
    for i, s in enumerate(samples):
        img = cv2.imread(str(root / "images" / s.file), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cannot read {root / 'images' / s.file}")
        out[i] = cv2.resize(img, (STORE_W, STORE_H), interpolation=cv2.INTER_AREA)
    return out


def rendered(count: int, seed: int) -> tuple[list[Sample], np.ndarray]:
    """Rendered plates (``demo.render``): Thai ones with rare consonants and provinces as often as
    common ones, and one in four a Latin plate the model must leave unread (a negative)."""
    from demo.render import random_latin, random_thai, render_plate

    rng = random.Random(seed)
    samples, out = [], np.empty((count, STORE_H, STORE_W, 3), np.uint8)
    for i in range(count):
        if i % 4 == 3:
            spec = random_latin(rng)
            samples.append(Sample(f"rendered-{i}", "", "", "negative"))
        else:
            spec = random_thai(rng)
            samples.append(Sample(f"rendered-{i}", spec.text, spec.province, "rendered"))
        out[i] = cv2.resize(render_plate(spec, rng), (STORE_W, STORE_H), interpolation=cv2.INTER_AREA)
    return samples, out


def latin_negatives(folders: list[Path]) -> tuple[list[Sample], np.ndarray]:
    """Real Latin plates cut from the street photos' plate boxes: not Thai, so no read, no province."""
    samples, crops = [], []
    for folder in folders:
        if not (folder / "bboxes.csv").is_file():
            continue
        with (folder / "bboxes.csv").open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                img = cv2.imread(str(folder / row["file"]), cv2.IMREAD_COLOR)
                if img is None:
                    continue
                x, y, w, h = (int(row[k]) for k in "xywh")
                x0, y0 = max(0, x - w // 10), max(0, y - h // 5)
                crop = img[y0 : y + h + h // 5, x0 : x + w + w // 10]
                if crop.size:
                    samples.append(Sample(f"{folder.name}/{row['file']}", "", "", "negative"))
                    crops.append(cv2.resize(crop, (STORE_W, STORE_H), interpolation=cv2.INTER_AREA))
    return samples, np.array(crops, np.uint8).reshape(-1, STORE_H, STORE_W, 3)


def augment(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """One training view of a stored plate image, INPUT_H x INPUT_W, BGR uint8."""
    h, w = img.shape[:2]
    # Where the plate lands in the output: margins < 0 cut into it (a tight box),
    # > 0 leave room around it (a loose box, a crop inside a larger frame).
    mode = rng.random()
    if mode < 0.45:
        lo, hi = -0.05, 0.06
    elif mode < 0.75:
        lo, hi = -0.02, 0.18
    else:
        lo, hi = 0.08, 0.3
    left, right = rng.uniform(lo, hi) * INPUT_W, rng.uniform(lo, hi) * INPUT_W
    top, bottom = rng.uniform(lo, hi) * INPUT_H, rng.uniform(lo, hi) * INPUT_H
    dst = np.array([[left, top], [INPUT_W - right, top], [INPUT_W - right, INPUT_H - bottom],
                    [left, INPUT_H - bottom]], np.float32)
    # Tilt, shear and perspective: move the corners a little.
    jitter = 0.06 if rng.random() < 0.5 else 0.02
    dst += np.array([[rng.uniform(-1, 1) * jitter * INPUT_W, rng.uniform(-1, 1) * jitter * INPUT_H * 1.5]
                     for _ in range(4)], np.float32)
    angle = np.deg2rad(rng.uniform(-7, 7))
    centre = dst.mean(axis=0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    dst = (dst - centre) @ rot.T + centre
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    if rng.random() < 0.5:
        border, fill = cv2.BORDER_REPLICATE, 0
    else:
        border, fill = cv2.BORDER_CONSTANT, [rng.randint(0, 255)] * 3
    out = cv2.warpPerspective(img, matrix, (INPUT_W, INPUT_H), flags=cv2.INTER_LINEAR,
                              borderMode=border, borderValue=fill)
    return _photometric(out, rng)


def _photometric(out: np.ndarray, rng: random.Random) -> np.ndarray:
    if rng.random() < 0.15:  # part of the province line hidden (a bracket, dirt, a tow bar)
        x0 = rng.randint(0, INPUT_W - 20)
        y0 = rng.randint(int(INPUT_H * 0.62), INPUT_H - 6)
        out[y0:, x0:x0 + rng.randint(15, 50)] = rng.randint(0, 255)
    if rng.random() < 0.3:  # low resolution, scaled back up
        f = rng.uniform(0.35, 0.7)
        small = cv2.resize(out, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (INPUT_W, INPUT_H), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.25:
        k = rng.choice((3, 5))
        out = cv2.GaussianBlur(out, (k, k), 0)
    x = out.astype(np.float32)
    if rng.random() < 0.2:  # night / IR: grey
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.1:
        x = x[:, :, rng.sample(range(3), 3)]
    x = (x - 128) * rng.uniform(0.55, 1.4) + 128 + rng.uniform(-45, 45)
    if rng.random() < 0.3:
        x = 255 * (np.clip(x, 0, 255) / 255) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.3:
        x += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(3, 12), x.shape)
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(15, 70)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def in_grey_frame(img: np.ndarray, share: float = 0.6) -> np.ndarray:
    """The crop placed in a larger grey frame, taking ``share`` of its width (an eval view)."""
    h, w = img.shape[:2]
    fw, fh = int(w / share), int(h / share)
    frame = np.full((fh, fw, 3), 128, np.uint8)
    y, x = (fh - h) // 2, (fw - w) // 2
    frame[y:y + h, x:x + w] = img
    return frame


__all__ = ["PROVINCE_NONE", "Sample", "augment", "in_grey_frame", "load_images", "load_samples"]
