"""Colours: the UI palette, and the status shades that carry the label, as HSV ranges.

Shades are ranges in HSV, not fixed RGB values, so the model learns "a green QR code" over the many
greens of different apps and screens, not the exact colours of this renderer.
"""

from __future__ import annotations

import colorsys
import random

RGB = tuple[int, int, int]
HSV = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


def hex_rgb(code: str) -> RGB:
    """Parse "22c55e" into (34, 197, 94)."""
    return int(code[:2], 16), int(code[2:4], 16), int(code[4:], 16)


# App bar, hero, tile and button colours, drawn independently of the status: neutrals, blues,
# purples, teals and the status greens, ambers and reds themselves, so no UI colour gives the
# label away.
_UI_HEX = (
    "ffffff f5f5f5 282828 000000 787882 1677ff 2563eb 0052cc 0ea5e9 6366f1 7c3aed "
    "0d9488 009688 07c160 22c55e 2fb344 f5b700 ffcc00 f97316 dc2626 ff3b30 e02020"
)
UI_COLORS: tuple[RGB, ...] = tuple(hex_rgb(c) for c in _UI_HEX.split())

# label -> (hue in degrees, saturation, value) ranges of its QR colour. The gaps between the
# classes (hue 6..36 orange, 165..205 teal) are never drawn, so every shade has one label.
STATUS_SHADES: dict[str, HSV] = {
    "green": ((100, 165), (0.55, 1.0), (0.42, 0.85)),
    "yellow": ((36, 54), (0.75, 1.0), (0.85, 1.0)),
    "red": ((-8, 6), (0.7, 1.0), (0.68, 1.0)),
}
# The QR inks of invalid screens, with weights: mostly black and dark greys, some blue, purple.
OTHER_INKS: dict[HSV, float] = {
    ((0, 360), (0.0, 0.25), (0.0, 0.3)): 0.7,
    ((205, 245), (0.5, 1.0), (0.3, 1.0)): 0.2,
    ((260, 290), (0.4, 0.9), (0.35, 0.9)): 0.1,
}


def ink_on(fill: RGB) -> RGB:
    """Return a text colour that reads on `fill`."""
    return (20, 20, 20) if sum(fill) > 500 else (255, 255, 255)


def hsv_rgb(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def _draw(rng: random.Random, ranges: HSV) -> RGB:
    return hsv_rgb(*(rng.uniform(lo, hi) for lo, hi in ranges))


def status_color(label: str, rng: random.Random) -> RGB:
    """Draw a QR colour for `label`: a status shade, or a black/blue/purple ink for invalid."""
    if label != "invalid":
        return _draw(rng, STATUS_SHADES[label])
    ranges = rng.choices(list(OTHER_INKS), weights=list(OTHER_INKS.values()))[0]
    return _draw(rng, ranges)


def shade_label(colour: RGB, slack: float = 0.0) -> str | None:
    """Return the status whose shade range holds `colour` (widened by `slack` degrees), or None."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
    hue = h * 360
    for label, ((h0, h1), (s0, s1), (v0, v1)) in STATUS_SHADES.items():
        in_hue = any(h0 - slack <= x <= h1 + slack for x in (hue, hue - 360))
        if in_hue and s0 - 0.02 <= s <= s1 and v0 - 0.02 <= v <= v1:
            return label
    return None
