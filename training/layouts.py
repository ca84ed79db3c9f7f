"""Health-code app layouts: each draws a whole screen around its code and returns the code's box."""

from __future__ import annotations

from collections.abc import Callable

from training import home, pages
from training.colours import UI_COLORS, ink_on
from training.screens import Box, Screen
from training.timestamps import stamp_room


def _holder(s: Screen, y: int, centred: bool) -> int:
    """Draw the holder's name and masked ID; return the y below them."""
    x, anchor = (s.w // 2, "ma") if centred else (s.dp(24), "la")
    s.text((x, y), s.words(2)[:12], 18, s.theme.fg, bold=True, anchor=anchor)
    masked = f"{s.rng.randint(110000, 659999)}********{s.rng.randint(0, 9999):04d}"
    s.text((x, y + s.dp(26)), masked, 13, s.theme.muted, anchor=anchor)
    return y + s.dp(50)


def _banner(s: Screen, y: int) -> int:
    """Draw the status banner if the screen has one; return the y below it."""
    if s.banner is None:
        return y
    word, fill = s.banner
    s.text((s.w // 2, y), word, s.rng.uniform(18, 28), fill, bold=True, anchor="ma")
    return y + s.dp(40)


def _code_card(s: Screen, cx: int, top: int, size: int) -> tuple[Box, int]:
    """Draw the code on a rounded card of its paper; return the code's box and the y below."""
    pad = s.dp(s.rng.uniform(8, 20))
    above, below = stamp_room(s)
    bottom = top + above + size + 2 * pad + below
    s.draw.rounded_rectangle(
        (cx - size // 2 - pad, top, cx + size // 2 + pad, bottom), s.dp(12), fill=s.paper
    )
    return s.code((cx, top + above + pad + size // 2), size), bottom


def classic(s: Screen) -> Box:
    """Coloured app bar, holder, code on a card, banner, two buttons, footer."""
    bar = s.theme.accent
    y = s.status_bar(bar, ink_on(bar))
    y = s.header(y, bar, s.app_name())
    y = _holder(s, y + s.dp(16), centred=True)
    box, y = _code_card(s, s.w // 2, y, round(s.w * s.rng.uniform(0.5, 0.72)))
    y = _banner(s, y + s.dp(12))
    s.text((s.w // 2, y), s.words(3), 14, s.theme.fg, anchor="ma")
    y += s.dp(36)
    half = s.w // 2
    s.button(
        (s.dp(20), y, half - s.dp(8), y + s.dp(44)),
        s.rng.choice((bar, s.theme.card)),
        s.words(1),
    )
    s.button((half + s.dp(8), y, s.w - s.dp(20), y + s.dp(44)), s.theme.card, s.words(1))
    s.text((s.w // 2, s.h - s.dp(30)), s.words(4), 11, s.theme.muted, anchor="ma")
    return box


def card(s: Screen) -> Box:
    """Big title, a card with holder and code, a grid of service tiles, bottom navigation."""
    y = s.status_bar(None, s.theme.fg) + s.dp(12)
    s.text((s.dp(20), y), s.app_name(), 24, s.theme.fg, bold=True)
    y += s.dp(44)
    size = round(s.w * s.rng.uniform(0.45, 0.62))
    top, extra = y, sum(stamp_room(s))
    s.draw.rounded_rectangle(
        (s.dp(16), top, s.w - s.dp(16), top + size + extra + s.dp(150)),
        s.dp(16),
        fill=s.theme.card,
    )
    y = _holder(s, top + s.dp(14), centred=True)
    box, y = _code_card(s, s.w // 2, y, size)
    s.text((s.w // 2, y + s.dp(6)), s.words(2), 12, s.theme.muted, anchor="ma")
    y = _banner(s, top + size + extra + s.dp(160))
    s.tiles(y + s.dp(8), s.rng.randint(1, 2))
    s.nav_bar()
    return box


def hero(s: Screen) -> Box:
    """A big coloured hero area with a clock, the code card overlapping it, list rows below."""
    fill = s.theme.accent
    hero_h = round(s.h * s.rng.uniform(0.25, 0.4))
    s.draw.rectangle((0, 0, s.w, hero_h), fill=fill)
    ink = ink_on(fill)
    y = s.status_bar(None, ink) + s.dp(16)
    s.text((s.w // 2, y), s.app_name(), 20, ink, bold=True, anchor="ma")
    s.text((s.w // 2, y + s.dp(34)), s.words(1)[:8], 40, ink, bold=True, anchor="ma")
    size = round(s.w * s.rng.uniform(0.5, 0.7))
    box, y = _code_card(s, s.w // 2, max(y + s.dp(100), hero_h - size // 2), size)
    y = _banner(s, y + s.dp(12))
    for _ in range(s.rng.randint(2, 5)):
        if y > s.h - s.dp(60):
            break
        s.text((s.dp(20), y + s.dp(14)), s.words(3), 15, s.theme.fg)
        s.text((s.w - s.dp(20), y + s.dp(14)), ">", 15, s.theme.muted, anchor="ra")
        y += s.dp(52)
        s.draw.line((s.dp(20), y, s.w - s.dp(20), y), fill=s.theme.muted, width=1)
    return box


def minimal(s: Screen) -> Box:
    """Almost nothing but the code: one line above, one below."""
    s.status_bar(None, s.theme.fg)
    size = round(s.w * s.rng.uniform(0.55, 0.8))
    cy = round(s.h * s.rng.uniform(0.35, 0.55))
    above, below = stamp_room(s)
    title = (s.w // 2, cy - size // 2 - s.dp(48) - above)
    s.text(title, s.words(2), 18, s.theme.fg, bold=True, anchor="ma")
    box = s.code((s.w // 2, cy), size)
    y = _banner(s, box[3] + s.dp(20) + below)
    s.text((s.w // 2, y), s.words(3), 13, s.theme.muted, anchor="ma")
    return box


def rows(s: Screen) -> Box:
    """App bar and list rows with a smaller code among them, centred or to the left."""
    bar = s.rng.choice((s.theme.accent, s.theme.card))
    y = s.status_bar(bar, ink_on(bar))
    y = s.header(y, bar, s.app_name())
    y = s.lines(s.dp(20), y + s.dp(16), s.rng.randint(1, 4), 14, s.theme.fg)
    size = round(s.w * s.rng.uniform(0.35, 0.5))
    left = s.rng.random() < 0.5
    cx = s.dp(20) + size // 2 if left else s.w // 2
    above, below = stamp_room(s)
    box = s.code((cx, y + above + s.dp(12) + size // 2), size)
    if left:
        s.lines(box[2] + s.dp(14), box[1] + s.dp(8), 3, 13, s.theme.fg)
    y = _banner(s, box[3] + s.dp(16) + below)
    s.lines(s.dp(20), y, s.rng.randint(2, 6), 14, s.theme.muted)
    return box


def tabs(s: Screen) -> Box:
    """App name, a row of tabs, a card with the holder and the code, a status pill, tagged rows."""
    y = s.status_bar(None, s.theme.fg) + s.dp(8)
    s.text((s.w // 2, y), s.app_name(), 19, s.theme.fg, bold=True, anchor="ma")
    y += s.dp(40)
    n = s.rng.randint(2, 4)
    for i in range(n):
        cx = s.w * (2 * i + 1) // (2 * n)
        fill = s.theme.accent if i == 0 else s.theme.muted
        s.text((cx, y), s.words(1)[:6], 14, fill, bold=i == 0, anchor="ma")
        if i == 0:
            s.draw.rectangle((cx - s.dp(18), y + s.dp(24), cx + s.dp(18), y + s.dp(27)), fill=fill)
    top = y + s.dp(40)
    size = round(s.w * s.rng.uniform(0.5, 0.68))
    extra = sum(stamp_room(s))
    s.draw.rounded_rectangle(
        (s.dp(12), top, s.w - s.dp(12), top + size + extra + s.dp(130)),
        s.dp(10),
        fill=s.theme.card,
    )
    s.text((s.dp(28), top + s.dp(14)), s.words(2)[:10], 16, s.theme.fg, bold=True)
    s.text((s.w - s.dp(28), top + s.dp(16)), s.words(1)[:6], 12, s.theme.muted, anchor="ra")
    box, y = _code_card(s, s.w // 2, top + s.dp(44), size)
    if s.banner is not None:  # a pill under the code, in the banner colour
        word, fill = s.banner
        pill = (s.w // 2 - s.dp(60), y + s.dp(8), s.w // 2 + s.dp(60), y + s.dp(40))
        s.button(pill, fill, word)
    y = top + size + extra + s.dp(150)
    while y < s.h - s.dp(70):
        s.text((s.dp(24), y), s.words(2)[:8], 14, s.theme.fg)
        tag = (s.w - s.dp(110), y - s.dp(4), s.w - s.dp(24), y + s.dp(22))
        s.button(tag, s.rng.choice(UI_COLORS), s.words(1)[:4])
        y += s.dp(s.rng.uniform(40, 60))
    return box


def framed(s: Screen) -> Box:
    """A coloured page with a white card; the code sits in a thick rounded frame of any colour."""
    s.img.paste(s.theme.accent, (0, 0, s.w, s.h))
    ink = ink_on(s.theme.accent)
    y = s.status_bar(None, ink) + s.dp(10)
    s.text((s.w // 2, y), s.app_name(), 20, ink, bold=True, anchor="ma")
    top = y + s.dp(s.rng.uniform(40, 90))
    size = round(s.w * s.rng.uniform(0.48, 0.64))
    above, below = stamp_room(s)
    card_h = size + above + below + s.dp(s.rng.uniform(170, 230))
    s.draw.rounded_rectangle(
        (s.dp(20), top, s.w - s.dp(20), top + card_h), s.dp(14), fill=s.theme.card
    )
    y = _holder(s, top + s.dp(16), centred=True)
    cy = y + s.dp(20) + above + size // 2
    frame = s.dp(s.rng.uniform(4, 12))
    half = size // 2 + s.dp(10) + frame
    s.draw.rounded_rectangle(
        (s.w // 2 - half, cy - half - above, s.w // 2 + half, cy + half + below),
        s.dp(14),
        outline=s.rng.choice(UI_COLORS),
        width=frame,
        fill=s.paper,
    )
    box = s.code((s.w // 2, cy), size)
    y = _banner(s, box[3] + s.dp(24) + frame + below)
    s.text((s.w // 2, y), s.words(3), 13, s.theme.muted, anchor="ma")
    return box


def gov(s: Screen) -> Box:
    """A big status line and avatar over a smaller code beside a table of fields."""
    bar = s.rng.choice((s.theme.accent, s.theme.card))
    y = s.status_bar(bar, ink_on(bar))
    y = s.header(y, bar, s.app_name()) + s.dp(16)
    s.draw.ellipse((s.dp(20), y, s.dp(72), y + s.dp(52)), fill=s.rng.choice(UI_COLORS))
    s.text((s.dp(86), y + s.dp(4)), s.words(2)[:8], 18, s.theme.fg, bold=True)
    s.text((s.dp(86), y + s.dp(30)), s.words(3), 12, s.theme.muted)
    y = _banner(s, y + s.dp(70))
    size = round(s.w * s.rng.uniform(0.38, 0.55))
    right = s.rng.random() < 0.5
    cx = s.w - s.dp(20) - size // 2 if right else s.w // 2
    above, below = stamp_room(s)
    box = s.code((cx, y + above + s.dp(10) + size // 2), size)
    x = s.dp(20)
    rows_y = box[1] if right else box[3] + s.dp(20) + below
    for _ in range(s.rng.randint(3, 7)):
        if rows_y > s.h - s.dp(40):
            break
        s.text((x, rows_y), s.words(1)[:5], 13, s.theme.muted)
        s.text((x + s.dp(80 if not right else 0), rows_y + s.dp(0 if not right else 18)),
               s.words(1)[:8], 13, s.theme.fg)  # fmt: skip
        rows_y += s.dp(44 if right else 30)
        s.draw.line((x, rows_y - s.dp(6), s.w - x, rows_y - s.dp(6)), fill=s.theme.muted)
    return box


LAYOUTS: dict[str, Callable[[Screen], Box]] = {
    "classic": classic,
    "card": card,
    "hero": hero,
    "minimal": minimal,
    "rows": rows,
    "tabs": tabs,
    "framed": framed,
    "gov": gov,
    "home": home.home,
    "wallet": home.wallet,
    "mini": pages.mini,
    "scroll": pages.scroll,
    "portal": pages.portal,
}
