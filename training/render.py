"""Synthetic health-code screenshots as JPEG/PNG bytes, for training and for test fixtures.

The status is the colour of the QR code, never the colour of the UI around it: app bars, hero areas
and buttons take colours drawn independently of the label (neutral, blue, or any status colour),
and `invalid` holds black or off-colour QR codes in the very same app layouts (status-coloured
bars and banners included), status-coloured badges without a QR code, documents, receipts,
abstract scenes, blank and tiny images.

    from training.render import render
    jpeg_or_png = render("green", seed=7)              # everything drawn from the seed
    png = render("red", seed=7, fmt="png", dark=True)  # any RenderSpec field can be pinned
"""

from __future__ import annotations

import dataclasses
import io
import random
from dataclasses import dataclass

from PIL import Image

from training.layouts import LAYOUTS
from training.scenes import document, random_colour, scene
from training.screens import NEUTRAL_WORDS, RGB, UI_COLORS, Screen, hex_rgb, sample_theme

LABELS = ("green", "yellow", "red", "invalid")
# label -> the two ends of the range its QR colour is drawn from
STATUS_SHADES: dict[str, tuple[RGB, RGB]] = {
    "green": (hex_rgb("00a050"), hex_rgb("22c55e")),
    "yellow": (hex_rgb("f5b700"), hex_rgb("ffcc00")),
    "red": (hex_rgb("d01010"), hex_rgb("ff3b30")),
}
# The QR colour ranges of invalid screens, with weights: mostly black and greys, some blue, purple.
OTHER_INKS: dict[tuple[RGB, RGB], float] = {
    (hex_rgb("000000"), hex_rgb("464646")): 0.7,
    (hex_rgb("0a1e5a"), hex_rgb("284696")): 0.1,
    (hex_rgb("1450c8"), hex_rgb("4682ff")): 0.1,
    (hex_rgb("6428aa"), hex_rgb("965ae6")): 0.1,
}
PHONE_SIZES = (
    (720, 1280),
    (750, 1334),
    (828, 1792),
    (1080, 1920),
    (1080, 2340),
    (1080, 2400),
    (1170, 2532),
    (1242, 2688),
    (1284, 2778),
    (1440, 2560),
    (1440, 3200),
)
FORMATS = ("jpeg", "png")
# kind -> share of the invalid class; positives are always "screen".
INVALID_KINDS = {
    "screen": 0.5,
    "badge": 0.08,
    "document": 0.15,
    "scene": 0.15,
    "blank": 0.06,
    "tiny": 0.06,
}


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

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}; expected one of {LABELS}")
        if self.kind not in INVALID_KINDS or (self.label != "invalid" and self.kind != "screen"):
            raise ValueError(f"kind {self.kind!r} does not fit label {self.label!r}")
        if self.layout not in LAYOUTS or self.fmt not in FORMATS:
            raise ValueError(f"unknown layout {self.layout!r} or format {self.fmt!r}")


def _between(rng: random.Random, lo: RGB, hi: RGB) -> RGB:
    t = rng.random()
    r, g, b = (round(a + t * (z - a)) for a, z in zip(lo, hi, strict=True))
    return r, g, b


def status_color(label: str, rng: random.Random) -> RGB:
    """Draw a QR colour for `label`: a status shade, or a black/blue/purple ink for invalid."""
    if label != "invalid":
        return _between(rng, *STATUS_SHADES[label])
    lo_hi = rng.choices(list(OTHER_INKS), weights=list(OTHER_INKS.values()))[0]
    return _between(rng, *lo_hi)


def _size(kind: str, rng: random.Random) -> tuple[int, int]:
    if kind in ("screen", "badge"):
        return rng.choice(PHONE_SIZES)
    if kind == "document":
        page = rng.randint(600, 1240), rng.randint(850, 1754)
        receipt = rng.randint(380, 600), rng.randint(900, 2000)
        return rng.choice((page, receipt))
    if kind == "tiny":
        return rng.randint(1, 48), rng.randint(1, 48)
    low = 1 if kind == "blank" else 64
    return rng.randint(low, 2000), rng.randint(low, 2000)


def sample_spec(label: str, rng: random.Random, **factors: object) -> RenderSpec:
    """Draw every factor of an image of `label`; `factors` pin RenderSpec fields to given values."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
    kinds = list(INVALID_KINDS)
    kind = "screen" if label != "invalid" else rng.choices(kinds, list(INVALID_KINDS.values()))[0]
    kind = str(factors.get("kind", kind))
    if kind == "badge":
        ink = rng.choice((*UI_COLORS, *(_between(rng, *s) for s in STATUS_SHADES.values())))
    else:
        ink = status_color(label, rng)
    width, height = _size(kind, rng)
    spec = RenderSpec(
        label=label,
        kind=kind,
        layout=rng.choice(list(LAYOUTS)),
        width=width,
        height=height,
        dark=rng.random() < 0.3,
        ink=ink,
        fmt=rng.choices(FORMATS, (0.7, 0.3))[0],
        quality=rng.randint(40, 95),
        crop=rng.random() < 0.2,
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
    paper = theme.card if dark_paper_ok else (rng.randint(248, 255),) * 3
    if spec.label != "invalid":
        words = (f"{spec.label.upper()} CODE", *NEUTRAL_WORDS)
        banner = (rng.choice(words), spec.ink) if rng.random() < 0.5 else None
    else:  # a status banner over a black code must not make it a health code
        words = (*(f"{label.upper()} CODE" for label in STATUS_SHADES), *NEUTRAL_WORDS)
        banner = (rng.choice(words), rng.choice(UI_COLORS)) if rng.random() < 0.3 else None
    size = (spec.width, spec.height)
    screen = Screen(size, theme, rng, spec.ink, paper, banner, badge=spec.kind == "badge")
    box = LAYOUTS[spec.layout](screen)
    return _crop_around(screen.img, box, rng) if spec.crop else screen.img


def draw(spec: RenderSpec, rng: random.Random) -> Image.Image:
    """Draw the RGB image that `spec` describes, taking the details from `rng`."""
    size = (spec.width, spec.height)
    if spec.kind in ("screen", "badge"):
        return _screen(spec, rng)
    if spec.kind == "document":
        return document(size, rng)
    if spec.kind == "blank":
        return Image.new("RGB", size, random_colour(rng))
    return scene(size, rng)


def encode(img: Image.Image, spec: RenderSpec) -> bytes:
    """Encode `img` as the JPEG or PNG that `spec` asks for."""
    buf = io.BytesIO()
    if spec.fmt == "png":
        img.save(buf, "PNG", compress_level=1)  # lossless whatever the level: favour speed
    else:
        img.save(buf, "JPEG", quality=spec.quality)
    return buf.getvalue()


def render_sample(label: str, seed: int, **factors: object) -> tuple[RenderSpec, bytes]:
    """Render one image of `label` from `seed`; return its spec and its encoded bytes."""
    rng = random.Random(seed)
    spec = sample_spec(label, rng, **factors)
    return spec, encode(draw(spec, rng), spec)


def render(label: str, seed: int = 0, **factors: object) -> bytes:
    """Render one image of `label` ("green", "yellow", "red" or "invalid") as JPEG or PNG bytes.

    The same label, seed and factors always give the same bytes. `factors` pin RenderSpec fields,
    e.g. fmt="png", quality=60, dark=True, layout="hero", kind="document" (invalid only).
    """
    return render_sample(label, seed, **factors)[1]
