"""A Thai plate's colours: its background and the colour of its characters.

Thai plates say what kind of vehicle carries them in two colours (Department of Land Transport):
a white plate is a private vehicle, its characters black for a car of up to seven seats, blue for
a passenger vehicle of more (a van), green for a private truck (a pickup); a yellow plate is a
vehicle for hire (taxi, tuk-tuk, small hire truck); red is a new car's temporary plate. The
six-digit commercial series (``70-4446``) says "commercial" by its format alone.

Measured, not learned: Otsu's threshold splits the plate's face into ink (the darker side) and
background; the background's hue and saturation tell yellow, red and white apart; the ink's
colour is read in Lab after taking off the light's cast (the background's a*/b* scaled to the
ink's lightness), so black characters under a bluish sky do not read as blue. A crop without
colour (an IR or monochrome camera) and every reading between the bands is "" (unsure): the
caller then says nothing it cannot see. The bands were set on the training split of
``../shared/thai-plates`` and are measured on its held-out split (``python -m bench.vision``;
docs/vision.md, "Vehicle type").
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import cv2
import numpy as np

from fleet_protocol.vehicles import VehicleType

_SIZE = (120, 60)
GREY_CHROMA = 2.0  # mean distance of a pixel's channels from their mean: below it the crop has no colour
# The frame's light, grey-world: the Lab chroma of its mean colour above which the light itself is
# coloured (a sodium street lamp, a NoIR camera); and the colour left in the frame once that cast is
# taken off, below which the frame is a monochrome picture tinted by its light (a camera under IR).
# On the 220 real daylight photos of ../shared the cast is 2.2 at the median, over 9 on 13; their
# balanced colour 1.4 at least; a grey frame tinted pink 0.2-1.0 at most (python -m bench.vision).
CAST_MAX_CHROMA = 9.0
BALANCED_GREY_CHROMA = 1.2
FRAME_MIN_AREA = 4  # a scene at least this many times the crop's area is the frame around the plate
# Background, OpenCV HSV (hue 0-180, saturation 0-255) of the brighter side.
BACKGROUND_WHITE_MAX_S = 40
BACKGROUND_COLOUR_MIN_S = 70
YELLOW_HUE = (8, 40)
RED_HUE = (160, 7)  # wraps round 180
# A bluish face below this saturation is a white plate under the sky's cast (no Thai plate is blue).
CAST_HUE = (85, 135)
CAST_MAX_S = 100
# Ink, CIE Lab a*/b*, after the cast is taken off; the sure bands of each colour and of black.
BLUE_MAX_B = -13.0
BLUE_MIN_A = 5.0  # blue ink is violet-blue (a* > 0); a bluish cast on black ink is not
INK_MAX_BACKGROUND_S = 50  # under a stronger cast on the background the ink's colour is not read
GREEN_MAX_A = -3.5
BLACK_MIN_B = -9.0
BLACK_MIN_A = -1.5


class PlateColours(NamedTuple):
    background: str  # "white", "yellow", "red" or "" (unsure, no colour, another colour)
    ink: str  # "black", "blue", "green" or "" (unsure; only read on a white plate)


UNSURE = PlateColours("", "")


class FrameLight:
    """The frame a plate was cut from, as :func:`plate_colours` looks at it: each measure is taken
    once, when first asked, however many plates the reader reads in the frame."""

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame
        self.area = frame.shape[0] * frame.shape[1] if frame.ndim == 3 else 0

    @cached_property
    def in_colour(self) -> bool:
        return in_colour(self.frame)

    @cached_property
    def coloured_light(self) -> bool:
        return coloured_light(self.frame)


def plate_colours(crop: np.ndarray, scene: FrameLight | None = None) -> PlateColours:
    """The colours of the plate in ``crop`` (BGR, a plate framed as the reader sees it).

    A crop without colour is unsure (an IR or monochrome camera) unless the ``scene`` it was cut
    from has colour (:func:`in_colour`), so the plate is truly black on white. When ``scene`` is the
    frame around the plate (at least ``FRAME_MIN_AREA`` times its area), its light is looked at
    first (:func:`coloured_light`): under a coloured light every white plate looks yellow (a sodium
    street lamp made every held-out plate a taxi) and under IR every ink looks black, so the
    colours say nothing there. A crop alone cannot tell a white plate under a warm lamp from a
    yellow plate in daylight: ``read-plates`` on crops trusts its colours.
    """
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] < 8 or crop.shape[1] < 8:
        return UNSURE
    h, w = crop.shape[:2]
    if scene is not None and scene.area >= FRAME_MIN_AREA * h * w and scene.coloured_light:
        return UNSURE
    face = cv2.resize(crop[int(h * 0.08) : int(h * 0.92), int(w * 0.05) : int(w * 0.95)], _SIZE,
                      interpolation=cv2.INTER_AREA)
    if not in_colour(face) and (scene is None or not scene.in_colour):
        return UNSURE
    gray = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).reshape(-1)
    threshold, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = gray > threshold
    if bright.all() or not bright.any():
        return UNSURE
    hsv = cv2.cvtColor(face, cv2.COLOR_BGR2HSV).reshape(-1, 3)[bright].astype(np.float32)
    saturation = float(np.median(hsv[:, 1]))
    background = _background(hsv, saturation)
    if background != "white" or saturation > INK_MAX_BACKGROUND_S:
        return PlateColours(background, "")
    # Float Lab: an 8-bit a*/b* steps by whole units, which on dark characters is the whole band.
    lab = cv2.cvtColor(face.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    return PlateColours(background, _ink(lab[~bright], lab[bright]))


def in_colour(image: np.ndarray) -> bool:
    """Whether a BGR image carries colour: its pixels' channels stray from their grey on average."""
    if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        return False
    return _chroma(_sample(image)) >= GREY_CHROMA


def coloured_light(frame: np.ndarray) -> bool:
    """Whether ``frame`` (BGR) was taken under a coloured light, so a plate's colours in it say nothing.

    Grey-world: the frame's mean colour is its light's. Coloured when that mean is far from grey
    (Lab chroma over ``CAST_MAX_CHROMA``: an orange sodium lamp, a NoIR camera's magenta) or when,
    with the mean's cast taken off, next to no colour is left (a monochrome IR picture tinted by
    the camera). About 0.4 ms on a 1280x720 frame (10,000 pixels sampled): the reader asks once a
    frame (:class:`FrameLight`).
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
        return False
    pixels = _sample(frame)
    mean = pixels.mean(axis=0)
    a, b = cv2.cvtColor((mean / 255.0).reshape(1, 1, 3), cv2.COLOR_BGR2LAB)[0, 0, 1:]
    if float(np.hypot(a, b)) > CAST_MAX_CHROMA:
        return True
    return _chroma(pixels * (mean.mean() / np.maximum(mean, 1.0))) < BALANCED_GREY_CHROMA


def _sample(image: np.ndarray) -> np.ndarray:
    """About 10,000 of ``image``'s pixels (enough for a mean), as float32 rows of BGR."""
    step = max(1, int((image.shape[0] * image.shape[1] / 10_000) ** 0.5))
    return image[::step, ::step].reshape(-1, 3).astype(np.float32)


def _chroma(pixels: np.ndarray) -> float:
    """Mean distance of the pixels' channels from their own grey."""
    return float(np.abs(pixels - pixels.mean(axis=1, keepdims=True)).mean())


def _background(hsv: np.ndarray, saturation: float) -> str:
    """The background's colour from its pixels (HSV) and their median ``saturation``."""
    if saturation <= BACKGROUND_WHITE_MAX_S:
        return "white"
    # The hue's mean on its circle, each pixel weighed by its saturation.
    angle = hsv[:, 0] * (np.pi / 90.0)
    hue = float(np.degrees(np.arctan2((np.sin(angle) * hsv[:, 1]).sum(), (np.cos(angle) * hsv[:, 1]).sum())) / 2) % 180
    if CAST_HUE[0] <= hue <= CAST_HUE[1] and saturation < CAST_MAX_S:
        return "white"
    if saturation < BACKGROUND_COLOUR_MIN_S:
        return ""
    if YELLOW_HUE[0] <= hue <= YELLOW_HUE[1]:
        return "yellow"
    if hue >= RED_HUE[0] or hue <= RED_HUE[1]:
        return "red"
    return ""


def _ink(ink: np.ndarray, background: np.ndarray) -> str:
    dark = ink[ink[:, 0] <= np.median(ink[:, 0])]  # the characters' cores, not their blurred edges
    ink_l, ink_a, ink_b = np.median(dark, axis=0)
    bg_l, bg_a, bg_b = np.median(background, axis=0)
    cast = ink_l / max(bg_l, 1.0)
    a, b = ink_a - bg_a * cast, ink_b - bg_b * cast
    if b <= BLUE_MAX_B and a >= BLUE_MIN_A:
        return "blue"
    if a <= GREEN_MAX_A:
        return "green"
    if b > BLACK_MIN_B and a > BLACK_MIN_A:
        return "black"
    return ""


VEHICLE_BY_COLOURS = {
    PlateColours("white", "black"): VehicleType.PRIVATE,
    PlateColours("white", "blue"): VehicleType.VAN,
    PlateColours("white", "green"): VehicleType.PICKUP,
}


def vehicle_from_colours(colours: PlateColours) -> str:
    """A consonant-series plate's vehicle type from its colours; "" when they do not say."""
    if colours.background == "yellow":
        return VehicleType.TAXI.value
    vehicle = VEHICLE_BY_COLOURS.get(colours)
    return vehicle.value if vehicle else ""
