"""Home-page layouts: the code is one small card among banners, service grids, news and tab bars.

These are the screens people send most and the v1 model got wrong: a code 20-40% of the screen
wide at the left or right of a card that also holds text, above or below icon grids in every
colour (status greens, ambers and reds included), with a tab bar at the bottom.
"""

from __future__ import annotations

import random

from PIL import Image

from training.colours import RGB, UI_COLORS, ink_on, status_color
from training.screens import Box, Screen, sample_theme
from training.timestamps import Stamp, stamp_room

_GLYPHS = ("circle", "ring", "bar", "square")


def icon(s: Screen, box: Box, fill: tuple[int, int, int]) -> None:
    """A service icon: a rounded tile in `fill` with a simple white glyph."""
    s.draw.rounded_rectangle(box, max(1, (box[2] - box[0]) // 4), fill=fill)
    x0, y0, x1, y1 = box
    q = (x1 - x0) // 4
    inner = (x0 + q, y0 + q, x1 - q, y1 - q)
    ink = ink_on(fill)
    glyph = s.rng.choice(_GLYPHS)
    if glyph == "circle":
        s.draw.ellipse(inner, fill=ink)
    elif glyph == "ring":
        s.draw.ellipse(inner, outline=ink, width=max(1, q // 3))
    elif glyph == "bar":
        s.draw.rectangle(
            (inner[0], (y0 + y1) // 2 - q // 3, inner[2], (y0 + y1) // 2 + q // 3), ink
        )
    else:
        s.draw.rectangle(inner, outline=ink, width=max(1, q // 3))


def service_grid(s: Screen, y: int, rows: int) -> int:
    """Rows of 4 or 5 coloured service icons with captions; return the y below them."""
    cols = s.rng.choice((4, 5))
    size, step = s.dp(s.rng.uniform(34, 46)), s.w // cols
    plain = s.rng.random() < 0.3  # some apps draw every icon in the app's own colour
    for r in range(rows):
        for c in range(cols):
            cx, top = step * c + step // 2, y + r * s.dp(74)
            fill = s.theme.accent if plain else s.rng.choice(UI_COLORS)
            icon(s, (cx - size // 2, top, cx + size // 2, top + size), fill)
            s.text((cx, top + size + s.dp(6)), s.words(1)[:5], 11, s.theme.fg, anchor="ma")
    return y + rows * s.dp(74)


def thumbnail_colour(s: Screen) -> RGB:
    """A news picture's main colour: any UI colour, or a status green, amber or red."""
    if s.rng.random() < 0.4:
        return status_color(s.rng.choice(("green", "yellow", "red")), s.rng)
    return s.rng.choice(UI_COLORS)


def thumbnail(s: Screen, box: Box) -> None:
    """A news picture: a coloured tile, sometimes with a lighter shape on it (a photo's subject)."""
    fill = thumbnail_colour(s)
    s.draw.rounded_rectangle(box, s.dp(6), fill=fill)
    if s.rng.random() < 0.5:
        x0, y0, x1, y1 = box
        r = (y1 - y0) // s.rng.randint(3, 5)
        cx = s.rng.randint(x0 + r, max(x0 + r, x1 - r))
        cy = s.rng.randint(y0 + r, max(y0 + r, y1 - r))
        s.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=thumbnail_colour(s))


def news(s: Screen, y: int) -> None:
    """News items (a coloured thumbnail at one side, or three in a row, and text) to the bottom."""
    left = s.rng.random() < 0.3
    while y < s.h - s.dp(60):
        if s.rng.random() < 0.15:  # a picture story: a title over three thumbnails
            s.text((s.dp(16), y), s.words(3)[:16], 15, s.theme.fg)
            step = (s.w - s.dp(32)) // 3
            for i in range(3):
                x = s.dp(16) + i * step
                thumbnail(s, (x, y + s.dp(26), x + step - s.dp(6), y + s.dp(94)))
            y += s.dp(112)
            continue
        side = s.dp(s.rng.uniform(84, 120))
        x0 = s.dp(16) if left else s.w - s.dp(16) - side
        thumbnail(s, (x0, y, x0 + side, y + s.dp(68)))
        tx = x0 + side + s.dp(12) if left else s.dp(16)
        s.text((tx, y + s.dp(4)), s.words(3)[:14], 15, s.theme.fg)
        s.text((tx, y + s.dp(44)), s.words(2)[:12], 11, s.theme.muted)
        y += s.dp(86)


def tab_bar(s: Screen) -> None:
    """A bottom tab bar of 4 or 5 icons; the first or a middle one is the active one."""
    n, h = s.rng.choice((4, 5)), s.dp(s.rng.uniform(50, 60))
    s.draw.rectangle((0, s.h - h, s.w, s.h), fill=s.theme.card)
    active = s.rng.randrange(n)
    for i in range(n):
        cx = s.w * (2 * i + 1) // (2 * n)
        fill = s.theme.accent if i == active else s.theme.muted
        r = s.dp(10)
        top = s.h - h + s.dp(7)
        if s.rng.random() < 0.5:
            s.draw.ellipse((cx - r, top, cx + r, top + 2 * r), fill=fill)
        else:
            s.draw.rounded_rectangle((cx - r, top, cx + r, top + 2 * r), s.dp(4), outline=fill,
                                     width=max(1, s.dp(2)))  # fmt: skip
        s.text((cx, s.h - s.dp(9)), s.words(1)[:4], 10, fill, anchor="mb")


def banner(s: Screen, y: int) -> int:
    """A promotion banner: a coloured rounded box with big text; return the y below it."""
    h = s.dp(s.rng.uniform(80, 140))
    fill = s.rng.choice(UI_COLORS)
    s.draw.rounded_rectangle((s.dp(14), y, s.w - s.dp(14), y + h), s.dp(10), fill=fill)
    s.text((s.dp(30), y + h // 3), s.words(2)[:10], 22, ink_on(fill), bold=True, anchor="lm")
    s.text((s.dp(30), y + 2 * h // 3), s.words(3)[:16], 13, ink_on(fill), anchor="lm")
    return y + h + s.dp(12)


def search(s: Screen, y: int) -> int:
    """App title, a city picker and a search field; return the y below them."""
    s.text((s.dp(16), y + s.dp(8)), s.app_name(), 20, s.theme.fg, bold=True)
    field = (s.dp(16), y + s.dp(44), s.w - s.dp(16), y + s.dp(80))
    s.draw.rounded_rectangle(field, s.dp(18), fill=s.theme.card, outline=s.theme.muted)
    s.text((s.dp(40), y + s.dp(62)), s.words(2)[:8], 13, s.theme.muted, anchor="lm")
    return y + s.dp(92)


def side_card(s: Screen, y: int, size: int, right: bool, fill=None) -> tuple[Box, int]:
    """A full-width card: the code at one side, the holder and labels at the other."""
    above, below = stamp_room(s)
    pad = s.dp(s.rng.uniform(10, 18))
    card = (s.dp(12), y, s.w - s.dp(12), y + size + above + below + 2 * pad + s.dp(36))
    s.draw.rounded_rectangle(card, s.dp(12), fill=fill or s.theme.card)
    title_y = y + pad
    s.text((card[0] + pad, title_y), s.app_name(), 15, s.theme.fg, bold=True)
    top = title_y + s.dp(30) + above
    cx = card[2] - pad - size // 2 if right else card[0] + pad + size // 2
    if s.paper != (fill or s.theme.card):
        margin = s.dp(6)
        s.draw.rectangle((cx - size // 2 - margin, top - margin, cx + size // 2 + margin,
                          top + size + margin), fill=s.paper)  # fmt: skip
    box = s.code((cx, top + size // 2), size)
    tx = card[0] + pad if right else box[2] + pad
    ty = top + s.dp(4)
    s.text((tx, ty), s.words(1)[:6], 18, s.theme.fg, bold=True)
    s.text((tx, ty + s.dp(28)), f"{s.rng.randint(110000, 659999)}****", 12, s.theme.muted)
    if s.banner is not None:
        word, colour = s.banner
        s.text((tx, ty + s.dp(52)), word, 16, colour, bold=True)
    else:
        s.text((tx, ty + s.dp(52)), s.words(2)[:8], 13, s.theme.fg)
    if s.rng.random() < 0.6:
        button = (tx, ty + s.dp(82), tx + s.dp(96), ty + s.dp(112))
        s.button(button, s.rng.choice((s.theme.accent, *UI_COLORS)), s.words(1)[:4])
    return box, card[3] + s.dp(12)


def home(s: Screen) -> Box:
    """Search, maybe a banner, the code card high or low, a service grid, news, a tab bar."""
    bar = s.rng.choice((None, s.theme.accent))
    y = s.status_bar(bar, ink_on(bar) if bar else s.theme.fg)
    y = search(s, y)
    size = round(s.w * s.rng.uniform(0.2, 0.4))
    right = s.rng.random() < 0.5
    if s.rng.random() < 0.5:  # code card first
        box, y = side_card(s, y, size, right)
        y = banner(s, y) if s.rng.random() < 0.5 else y
        y = service_grid(s, y, s.rng.randint(1, 2))
    else:
        y = banner(s, y) if s.rng.random() < 0.7 else y
        y = service_grid(s, y, s.rng.randint(1, 2))
        box, y = side_card(s, y + s.dp(6), size, right)
    news(s, y + s.dp(8))
    tab_bar(s)
    return box


def entry_card(s: Screen, y: int) -> int:
    """A card that leads to the code without showing it: an icon tile, text, a button."""
    size = round(s.w * s.rng.uniform(0.16, 0.3))
    pad = s.dp(s.rng.uniform(10, 18))
    card = (s.dp(12), y, s.w - s.dp(12), y + size + 2 * pad + s.dp(30))
    s.draw.rounded_rectangle(card, s.dp(12), fill=s.theme.card)
    s.text((card[0] + pad, y + pad), s.app_name(), 15, s.theme.fg, bold=True)
    right = s.rng.random() < 0.5
    x0 = card[2] - pad - size if right else card[0] + pad
    top = y + pad + s.dp(30)
    thumbnail(s, (x0, top, x0 + size, top + size))
    tx = card[0] + pad if right else x0 + size + pad
    s.text((tx, top + s.dp(4)), s.words(2)[:8], 16, s.theme.fg, bold=True)
    s.text((tx, top + s.dp(32)), s.words(3)[:12], 12, s.theme.muted)
    if s.rng.random() < 0.7:
        button = (tx, top + s.dp(58), tx + s.dp(96), top + s.dp(88))
        s.button(button, s.rng.choice((s.theme.accent, *UI_COLORS)), s.words(1)[:4])
    return card[3] + s.dp(12)


def feed(size: tuple[int, int], rng: random.Random, dark: bool, stamp: Stamp) -> Image.Image:
    """An app's home page with no code (invalid): the parts of `home` around an entry card.

    Independent photos of news lists with coloured thumbnails were answered as a colour: these
    pages teach that a status-coloured picture beside text is not a code.
    """
    paper = (rng.randint(248, 255),) * 3
    s = Screen(size, sample_theme(rng, dark), rng, ((0, 0, 0),) * 2, paper, None, "", stamp)
    bar = rng.choice((None, s.theme.accent))
    y = s.status_bar(bar, ink_on(bar) if bar else s.theme.fg)
    y = search(s, y)
    y = banner(s, y) if rng.random() < 0.6 else y
    y = entry_card(s, y) if rng.random() < 0.5 else y
    y = service_grid(s, y, rng.randint(0, 2))
    news(s, y + s.dp(8))
    if rng.random() < 0.8:
        tab_bar(s)
    return s.img


def wallet(s: Screen) -> Box:
    """A list of coloured cards (a card wallet); one white card holds the code at one side."""
    y = s.status_bar(None, s.theme.fg) + s.dp(8)
    s.text((s.dp(16), y), s.words(1)[:6], 24, s.theme.fg, bold=True)
    y += s.dp(46)
    before = s.rng.randint(0, 2)
    box: Box | None = None
    while y < s.h - s.dp(150) or box is None:
        if before == 0 and box is None:
            size = round(s.w * s.rng.uniform(0.25, 0.38))
            box, y = side_card(s, y, size, s.rng.random() < 0.5, fill=(255, 255, 255))
            continue
        before -= 1
        fill = s.rng.choice(UI_COLORS)
        h = s.dp(s.rng.uniform(90, 130))
        s.draw.rounded_rectangle((s.dp(12), y, s.w - s.dp(12), y + h), s.dp(12), fill=fill)
        s.text((s.dp(28), y + s.dp(16)), s.words(2)[:10], 17, ink_on(fill), bold=True)
        s.text((s.dp(28), y + h - s.dp(28)), s.words(3)[:18], 12, ink_on(fill))
        y += h + s.dp(12)
    if s.rng.random() < 0.6:
        tab_bar(s)
    return box
