"""The date and time a health-code app shows near its code, and the phone's status-bar clock.

Apps show when the code was last refreshed, above or below it, in a handful of formats; the
status bar at the top shows the phone's own clock, a distractor for anything that reads the time.
A RenderSpec records the exact datetime drawn, its format and position, and the clock's text, so a
test set with known times can be rendered:

    spec, data = render_sample("green", 7, shown_time=datetime(2022, 4, 12, 9, 31, 7),
                               time_format="cn_two_lines", time_position="above")
    format_shown_time(spec.shown_time, spec.time_format)  # ("04月12日", "09:31:07")
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from training.colours import RGB, UI_COLORS
from training.fonts import BOLD, font_for

if TYPE_CHECKING:  # screens.py imports this module
    from training.screens import Box, Screen

# format name -> the lines drawn, one template per line (str.format fields from datetime parts).
TIME_FORMATS: dict[str, tuple[str, ...]] = {
    "iso": ("{Y}-{m}-{d} {H}:{M}:{S}",),  # 2022-04-12 09:31:07
    "cn_two_lines": ("{m}月{d}日", "{H}:{M}:{S}"),  # 04月12日 / 09:31:07
    "cn_one_line": ("{m}月{d}日 {H}:{M}:{S}",),  # 04月12日 09:31:07
    "updated": ("更新于\uff1a{Y}.{m}.{d} {H}:{M}:{S}",),  # full-width colon
    "slash_minutes": ("{Y}/{m}/{d} {H}:{M}",),  # 2022/04/12 09:31
    "time_only": ("{H}:{M}:{S}",),  # 09:31:07
}
TIME_POSITIONS = ("above", "below")  # relative to the code
# Formats that need a CJK font; without one the renderer draws only the others.
CJK_FORMATS = tuple(name for name, lines in TIME_FORMATS.items() if not "".join(lines).isascii())
# Shown times are drawn from these years: the years health codes were in use.
_FIRST, _LAST = datetime(2020, 2, 1), datetime(2022, 12, 31, 23, 59, 59)


def format_shown_time(moment: datetime, time_format: str) -> tuple[str, ...]:
    """The lines of text that `time_format` draws for `moment`."""
    parts = {
        "Y": f"{moment.year:04d}",
        "m": f"{moment.month:02d}",
        "d": f"{moment.day:02d}",
        "H": f"{moment.hour:02d}",
        "M": f"{moment.minute:02d}",
        "S": f"{moment.second:02d}",
    }
    return tuple(line.format(**parts) for line in TIME_FORMATS[time_format])


def sample_shown_time(rng: random.Random) -> datetime:
    """A datetime to the second, uniform over the years health codes were shown."""
    span_s = int((_LAST - _FIRST).total_seconds())
    return _FIRST + timedelta(seconds=rng.randrange(span_s + 1))


def sample_time_format(rng: random.Random, cjk: bool) -> str:
    """A format name; only formats a Latin font can draw when `cjk` is False."""
    names = [n for n in TIME_FORMATS if cjk or n not in CJK_FORMATS]
    return rng.choice(names)


def sample_status_clock(rng: random.Random, shown: datetime | None) -> str:
    """The status bar's clock text ("09:31" or, as iOS draws it, "9:31").

    Most screenshots are taken just after the code refreshed: the clock then shows the shown time's
    hour and minute or a few minutes later; otherwise any time.
    """
    if shown is not None and rng.random() < 0.6:
        moment = shown + timedelta(minutes=rng.choice((0, 0, 1, 2, 5, 17)))
        hour, minute = moment.hour, moment.minute
    else:
        hour, minute = rng.randrange(24), rng.randrange(60)
    return f"{hour}:{minute:02d}" if rng.random() < 0.4 else f"{hour:02d}:{minute:02d}"


@dataclass(frozen=True)
class Stamp:
    """What a screen shows of the time: the shown time's lines by the code, the status-bar clock."""

    lines: tuple[str, ...] = ()
    above: bool = False  # above the code, else below it
    clock: str | None = None


# How apps draw the shown time, in dp: half as a ticking clock meant to be read by a checker at
# arm's length (big, mostly bold), half as an "updated at" label. Smaller text (11-17 dp, regular)
# did not survive the renderer's photos (their blur and distance) legibly.
CLOCK_SHARE = 0.5
CLOCK_SIZE_DP, CLOCK_BOLD = (18.0, 26.0), 0.7
LABEL_SIZE_DP, LABEL_BOLD = (13.0, 18.0), 0.2
MIN_SIZE_DP = 10.0  # shrunk to fit no further than this (a small code at a screen edge)
LINE_STEP = 1.45  # line pitch, in font sizes
EDGE_DP = 12  # the time keeps this far from the screen's sides (cards are inset as much)
MIN_CONTRAST = 110  # luma difference between the time and what it sits on, 0..255


def stamp_height(s: Screen) -> int:
    """The px the shown time takes by the code (0 without one), for layouts to keep free."""
    lines = len(s.stamp.lines)
    return s.dp(CLOCK_SIZE_DP[1] * LINE_STEP) * lines + s.dp(12) if lines else 0


def stamp_room(s: Screen) -> tuple[int, int]:
    """The px to keep free above and below the code for the shown time."""
    height = stamp_height(s)
    return (height, 0) if s.stamp.above else (0, height)


def _luma(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _fitted_size(s: Screen, cx: int, size: float, bold: bool) -> tuple[float, int]:
    """The font size (dp) at which the widest line fits centred on cx inside the screen's edges,
    shrunk no further than MIN_SIZE_DP; and the centre, moved inwards if it still does not fit.

    Centred on a code at one side of a card or tile, text that fits this way stays in the code's
    column: wider, the screen edge would clip it or a neighbouring tile or label cover it.
    """

    def widest(dp_size: float) -> float:
        px = max(6, s.dp(dp_size))
        face = BOLD if bold else s.font_index
        return max(s.draw.textlength(x, font=font_for(x, face, px)) for x in s.stamp.lines)

    room = 2 * (min(cx, s.w - cx) - s.dp(EDGE_DP))
    width = widest(size)
    if width > room:
        size = max(MIN_SIZE_DP, size * room / width)
        width = widest(size)
    half = width / 2
    if half > min(cx, s.w - cx) - s.dp(EDGE_DP):  # still too wide: slide it into the screen
        cx = round(min(max(cx, s.dp(EDGE_DP) + half), s.w - s.dp(EDGE_DP) - half))
    return size, cx


def draw_stamp(s: Screen, code: Box) -> Box | None:
    """Draw the shown time centred above or below the code box; return the box it covers.

    The lines sit on a patch of the colour already there, so whatever a layout drew at that place
    cannot make them unreadable; they fit inside the screen and contrast with the patch.
    """
    if not s.stamp.lines:
        return None
    # A clock or a label, and its size, from one draw; then the gap, the weight and the colour:
    # as many draws from the screen's rng as the layout's own drawing expects to follow.
    u = s.rng.random()
    clock = u < CLOCK_SHARE
    lo, hi = CLOCK_SIZE_DP if clock else LABEL_SIZE_DP
    share = u / CLOCK_SHARE if clock else (u - CLOCK_SHARE) / (1 - CLOCK_SHARE)
    gap = s.dp(s.rng.uniform(3, 10))
    bold = s.rng.random() < (CLOCK_BOLD if clock else LABEL_BOLD)
    size, cx = _fitted_size(s, (code[0] + code[2]) // 2, lo + share * (hi - lo), bold)
    step = s.dp(size * LINE_STEP)
    height = step * len(s.stamp.lines)
    top = code[1] - gap - height if s.stamp.above else code[3] + gap
    top = min(max(0, top), s.h - height)
    px = max(6, s.dp(size))
    widths = [s.draw.textlength(x, font=font_for(x, BOLD if bold else s.font_index, px))
              for x in s.stamp.lines]  # fmt: skip
    half = round(max(widths)) // 2 + s.dp(6)
    box = (max(0, cx - half), top, min(s.w, cx + half), top + height)
    patch = s.img.getpixel((min(s.w - 1, cx), min(s.h - 1, top + height // 2)))
    s.draw.rectangle(box, fill=patch)
    roll = s.rng.random()
    ink = s.theme.muted if roll < 0.2 else s.rng.choice(UI_COLORS) if roll < 0.3 else patch
    if abs(_luma(ink) - _luma(patch)) < MIN_CONTRAST:  # keep it readable: black or white
        ink = (20, 20, 20) if _luma(patch) > 135 else (255, 255, 255)
    for i, line in enumerate(s.stamp.lines):
        s.text((cx, top + i * step + step // 2), line, size, ink, bold=bold, anchor="mm")
    return box
