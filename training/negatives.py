"""Hard negatives with a black QR code: payment screens, venue and sampling codes."""

from __future__ import annotations

import random

from PIL import Image

from training.colours import hex_rgb, ink_on, status_color
from training.screens import Screen, qr_mask, sample_theme
from training.timestamps import Stamp, stamp_room

# Payment apps' page colours: greens and blues around a black code.
_PAY_COLORS = tuple(hex_rgb(c) for c in ("07c160", "1aad19", "09bb07", "1677ff", "108ee9"))


def _screen(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Screen:
    paper = (rng.randint(248, 255),) * 3
    inks = ((0, 0, 0), (0, 0, 0))
    return Screen(size, sample_theme(rng, dark), rng, inks, paper, None, "", stamp)


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


def venue(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Image.Image:
    """A venue or sampling code: a coloured header or banner (often a status colour) over a black
    QR code; it is not a health code whatever the colour above it."""
    s = _screen(size, rng, dark, stamp)
    head = rng.choice((*(status_color(c, rng) for c in ("green", "yellow", "red")), s.theme.accent))
    y = s.status_bar(head, ink_on(head))
    head_h = s.dp(rng.uniform(60, 200))
    s.draw.rectangle((0, y, s.w, y + head_h), fill=head)
    s.text((s.w // 2, y + head_h // 3), s.words(2)[:8], 24, ink_on(head), bold=True, anchor="mm")
    s.text((s.w // 2, y + 2 * head_h // 3), s.words(3)[:14], 14, ink_on(head), anchor="mm")
    y += head_h + s.dp(rng.uniform(10, 40))
    side = round(s.w * rng.uniform(0.35, 0.7))
    above, below = stamp_room(s)
    box = (s.w // 2 - side // 2, y + above, s.w // 2 - side // 2 + side, y + above + side)
    s.img.paste(s.paper, (box[0] - s.dp(8), box[1] - s.dp(8), box[2] + s.dp(8), box[3] + s.dp(8)))
    ink = (rng.randint(0, 40),) * 3
    s.img.paste(ink, box, qr_mask(rng, side, False))
    if rng.random() < 0.5:  # a logo in the middle, often in the header's colour
        r, cx, cy = side // 10, (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        s.draw.rounded_rectangle((cx - r, cy - r, cx + r, cy + r), r // 3, fill=s.paper)
        s.draw.ellipse((cx - r + 3, cy - r + 3, cx + r - 3, cy + r - 3), fill=head)
    s.lines(s.dp(30), box[3] + below + s.dp(24), rng.randint(1, 5), 13, s.theme.fg)
    return s.img
