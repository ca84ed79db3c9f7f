"""Find the date and time a health-code page shows among its recognised text lines.

Health-code apps draw the current date and time near the code (often a ticking clock), in forms
such as `2022-04-12 09:31:07`, `04月12日` over `09:31:07`, or `更新于` and a full-width colon
before `2022.04.12 09:31:07`. The reading is written as a partial ISO 8601 local time, without an
offset (the time zone, and the year or day a partial reading belongs to, are the caller's):

    2022-04-12T09:31:07   date and time          --04-12T09:31:07   no year
    2022-04-12T09:31      no seconds drawn       T09:31:07          time of day only

A date without a time is no reading: it cannot say whether a screenshot is current; nor is an
hours:minutes with neither seconds nor a date: that is what a phone's status bar shows. Nothing
is guessed: a digit the recogniser is unsure of discards the line, a date that cannot be read
discards the time beside it, and impossible dates and times (month 13, 24:00, 30 February, a year
that has not come) are not readings.
"""

from __future__ import annotations

import calendar
import math
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

# A digit read with less confidence than this makes its date or time no reading. 0.8, not even
# odds: the recogniser fine-tuned on photos (ocr_text_recognizer version 2) reads blurred digits
# more surely, wrongly too; the lowest threshold at which it gave at most 1% of the photos of
# tuning seeds a wrong time (benchmarks/NOTES.md, 2026-12-04 21:45).
MIN_CHAR_PROBABILITY = 0.8
# A separator (":", "-", "月") only places the digits, which the pattern already checked: a blurred
# colon read at 0.45 between sure digits says nothing against them. It needs only this much.
MIN_SEPARATOR_PROBABILITY = 0.3
# A date and a time on separate lines belong together when stacked at most this many line heights
# apart (centre to centre), or side by side on one row; the date's line holds little else.
PAIR_DISTANCE_LINES = 2.2
PAIR_EXTRA_CHARS = 4  # besides the date, e.g. a weekday: 星期二
EARLIEST_YEAR = 2000
# A clock cannot show a year that has not come: a later one is a misread ("2070" for a blurred
# "2020"). A year of slack: a phone clock set ahead, a time zone east of this server's at New Year.
YEARS_AHEAD = 1

_D = r"(?<!\d)"  # no digit before
# A day ends at 日/号, a space or the end: "2022-04-1?" is a day not read, not the 1st.
_DAY_END = r"(?=\s*[日号]|\s|$)"
_YMD = re.compile(
    _D + r"(?P<y>\d{4})\s*(?:年\s*(?P<m1>\d{1,2})\s*月\s*(?P<d1>\d{1,2})" + _DAY_END + r"\s*日?"
    r"|(?P<sep>[-./])\s*(?P<m2>\d{1,2})\s*(?P=sep)\s*(?P<d2>\d{1,2})" + _DAY_END + ")"
)
_MD_CJK = re.compile(_D + r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})" + _DAY_END + r"\s*日?")
# 04-12 / 04.12 / 04/12 without a year: a date only when a time follows on the same line, and
# not after a colon either: "2020:07.16" is a year misread before "07.16", not a date without one.
_MD_NUMERIC = re.compile(r"(?<![\d./:-])(?P<m>\d{1,2})(?P<sep>[-./])(?P<d>\d{1,2})(?=\s|$)")
_HMS = re.compile(
    r"(?<![\d:])(?P<h>\d{1,2})\s*:\s*(?P<mi>\d{2})(?:\s*:\s*(?P<s>\d{2}))?(?![\d:])"
    r"|" + _D + r"(?P<h2>\d{1,2})\s*[时點点]\s*(?P<mi2>\d{1,2})\s*分(?:\s*(?P<s2>\d{1,2})\s*秒)?"
)


# Anything shaped like a date: one before a time that did not read as a valid, sure date means
# the line shows a date we cannot read, and its time alone would be a guess at the day. So does
# a month and a day whose digits were lost ("月日", "04月日"), or a year or month whose day was
# misread ("03月R27B").
_DATE_SHAPED = re.compile(r"\d{1,4}\s*[-./年月]\s*\d{1,2}|月\s*\d{0,2}\s*日|\d\s*[年月]")
# The recogniser may drop the space between a date and a time: "2022.04.1209:31:07".
# Only before a two-digit hour: "2023-03-202:14:19" may be the 20th at 2:14 or the 2x-th at 02:14.
_GLUED = re.compile(r"(?<=[-./月]\d{2})(?=\d{2}:\d{2})")
# A blurred photo may lose a time's colons too: "2021.12.16 170716", "2021.12.16170716". After a
# whole date (year, month, day) six digits and no more can only be hours, minutes and seconds.
_NO_COLONS = re.compile(_D + r"\d{4}([-./])\d{2}\1\d{2}(?P<gap>\s?)(?=\d{6}(?!\d))")


class TextLine(NamedTuple):
    """A recognised line, where it lies in the image (pixels), and its characters' probabilities."""

    text: str
    probabilities: tuple[float, ...]
    center_x: float
    center_y: float
    height: float
    # Another box lies just past the line's end: what it shows may go on there (the seconds).
    runs_on: bool = False
    slope: float = 0.0  # of the line's axis, dy / dx: a photo turns the page's rows


@dataclass(frozen=True)
class Reading:
    """What was read (`text`), and the date and time it shows (`value`, partial ISO 8601)."""

    text: str
    value: str
    lines: tuple[TextLine, ...] = field(default=(), compare=False)  # where it was read

    @property
    def has_date(self) -> bool:
        return not self.value.startswith("T")


@dataclass(frozen=True)
class _Date:
    year: int | None
    month: int
    day: int
    start: int
    end: int
    numeric_only: bool = False  # "04-12": a date only next to a time

    def iso(self) -> str:
        year = "-" if self.year is None else f"{self.year:04d}"
        return f"{year}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class _Time:
    hour: int
    minute: int
    second: int | None
    start: int
    end: int

    def iso(self) -> str:
        seconds = "" if self.second is None else f":{self.second:02d}"
        return f"T{self.hour:02d}:{self.minute:02d}{seconds}"


@dataclass
class _Line:
    source: TextLine
    text: str
    probabilities: list[float]
    dates: list[_Date] = field(default_factory=list)
    times: list[_Time] = field(default_factory=list)

    def sure(self, start: int, end: int) -> bool:
        if end <= start:
            return False
        return all(
            p >= (MIN_CHAR_PROBABILITY if c.isdigit() else MIN_SEPARATOR_PROBABILITY)
            for c, p in zip(self.text[start:end], self.probabilities[start:end], strict=True)
        )


def normalise(text: str, probabilities: tuple[float, ...]) -> tuple[str, list[float]]:
    """Full-width digits and punctuation to ASCII (NFKC), keeping one probability per char."""
    chars, probs = [], []
    for char, p in zip(text, probabilities, strict=False):
        for c in unicodedata.normalize("NFKC", char):
            chars.append(c)
            probs.append(p)
    for at in reversed([m.start() for m in _GLUED.finditer("".join(chars))]):
        chars.insert(at, " ")
        probs.insert(at, 1.0)
    for m in reversed(list(_NO_COLONS.finditer("".join(chars)))):
        # The separators a blur took are placed, not read: sure; the digits keep their own odds.
        start, end = m.span("gap")
        digits = chars[end : end + 6]
        chars[start : end + 6] = [" ", *digits[:2], ":", *digits[2:4], ":", *digits[4:]]
        p = probs[end : end + 6]
        probs[start : end + 6] = [1.0, *p[:2], 1.0, *p[2:4], 1.0, *p[4:]]
    return "".join(chars), probs


def _valid_date(year: int | None, month: int, day: int) -> bool:
    if year is not None and not EARLIEST_YEAR <= year <= time.gmtime().tm_year + YEARS_AHEAD:
        return False
    if not 1 <= month <= 12 or day < 1:
        return False
    return day <= calendar.monthrange(2000 if year is None else year, month)[1]  # 2000: leap


def _dates(text: str) -> list[_Date]:
    found: list[_Date] = []
    taken: list[tuple[int, int]] = []
    for pattern, with_year, numeric in (
        (_YMD, True, False),
        (_MD_CJK, False, False),
        (_MD_NUMERIC, False, True),
    ):
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue  # the "04-12" inside "2022-04-12"
            if not with_year and text[: m.start()].rstrip().endswith("年"):
                continue  # "年11月14日": a year was drawn but not read, not a date without one
            groups = m.groupdict()
            month = int(groups.get("m1") or groups.get("m2") or groups["m"])
            day = int(groups.get("d1") or groups.get("d2") or groups["d"])
            year = int(groups["y"]) if with_year else None
            if _valid_date(year, month, day):
                found.append(_Date(year, month, day, m.start(), m.end(), numeric))
                taken.append((m.start(), m.end()))
    return found


def _times(text: str) -> list[_Time]:
    found = []
    for m in _HMS.finditer(text):
        hour, minute = int(m["h"] or m["h2"]), int(m["mi"] or m["mi2"])
        second = m["s"] or m["s2"]
        second = None if second is None else int(second)
        if hour <= 23 and minute <= 59 and (second is None or second <= 59):
            found.append(_Time(hour, minute, second, m.start(), m.end()))
    return found


def _parse_line(line: TextLine) -> _Line:
    text, probs = normalise(line.text, line.probabilities)
    parsed = _Line(line, text, probs)
    parsed.times = [t for t in _times(text) if parsed.sure(t.start, t.end)]
    dates = [d for d in _dates(text) if parsed.sure(d.start, d.end)]
    # A time's "12:30" must not also be read as a date; a bare "04-12" needs a time after it.
    parsed.dates = [
        d
        for d in dates
        if not any(d.start < t.end and t.start < d.end for t in parsed.times)
        and (not d.numeric_only or any(t.start >= d.end for t in parsed.times))
    ]
    return parsed


def shows_date_or_time(line: TextLine) -> bool:
    """Whether the line holds a date or a time: a part of a reading, maybe not all of it."""
    parsed = _parse_line(line)
    return bool(parsed.times or parsed.dates)


class _Candidate(NamedTuple):
    rank: tuple  # larger is better
    reading: Reading


def _rank(date: _Date | None, time: _Time, height: float) -> tuple:
    """Complete readings first: a date, then seconds, then a year; then the bigger text."""
    return (
        date is not None,
        time.second is not None,
        date is not None and date.year is not None,
        height,
    )


def _offsets(ref: TextLine, other: TextLine) -> tuple[float, float]:
    """How far other's centre lies from ref's along ref's row and across it (pixels): in a turned
    photo the pieces of one row ("2022", "11", "08:22:50") do not share a y."""
    dx, dy = other.center_x - ref.center_x, other.center_y - ref.center_y
    norm = math.hypot(1.0, ref.slope)
    return abs(dx + dy * ref.slope) / norm, abs(dy - dx * ref.slope) / norm


def _beside(ref: TextLine, other: TextLine) -> bool:
    """Stacked (centres aligned, a line or two apart) or side by side on ref's row."""
    line = max(ref.height, other.height, 1.0)
    along, across = _offsets(ref, other)
    stacked = across <= PAIR_DISTANCE_LINES * line and along <= 2 * line
    same_row = across <= 0.5 * line and along <= 12 * line
    return stacked or same_row


def _pairs(date_line: _Line, date: _Date, time_line: _Line) -> bool:
    """Whether a line's date belongs to another line's time."""
    a, b = date_line.source, time_line.source
    short = len(date_line.text.strip()) - (date.end - date.start) <= PAIR_EXTRA_CHARS
    return short and 0.5 <= a.height / max(b.height, 1.0) <= 2.0 and _beside(b, a)


def _with_date(line: _Line, time: _Time, parsed: list[_Line]) -> _Candidate | None:
    """The time with a date before it on its line, or on a line beside it."""
    if time.second is None and line.source.runs_on and not line.text[time.end :].strip():
        return None  # hours:minutes at the end of a line that may go on: its seconds, maybe
    before = [d for d in line.dates if d.end <= time.start]
    if before:
        date = before[-1]
        text = line.text[date.start : time.end].strip()
        sources: tuple[TextLine, ...] = (line.source,)
    else:
        partners = [
            (abs(other.source.center_y - line.source.center_y), i, other, d)
            for i, other in enumerate(parsed)
            if other is not line and not other.times
            for d in other.dates
            if not d.numeric_only and _pairs(other, d, line)
        ]
        if not partners:
            return None
        _, _, other, date = min(partners, key=lambda p: p[:2])
        text = f"{other.text[date.start : date.end].strip()} {line.text[time.start : time.end]}"
        sources = (other.source, line.source)
    reading = Reading(text, date.iso() + time.iso(), sources)
    return _Candidate(_rank(date, time, line.source.height), reading)


def _alone(line: _Line, time: _Time, parsed: list[_Line]) -> _Candidate | None:
    """The time as a time of day only, unless a date it may belong to could not be read."""
    if time.second is None:
        return None  # hours:minutes alone is what a phone's status bar shows, not the code
    before = line.text[: time.start]
    if _DATE_SHAPED.search(before) or sum(c.isdigit() for c in before) >= 2:
        return None  # a date we could not read ("04R25B 05:01:21"): the day is unknown
    for other in parsed:
        if other is line or not _beside(line.source, other.source):
            continue
        same_row = _offsets(line.source, other.source)[1] <= 0.5 * line.source.height
        digits = sum(c.isdigit() for c in other.text)
        if _DATE_SHAPED.search(other.text) or (same_row and digits >= 2 and not other.times):
            return None  # beside it, what may be its date, not read: the day is unknown
    reading = Reading(line.text[time.start : time.end].strip(), time.iso(), (line.source,))
    return _Candidate(_rank(None, time, line.source.height), reading)


def read_shown_time(lines: list[TextLine]) -> Reading | None:
    """The most complete date and time the lines show, or None when they show none."""
    parsed = [_parse_line(line) for line in lines]
    candidates = [
        _with_date(line, time, parsed) or _alone(line, time, parsed)
        for line in parsed
        for time in line.times
    ]
    found = [c for c in candidates if c is not None]
    return max(found, key=lambda c: c.rank).reading if found else None
