"""Synthetic health-code screenshots and phone photos as JPEG/PNG bytes, for training and tests.

The status is the colour of the QR code, never the colour of the UI around it: app bars, hero areas
and buttons take colours drawn independently of the label, and `invalid` holds black or off-colour
QR codes in the very same app layouts, status-coloured badges without a QR code, payment screens,
trip cards, documents, receipts, abstract scenes, blank and tiny images. Every factor of an image is
a RenderSpec field, so any one can be pinned (for tests, and for per-factor evaluation):

    from training.render import render
    jpeg_or_png = render("green", seed=7)              # everything drawn from the seed
    png = render("red", seed=7, fmt="png", dark=True)  # any RenderSpec field can be pinned
    photo = render("yellow", seed=7, photo=True, rotation=12.0, glare=0.4)
"""

from __future__ import annotations

import dataclasses
import io
import random
from dataclasses import dataclass
from datetime import datetime

from PIL import Image

from training import photo as capture
from training.colours import RGB, UI_COLORS, status_color
from training.fonts import NEUTRAL_WORDS, STATUS_WORDS, cjk_font_file
from training.layouts import LAYOUTS
from training.negatives import payment, trip
from training.scenes import document, random_colour, scene
from training.screens import Screen, sample_theme
from training.timestamps import (
    TIME_FORMATS,
    TIME_POSITIONS,
    Stamp,
    format_shown_time,
    sample_shown_time,
    sample_status_clock,
    sample_time_format,
)

LABELS = ("green", "yellow", "red", "invalid")
PHONE_SIZES = (
    (720, 1280), (750, 1334), (720, 1600), (828, 1792), (1080, 1920), (1080, 2340), (1080, 2400),
    (1170, 2532), (1242, 2688), (1284, 2778), (1440, 2560), (1440, 3200),
)  # fmt: skip
FORMATS = ("jpeg", "png")
# kind -> share of the invalid class; positives are always "screen".
INVALID_KINDS = {
    "screen": 0.34,
    "badge": 0.06,
    "payment": 0.12,
    "trip": 0.08,
    "document": 0.14,
    "scene": 0.14,
    "blank": 0.06,
    "tiny": 0.06,
}
PHONE_KINDS = ("screen", "badge", "payment", "trip")  # drawn at phone screen sizes
TIME_KINDS = ("screen", "badge", "trip")  # may show a date and time by the code (or the badge)
_NO_EFFECTS = ("blank", "tiny")  # kept as they are: a photo of a blank image is a scene


@dataclass(frozen=True)
class RenderSpec:
    """The factors of one image; the other details (text, positions) come from the seed."""

    label: str
    kind: str = "screen"
    layout: str = "classic"  # app screens and badges only
    width: int = 1080
    height: int = 2340
    dark: bool = False
    ink: RGB = (0, 0, 0)  # the QR code's colour (the badge's for kind "badge")
    fmt: str = "jpeg"
    quality: int = 85  # JPEG only
    crop: bool = False  # cut the screenshot down to a random region around the code
    photo: bool = False  # photographed on a phone: bezel, perspective, background, colour cast
    rotation: float = 0.0  # degrees, of the phone in the photo or of the whole image
    blur: float = 0.0  # Gaussian radius in model-input (224 px) pixels
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
    photo = rng.random() < 0.3
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
        blur=_maybe(rng, p, 0.1, 0.8),
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


def _crop_around(
    img: Image.Image, box: tuple[int, int, int, int], rng: random.Random
) -> Image.Image:
    """Cut away a random part of the screen, keeping the code and a margin around it."""
    w, h = img.size
    margin = (box[2] - box[0]) // 10
    left = rng.randint(0, max(0, box[0] - margin) // 2)
    right = rng.randint(min(w, box[2] + margin + (w - box[2]) // 2), w)
    top = rng.randint(0, max(0, box[1] - margin))
    bottom = rng.randint(min(h, box[3] + margin), h)
    return img.crop((left, top, right, bottom))


def _screen(spec: RenderSpec, rng: random.Random) -> Image.Image:
    theme = sample_theme(rng, spec.dark)
    # Dark apps mostly keep the code on a white card; a bright ink may sit on the dark card.
    dark_paper_ok = spec.dark and max(spec.ink) > 150 and rng.random() < 0.4
    paper = theme.card if dark_paper_ok else (rng.randint(245, 255),) * 3
    if spec.label != "invalid":
        words = (*STATUS_WORDS[spec.label], *NEUTRAL_WORDS)
        banner = (rng.choice(words), spec.ink) if rng.random() < 0.5 else None
    else:  # a status banner over a black code must not make it a health code
        words = (*(w for ws in STATUS_WORDS.values() for w in ws), *NEUTRAL_WORDS)
        banner = (rng.choice(words), rng.choice(UI_COLORS)) if rng.random() < 0.3 else None
    # a few apps shade the code between two tones of its status colour
    second = status_color(spec.label, rng) if rng.random() < 0.2 else spec.ink
    inks = (spec.ink, spec.ink if spec.kind == "badge" else second)
    size = (spec.width, spec.height)
    screen = Screen(size, theme, rng, inks, paper, banner, spec.kind == "badge", stamp(spec))
    box = LAYOUTS[spec.layout](screen)
    if screen.stamp_box is not None:  # a crop keeps the shown time
        box = _union(box, screen.stamp_box)
    return _crop_around(screen.img, box, rng) if spec.crop else screen.img


def stamp(spec: RenderSpec) -> Stamp:
    """The time texts that `spec` puts on its screen."""
    lines = () if spec.shown_time is None else format_shown_time(spec.shown_time, spec.time_format)
    return Stamp(lines, spec.time_position == "above", spec.status_clock)


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, ...]:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _base(spec: RenderSpec, rng: random.Random) -> Image.Image:
    size = (spec.width, spec.height)
    if spec.photo:  # a camera sees the screen at a lower resolution: draw it there (it is in dp)
        scale = min(1.0, rng.randint(500, 900) / max(size))
        size = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    if spec.kind in ("screen", "badge"):
        return _screen(spec, rng)
    if spec.kind == "payment":
        return payment(size, rng, spec.dark, stamp(spec))
    if spec.kind == "trip":
        return trip(size, rng, spec.dark, stamp(spec))
    if spec.kind == "document":
        return document(size, rng)
    if spec.kind in _NO_EFFECTS:  # blank and tiny images are one flat colour
        return Image.new("RGB", size, random_colour(rng))
    return scene(size, rng)


def draw(spec: RenderSpec, rng: random.Random) -> Image.Image:
    """Draw the RGB image that `spec` describes, taking the details from `rng`."""
    img = _base(spec, rng)
    if spec.kind in _NO_EFFECTS:
        return img
    # Moiré comes from the screen's pixel grid: drawn before the photo, it bends with the phone.
    if spec.moire:
        img = capture.moire(img, spec.moire, rng)
    if spec.photo:
        img = capture.photograph(img, rng, spec.rotation)
    elif spec.rotation:
        img = capture.rotate(img, spec.rotation, rng)
    if spec.glare:
        img = capture.glare(img, spec.glare, rng)
    if spec.blur:
        img = capture.blur(img, spec.blur)
    if spec.noise:
        img = capture.noise(img, spec.noise, rng)
    return capture.chat_recompress(img, rng) if spec.chat else img


def encode(img: Image.Image, spec: RenderSpec) -> bytes:
    """Encode `img` as the JPEG or PNG that `spec` asks for."""
    buf = io.BytesIO()
    if spec.fmt == "png":
        img.save(buf, "PNG", compress_level=1)  # lossless whatever the level: favour speed
    else:
        img.save(buf, "JPEG", quality=spec.quality)
    return buf.getvalue()


def render_sample(
    label: str, seed: int, layouts: tuple[str, ...] = tuple(LAYOUTS), **factors: object
) -> tuple[RenderSpec, bytes]:
    """Render one image of `label` from `seed`; return its spec and its encoded bytes."""
    rng = random.Random(seed)
    spec = sample_spec(label, rng, layouts, **factors)
    return spec, encode(draw(spec, rng), spec)


def render(label: str, seed: int = 0, **factors: object) -> bytes:
    """Render one image of `label` ("green", "yellow", "red" or "invalid") as JPEG or PNG bytes.

    The same label, seed and factors always give the same bytes. `factors` pin RenderSpec fields,
    e.g. fmt="png", quality=60, dark=True, layout="hero", photo=True, kind="document" (invalid).
    """
    return render_sample(label, seed, **factors)[1]
