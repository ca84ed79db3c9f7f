"""Hard negatives that look like health-code apps: payment screens and trip cards (行程卡)."""

from __future__ import annotations

import random

from PIL import Image

from training.colours import hex_rgb, ink_on, status_color
from training.screens import Screen, qr_mask, sample_theme
from training.timestamps import Stamp, draw_stamp, stamp_height

# Payment apps' page colours: greens and blues around a black code.
_PAY_COLORS = tuple(hex_rgb(c) for c in ("07c160", "1aad19", "09bb07", "1677ff", "108ee9"))


def _screen(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Screen:
    paper = (rng.randint(248, 255),) * 3
    inks = ((0, 0, 0), (0, 0, 0))
    return Screen(size, sample_theme(rng, dark), rng, inks, paper, None, False, stamp)


def payment(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Image.Image:
    """A 'pay the merchant' screen: green or blue page, white card, barcode, black QR code."""
    s = _screen(size, rng, dark, stamp)
    page = rng.choice((*_PAY_COLORS, s.theme.accent))
    s.img.paste(page, (0, 0, s.w, s.h))
    y = s.status_bar(None, ink_on(page))
    y = s.header(y, page, s.words(2)[:10])
    top = y + s.dp(rng.uniform(8, 30))
    card = (s.dp(14), top, s.w - s.dp(14), min(s.h - s.dp(10), top + s.dp(rng.uniform(420, 520))))
    s.draw.rounded_rectangle(card, s.dp(8), fill=s.paper)
    s.text((card[0] + s.dp(16), top + s.dp(14)), s.words(2)[:10], 15, (30, 30, 30))
    y = top + s.dp(50)
    x, right = s.dp(40), s.w - s.dp(40)
    while x < right:  # a 1D barcode
        bar = s.dp(rng.choice((1, 1, 2, 3))) or 1
        if rng.random() < 0.55:
            s.draw.rectangle((x, y, x + bar - 1, y + s.dp(70)), fill=(0, 0, 0))
        x += bar
    side = round(s.w * rng.uniform(0.42, 0.58))
    qy = y + s.dp(96)
    box = (s.w // 2 - side // 2, qy, s.w // 2 - side // 2 + side, qy + side)
    s.img.paste((0, 0, 0), box, qr_mask(rng, side, rng.random() < 0.5))
    if rng.random() < 0.6:  # the app's logo in the middle, in its green or blue
        r, cx, cy = side // 10, s.w // 2, qy + side // 2
        s.draw.rounded_rectangle((cx - r, cy - r, cx + r, cy + r), r // 3, fill=s.paper)
        s.draw.ellipse((cx - r + 3, cy - r + 3, cx + r - 3, cy + r - 3), fill=page)
    s.lines(s.dp(30), box[3] + s.dp(20), rng.randint(1, 4), 13, (90, 90, 90))
    return s.img


def trip(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Image.Image:
    """A trip card: header, masked phone number, a big status-coloured badge, no QR code."""
    s = _screen(size, rng, dark, stamp)
    bar = rng.choice((s.theme.accent, s.theme.card))
    y = s.status_bar(bar, ink_on(bar))
    y = s.header(y, bar, s.words(3)[:10]) + s.dp(20)
    s.text((s.w // 2, y), f"1{rng.randint(30, 99)}****{rng.randint(0, 9999):04d}", 18,
           s.theme.fg, bold=True, anchor="ma")  # fmt: skip
    colour = status_color(rng.choice(("green", "yellow", "red")), rng)
    above, below = (stamp_height(s), 0) if s.stamp.above else (0, stamp_height(s))
    cx, cy, r = s.w // 2, y + s.dp(150) + above, s.dp(rng.uniform(60, 110))
    shape = rng.choice(("circle", "arrow", "tick"))
    draw_stamp(s, (cx - r, cy - r, cx + r, cy + r))  # 行程卡 show when they were updated
    if shape == "circle":
        s.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "arrow":
        pts = [(cx - r, cy + r // 3), (cx, cy - r), (cx + r, cy + r // 3), (cx + r // 3, cy),
               (cx + r // 3, cy + r), (cx - r // 3, cy + r), (cx - r // 3, cy)]  # fmt: skip
        s.draw.polygon(pts, fill=colour)
    else:
        s.draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=s.dp(8))
        s.draw.line([(cx - r // 2, cy), (cx - r // 8, cy + r // 2), (cx + r // 2, cy - r // 3)],
                    fill=colour, width=s.dp(10))  # fmt: skip
    y = cy + r + s.dp(30) + below
    s.text((s.w // 2, y), s.words(3)[:14], 15, colour, bold=True, anchor="ma")
    y = s.lines(s.dp(24), y + s.dp(40), rng.randint(2, 6), 13, s.theme.muted)
    if rng.random() < 0.5:
        s.tiles(y + s.dp(10), 1)
    return s.img
