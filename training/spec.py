"""What one rendered image shows: the RenderSpec of its factors, and how they are drawn at random.

Every factor of an image is a field, so any one can be pinned (for tests, for per-factor evaluation,
for test sets with known shown times); the other details (text, positions) come from the seed.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import datetime

from gateway.repository import project_labels
from training.colours import RGB, UI_COLORS, status_color
from training.fonts import cjk_font_file
from training.layouts import LAYOUTS
from training.timestamps import (
    TIME_FORMATS,
    TIME_POSITIONS,
    sample_shown_time,
    sample_status_clock,
    sample_time_format,
)

LABELS = project_labels()  # the classifier's labels.txt: its score order
PHONE_SIZES = (
    (720, 1280), (750, 1334), (720, 1600), (828, 1792), (1080, 1920), (1080, 2340), (1080, 2400),
    (1170, 2532), (1242, 2688), (1284, 2778), (1440, 2560), (1440, 3200),
)  # fmt: skip
FORMATS = ("jpeg", "png")
# kind -> share of the invalid class; positives are always "screen".
INVALID_KINDS = {
    "screen": 0.19,  # a black, grey, blue or purple QR code in an app layout
    "badge": 0.05,  # a status-coloured shape (tile, ticked disc, shield, word) in the code's place
    "placeholder": 0.05,  # a page whose code has not loaded: an icon, a spinner, a button
    "payment": 0.08,  # pay-the-merchant screens: green or blue page, barcode, black QR code
    "venue": 0.08,  # venue and sampling codes: a coloured header over a black QR code
    "trip": 0.11,  # trip cards (行程卡): a big coloured arrow or tick, no QR code
    "status": 0.08,  # result and pass pages: shields, discs, big words in status colours
    "chart": 0.08,  # calendars and streaks of status-coloured cells, no QR code
    "feed": 0.08,  # an app's home page with no code: banners, services, news with pictures
    "document": 0.06,  # pages and receipts, sometimes with a black QR code or a red seal
    "scene": 0.08,  # gradients and blurry shapes
    "blank": 0.03,
    "tiny": 0.03,
}
LAYOUT_KINDS = ("screen", "badge", "placeholder")  # drawn in the app layouts of training.layouts
# drawn at phone screen sizes
PHONE_KINDS = (*LAYOUT_KINDS, "payment", "venue", "trip", "status", "chart", "feed")
TIME_KINDS = (*LAYOUT_KINDS, "venue", "trip", "status")  # may show a date and time by the code


@dataclass(frozen=True)
class RenderSpec:
    """The factors of one image; the other details (text, positions) come from the seed."""

    label: str
    kind: str = "screen"
    layout: str = "classic"  # LAYOUT_KINDS only
    width: int = 1080
    height: int = 2340
    dark: bool = False
    ink: RGB = (0, 0, 0)  # the QR code's colour (the badge's for kind "badge")
    fmt: str = "jpeg"
    quality: int = 85  # JPEG only
    crop: bool = False  # cut the screenshot down to a random region around the code
    photo: bool = False  # photographed on a phone: bezel, perspective, background, colour cast
    rotation: float = 0.0  # degrees, of the phone in the photo or of the whole image
    blur: float = 0.0  # Gaussian radius in pixels of the model input (see photo.blur)
    glare: float = 0.0  # opacity of a bright reflection, 0..1
    moire: float = 0.0  # amplitude of interference bands, 0..1
    noise: float = 0.0  # sensor noise, grey levels
    chat: bool = False  # shrunk and re-encoded by a chat app before the final encoding
    # The time the app shows by the code (None: none shown), as `time_format` of TIME_FORMATS
    # draws it, `time_position` "above" or "below" the code. Crops and photos may cut it off.
    shown_time: datetime | None = None
    time_format: str = "iso"
    time_position: str = "below"
    status_clock: str | None = None  # the status bar's clock text, e.g. "09:31"; phone kinds only

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}; expected one of {LABELS}")
        if self.kind not in INVALID_KINDS or (self.label != "invalid" and self.kind != "screen"):
            raise ValueError(f"kind {self.kind!r} does not fit label {self.label!r}")
        if self.layout not in LAYOUTS or self.fmt not in FORMATS:
            raise ValueError(f"unknown layout {self.layout!r} or format {self.fmt!r}")
        if not (1 <= self.quality <= 100 and self.width > 0 and self.height > 0):
            raise ValueError("quality must be 1..100 and the size positive")
        if self.time_format not in TIME_FORMATS or self.time_position not in TIME_POSITIONS:
            raise ValueError(f"unknown time format {self.time_format!r} or position")
        if self.shown_time is not None and self.kind not in TIME_KINDS:
            raise ValueError(f"kind {self.kind!r} shows no time; only {TIME_KINDS} do")
        if self.status_clock is not None and self.kind not in PHONE_KINDS:
            raise ValueError(f"kind {self.kind!r} has no status bar")


def _size(kind: str, rng: random.Random) -> tuple[int, int]:
    if kind in PHONE_KINDS:
        return rng.choice(PHONE_SIZES)
    if kind == "document":
        page = rng.randint(600, 1240), rng.randint(850, 1754)
        receipt = rng.randint(380, 600), rng.randint(900, 2000)
        return rng.choice((page, receipt))
    if kind == "tiny":
        return rng.randint(1, 48), rng.randint(1, 48)
    low = 1 if kind == "blank" else 64
    return rng.randint(low, 2000), rng.randint(low, 2000)


def _maybe(rng: random.Random, p: float, lo: float, hi: float) -> float:
    return round(rng.uniform(lo, hi), 3) if rng.random() < p else 0.0


def sample_spec(
    label: str, rng: random.Random, layouts: tuple[str, ...] = tuple(LAYOUTS), **factors: object
) -> RenderSpec:
    """Draw every factor of an image of `label`, its layout from `layouts`; `factors` pin fields."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
    kinds = list(INVALID_KINDS)
    kind = "screen" if label != "invalid" else rng.choices(kinds, list(INVALID_KINDS.values()))[0]
    kind = str(factors.get("kind", kind))
    if kind == "badge":
        ink = rng.choice((*UI_COLORS, *(status_color(s, rng) for s in LABELS[:3])))
    else:
        ink = status_color(label, rng)
    width, height = _size(kind, rng)
    photo = rng.random() < 0.4  # photos are the harder part: more of them
    # photos are often blurred, noisy, reflective and turned; screenshots only now and then
    p = 0.6 if photo else 0.06
    # Drawn whatever the kind, so that every kind takes the same number of draws from `rng`.
    shown = sample_shown_time(rng) if rng.random() < 0.85 else None
    time_format = sample_time_format(rng, cjk_font_file() is not None)
    time_position = rng.choice(TIME_POSITIONS)
    clock = sample_status_clock(rng, shown) if rng.random() < 0.95 else None
    spec = RenderSpec(
        label=label,
        kind=kind,
        layout=rng.choice(layouts),
        width=width,
        height=height,
        dark=rng.random() < 0.3,
        ink=ink,
        fmt="jpeg" if photo and rng.random() < 0.9 else rng.choices(FORMATS, (0.7, 0.3))[0],
        quality=rng.randint(30, 95),
        crop=not photo and rng.random() < 0.25,
        photo=photo,
        rotation=_maybe(rng, 0.8 if photo else 0.06, -15, 15),
        blur=_maybe(rng, p, 0.1, 1.2),
        glare=_maybe(rng, p * 0.6, 0.1, 0.6),
        moire=_maybe(rng, p * 0.6, 0.03, 0.15),
        noise=_maybe(rng, p, 2, 12),
        chat=rng.random() < 0.2,
        shown_time=shown if kind in TIME_KINDS else None,
        time_format=time_format,
        time_position=time_position,
        status_clock=clock if kind in PHONE_KINDS else None,
    )
    return dataclasses.replace(spec, **factors)
