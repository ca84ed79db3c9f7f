"""Code-less status pages (all `invalid`): trip cards (行程卡), result and pass pages, charts.

A trip card shows a big green, amber or red arrow or tick in a circle, and no QR code at all: v1
answered `green` to many of them. Result and pass pages show the status colour in shields, discs,
ticks and big words, again without a QR code. Charts (calendars, streak grids) show cells in a
status colour, which iteration 9 answered as colours on independent pages.
"""

from __future__ import annotations

import random

from PIL import Image

from training.colours import RGB, UI_COLORS, ink_on, status_color
from training.home import service_grid, tab_bar
from training.screens import Screen, sample_theme
from training.standins import shield, tick
from training.timestamps import Stamp, draw_stamp, stamp_room

_LIGHT = 0.78  # how far towards white the pale ring around a trip card's arrow is


def _pale(colour: RGB, amount: float) -> RGB:
    return tuple(round(c + (255 - c) * amount) for c in colour)  # type: ignore[return-value]


def _screen(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Screen:
    paper = (rng.randint(248, 255),) * 3
    return Screen(size, sample_theme(rng, dark), rng, ((0, 0, 0),) * 2, paper, None, "", stamp)


def arrow(s: Screen, cx: int, cy: int, r: int, fill: RGB) -> None:
    """A thick upward arrow, or a double chevron, centred on (cx, cy)."""
    if s.rng.random() < 0.6:
        w = r * s.rng.uniform(0.28, 0.4)
        pts = [(cx - r, cy + r * 0.05), (cx, cy - r), (cx + r, cy + r * 0.05), (cx + w, cy),
               (cx + w, cy + r), (cx - w, cy + r), (cx - w, cy)]  # fmt: skip
        s.draw.polygon(pts, fill=fill)
        return
    for dy in (-r * 0.45, r * 0.15):
        pts = [(cx - r * 0.8, cy + dy + r * 0.45), (cx, cy + dy - r * 0.3),
               (cx + r * 0.8, cy + dy + r * 0.45)]  # fmt: skip
        s.draw.line(pts, fill=fill, width=max(2, round(r * 0.22)), joint="curve")


def trip(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Image.Image:
    """A trip card: title, phone number, update time, a big coloured arrow or tick, places."""
    s = _screen(size, rng, dark, stamp)
    bar = rng.choice((s.theme.accent, s.theme.card, (33, 110, 230)))
    y = s.status_bar(bar, ink_on(bar))
    y = s.header(y, bar, s.words(3)[:10]) + s.dp(rng.uniform(10, 30))
    s.text((s.w // 2, y), s.words(3)[:10], 13, s.theme.muted, anchor="ma")
    s.text((s.w // 2, y + s.dp(28)), f"1{rng.randint(30, 99)}****{rng.randint(0, 9999):04d}",
           18, s.theme.fg, bold=True, anchor="ma")  # fmt: skip
    above, below = stamp_room(s)
    r = s.dp(rng.uniform(55, 120))
    cx, cy = s.w // 2, y + s.dp(80) + above + r
    colour = status_color(rng.choice(("green", "yellow", "red")), rng)
    draw_stamp(s, (cx - r, cy - r, cx + r, cy + r))  # trip cards say when they were updated
    style = rng.choice(("arrow in disc", "arrow", "tick in ring", "tick on disc", "disc"))
    box = (cx - r, cy - r, cx + r, cy + r)
    if style == "arrow in disc":
        s.draw.ellipse(box, fill=_pale(colour, _LIGHT))
        arrow(s, cx, cy, round(r * 0.7), colour)
    elif style == "arrow":
        arrow(s, cx, cy, r, colour)
    elif style == "tick in ring":
        s.draw.ellipse(box, outline=colour, width=max(2, r // 8))
        tick(s, box, colour, r // 6)
    elif style == "tick on disc":
        s.draw.ellipse(box, fill=colour)
        tick(s, box, ink_on(colour), r // 6)
    else:
        s.draw.ellipse(box, fill=colour)
    y = cy + r + below + s.dp(24)
    s.text((s.w // 2, y), s.words(4)[:16], 14, rng.choice((colour, s.theme.fg)), anchor="ma")
    y = s.lines(s.dp(24), y + s.dp(36), rng.randint(1, 4), 13, s.theme.fg)
    if rng.random() < 0.5:
        y = service_grid(s, y + s.dp(10), 1)
    if rng.random() < 0.4:
        tab_bar(s)
    return s.img


def status_page(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Image.Image:
    """A result or pass page: a coloured header card, a big shield, disc or word, detail rows."""
    s = _screen(size, rng, dark, stamp)
    colour = status_color(rng.choice(("green", "yellow", "red")), rng)
    head = rng.choice((colour, s.theme.accent, s.theme.card))
    head_h = round(s.h * rng.uniform(0.1, 0.35))
    s.draw.rectangle((0, 0, s.w, head_h), fill=head)
    y = s.status_bar(None, ink_on(head))
    s.text((s.w // 2, y + s.dp(20)), s.app_name(), 18, ink_on(head), bold=True, anchor="ma")
    size_px = s.dp(rng.uniform(90, 200))
    cx = s.w // 2
    top = max(y + s.dp(70), head_h - size_px // 2)
    above, below = stamp_room(s)
    card = (s.dp(16), top - s.dp(16), s.w - s.dp(16), top + size_px + above + below + s.dp(110))
    s.draw.rounded_rectangle(card, s.dp(14), fill=s.theme.card)
    box = (cx - size_px // 2, top + above, cx + size_px // 2, top + above + size_px)
    draw_stamp(s, box)
    shape = rng.choice(("shield", "disc", "word", "ring"))
    if shape == "shield":
        shield(s, box, colour)
        tick(s, box, ink_on(colour), size_px // 10)
    elif shape == "disc":
        s.draw.ellipse(box, fill=colour)
        tick(s, box, ink_on(colour), size_px // 10)
    elif shape == "ring":
        s.draw.ellipse(box, outline=colour, width=max(2, size_px // 12))
        s.text((cx, (box[1] + box[3]) // 2), s.words(1)[:2], size_px / s.unit * 0.3, colour,
               bold=True, anchor="mm")  # fmt: skip
    else:
        word = rng.choice(("阴性", "通行", "已接种", "PASS", "NEGATIVE", "绿码", "正常"))
        s.text((cx, (box[1] + box[3]) // 2), word, size_px / s.unit * 0.32, colour, bold=True,
               anchor="mm")  # fmt: skip
    y = box[3] + below + s.dp(20)
    s.text((cx, y), s.words(3)[:14], 15, rng.choice((colour, s.theme.fg)), bold=True, anchor="ma")
    y = card[3] + s.dp(16)
    while y < s.h - s.dp(50):
        s.text((s.dp(24), y), s.words(1)[:6], 13, s.theme.muted)
        value = rng.choice((colour, s.theme.fg, *UI_COLORS[:3]))
        s.text((s.w - s.dp(24), y), s.words(1)[:8], 13, value, anchor="ra")
        y += s.dp(rng.uniform(34, 48))
    return s.img


def chart(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Image.Image:
    """A page of status-coloured cells and no QR code: a check-in calendar, a streak strip or a
    square heatmap of days. Blurred by a photo, each is a coloured patch of texture, which is all
    a far code is; what tells them apart is a code's three finder squares, which the closer look
    sees at twice the resolution: the heatmap, which the locator takes for a code, is drawn so
    that the network learns its view (a step counter's or a check-in record's)."""
    s = _screen(size, rng, dark, stamp)
    label = rng.choice(("green", "green", "yellow", "red"))
    bar = rng.choice((s.theme.accent, s.theme.card, status_color(label, rng)))
    y = s.status_bar(bar, ink_on(bar))
    y = s.header(y, bar, s.words(3)[:10]) + s.dp(rng.uniform(12, 40))
    s.text((s.dp(20), y), s.words(3)[:12], 15, s.theme.fg, bold=True)
    y += s.dp(36)
    style = rng.choice(("calendar", "streak", "heatmap"))
    calendar = style == "calendar"
    # a month of 7 columns of rounded days; weeks across and days down in small squares; or a
    # heatmap of days as square as a code, without numbers, some days not drawn
    if calendar:
        cols, rows = 7, rng.randint(4, 6)
    elif style == "streak":
        cols, rows = rng.randint(14, 40), 7
    else:
        cols = rng.randint(7, 20)
        rows = rng.randint(max(4, cols // 2), cols + 2)
    missing = rng.uniform(0.0, 0.3) if style == "heatmap" else 0.0
    left, right = s.dp(rng.uniform(14, 40)), s.w - s.dp(rng.uniform(14, 40))
    cell = (right - left) / cols
    gap = max(1, round(cell * rng.uniform(0.08, 0.25)))
    fill_share = rng.uniform(0.35, 0.8)
    for row in range(rows):
        for col in range(cols):
            if rng.random() < missing:
                continue
            colour = s.theme.muted
            if rng.random() < fill_share:
                colour = status_color(label, rng)
                if rng.random() < 0.5:
                    colour = _pale(colour, rng.uniform(0.2, 0.6))
            x0, y0 = left + col * cell, y + row * cell
            box = (round(x0), round(y0), round(x0 + cell) - gap - 1, round(y0 + cell) - gap - 1)
            if calendar:
                s.draw.rounded_rectangle(box, max(1, round(cell * 0.2)), fill=colour)
                s.text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), str(row * 7 + col + 1),
                       11, ink_on(colour), anchor="mm")  # fmt: skip
            else:
                s.draw.rectangle(box, fill=colour)
    y = round(y + rows * cell) + s.dp(24)
    y = s.lines(s.dp(24), y, rng.randint(1, 4), 13, s.theme.fg)
    if rng.random() < 0.4:
        y = service_grid(s, y + s.dp(10), 1)
    if rng.random() < 0.4:
        tab_bar(s)
    return s.img
