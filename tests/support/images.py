"""Test images: real JPEGs made with Pillow (no files checked in)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def scene_jpeg(width: int = 640, height: int = 480, quality: int = 75, seed: int = 0,
               grain: float = 0.0) -> bytes:
    """A busy synthetic scene as JPEG; ``grain`` (0-1) adds sensor-like noise (0.15 gives ~45 KB)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (90, 110, 130))
    draw = ImageDraw.Draw(image)
    for _ in range(300):
        x0, x1 = sorted(rng.randint(0, width) for _ in "ab")
        y0, y1 = sorted(rng.randint(0, height) for _ in "ab")
        draw.rectangle([x0, y0, x1, y1], fill=tuple(rng.randint(0, 255) for _ in "rgb"))
    draw.text((width // 3, height // 2), f"ABC {seed:04d}", fill=(0, 0, 0))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    if grain:
        image = Image.blend(image, Image.effect_noise((width, height), 40).convert("RGB"), grain)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
