"""More app families: a mini-program page, a scrolled page, and a portal of feature tiles."""

from __future__ import annotations

from training.colours import UI_COLORS, ink_on, status_color
from training.home import icon, news, tab_bar
from training.screens import Box, Screen
from training.timestamps import stamp_room


def _capsule(s: Screen, y: int, fg: tuple[int, int, int]) -> None:
    """The mini-program menu capsule at the top right: a rounded outline with a dot menu."""
    box = (s.w - s.dp(98), y + s.dp(8), s.w - s.dp(10), y + s.dp(38))
    s.draw.rounded_rectangle(box, s.dp(15), outline=fg, width=max(1, s.dp(1)))
    for i in range(3):
        cx = box[0] + s.dp(16) + i * s.dp(8)
        s.draw.ellipse((cx - s.dp(2), y + s.dp(21), cx + s.dp(2), y + s.dp(25)), fill=fg)


def _info_pair(s: Screen, y: int) -> int:
    """Two small cards side by side (a test result, a vaccination) with coloured values."""
    half = (s.w - s.dp(36)) // 2
    for i in range(2):
        x0 = s.dp(12) + i * (half + s.dp(12))
        s.draw.rounded_rectangle((x0, y, x0 + half, y + s.dp(76)), s.dp(10), fill=s.theme.card)
        s.text((x0 + s.dp(12), y + s.dp(12)), s.words(1)[:6], 12, s.theme.muted)
        # the values are often in a status colour: "negative" in green, "3 doses" in blue
        value = status_color(s.rng.choice(("green", "yellow", "red")), s.rng)
        colour = value if s.rng.random() < 0.5 else s.rng.choice(UI_COLORS)
        s.text((x0 + s.dp(12), y + s.dp(38)), s.words(1)[:4], 20, colour, bold=True)
    return y + s.dp(90)


def mini(s: Screen) -> Box:
    """A mini-program: capsule menu, coloured band, the code on a card, a pill, two info cards."""
    band = s.theme.accent
    band_h = round(s.h * s.rng.uniform(0.12, 0.3))
    s.draw.rectangle((0, 0, s.w, band_h), fill=band)
    ink = ink_on(band)
    y = s.status_bar(None, ink)
    s.text((s.w // 2, y + s.dp(23)), s.app_name(), 17, ink, bold=True, anchor="mm")
    _capsule(s, y, ink)
    y += s.dp(56)
    size = round(s.w * s.rng.uniform(0.4, 0.66))
    above, below = stamp_room(s)
    card = (s.dp(14), y, s.w - s.dp(14), y + size + above + below + s.dp(150))
    s.draw.rounded_rectangle(card, s.dp(14), fill=s.theme.card)
    s.text((s.w // 2, y + s.dp(14)), s.words(2)[:8], 16, s.theme.fg, bold=True, anchor="ma")
    top = y + s.dp(48) + above
    s.draw.rectangle((s.w // 2 - size // 2 - s.dp(8), top - s.dp(8), s.w // 2 + size // 2 + s.dp(8),
                      top + size + s.dp(8)), fill=s.paper)  # fmt: skip
    box = s.code((s.w // 2, top + size // 2), size)
    pill_y = box[3] + below + s.dp(20)
    word, fill = s.banner or (s.words(1)[:4], s.rng.choice(UI_COLORS))
    s.button((s.w // 2 - s.dp(70), pill_y, s.w // 2 + s.dp(70), pill_y + s.dp(36)), fill, word)
    y = _info_pair(s, card[3] + s.dp(12))
    s.lines(s.dp(20), y, s.rng.randint(2, 5), 13, s.theme.muted)
    return box


def scroll(s: Screen) -> Box:
    """A long page scrolled down: text and rows above, the code low on the screen."""
    bar = s.rng.choice((s.theme.accent, s.theme.card))
    y = s.status_bar(bar, ink_on(bar))
    y = s.header(y, bar, s.app_name())
    size = round(s.w * s.rng.uniform(0.3, 0.6))
    above, below = stamp_room(s)
    low = s.h - size - below - s.dp(s.rng.uniform(40, 160))
    y = s.lines(s.dp(20), y + s.dp(16), 2, 14, s.theme.fg)
    while y < low - above - s.dp(120):
        row = (s.dp(12), y, s.w - s.dp(12), y + s.dp(64))
        s.draw.rounded_rectangle(row, s.dp(8), fill=s.theme.card)
        icon(s, (s.dp(24), y + s.dp(14), s.dp(60), y + s.dp(50)), s.rng.choice(UI_COLORS))
        s.text((s.dp(72), y + s.dp(22)), s.words(3)[:14], 14, s.theme.fg, anchor="lm")
        y += s.dp(76)
    cx = s.rng.choice((s.w // 2, s.dp(24) + size // 2, s.w - s.dp(24) - size // 2))
    top = max(y + above + s.dp(20), low)
    s.draw.rectangle((cx - size // 2 - s.dp(8), top - s.dp(8), cx + size // 2 + s.dp(8),
                      top + size + s.dp(8)), fill=s.paper)  # fmt: skip
    box = s.code((cx, top + size // 2), size)
    if s.banner is not None and box[3] + below + s.dp(40) < s.h:
        word, fill = s.banner
        s.text((s.w // 2, box[3] + below + s.dp(14)), word, 18, fill, bold=True, anchor="ma")
    return box


def portal(s: Screen) -> Box:
    """A city portal: a coloured header, a 2 x 2 grid of feature tiles, one holding the code."""
    head = s.theme.accent
    head_h = round(s.h * s.rng.uniform(0.16, 0.26))
    s.draw.rectangle((0, 0, s.w, head_h), fill=head)
    ink = ink_on(head)
    y = s.status_bar(None, ink) + s.dp(12)
    s.text((s.dp(18), y), s.app_name(), 22, ink, bold=True)
    s.text((s.dp(18), y + s.dp(34)), s.words(3)[:14], 13, ink)
    gap, top = s.dp(10), head_h - s.dp(40)
    tile_w = (s.w - 3 * gap) // 2
    above, below = stamp_room(s)
    size = min(round(s.w * s.rng.uniform(0.24, 0.36)), tile_w - s.dp(20))
    tile_h = size + above + below + s.dp(70)
    code_at = s.rng.randrange(4)
    box: Box = (0, 0, 1, 1)
    for i in range(4):
        x0 = gap + (i % 2) * (tile_w + gap)
        y0 = top + (i // 2) * (tile_h + gap)
        tile = (x0, y0, x0 + tile_w, y0 + tile_h)
        fill = (255, 255, 255) if i == code_at else s.rng.choice((s.theme.card, *UI_COLORS))
        s.draw.rounded_rectangle(tile, s.dp(12), fill=fill)
        s.text((x0 + s.dp(12), y0 + s.dp(12)), s.words(1)[:5], 15, ink_on(fill), bold=True)
        cx = x0 + tile_w // 2
        if i == code_at:
            box = s.code((cx, y0 + s.dp(44) + above + size // 2), size)
        else:  # a big icon, often in a status colour (a trip card's arrow, a test's tick)
            colour = s.rng.choice((*UI_COLORS, status_color("green", s.rng)))
            r = s.dp(26)
            cy = y0 + tile_h // 2 + s.dp(10)
            icon(s, (cx - r, cy - r, cx + r, cy + r), colour)
    news(s, top + 2 * tile_h + 2 * gap + s.dp(8))
    tab_bar(s)
    return box
