"""`?read=time`: the date and time a health-code page shows, and whether the page is current.

Triton's `health_code_time` model reads the page (OCR, parsing) and answers a partial local time
(`READING`): `2022-04-12T09:31:07`, `2022-04-12T09:31` (no seconds drawn), `--04-12T09:31:07`
(no year) or `T09:31:07` (a time of day only), or nothing. Here it is placed in time, in the
time zone of the settings (HEALTHCODE_TIMEZONE), relative to the request's arrival:

- a time of day without a date takes the nearest day on which that time falls (23:59 read just
  after midnight is yesterday's);
- a month and day without a year take the nearest year with that date (31 Dec read on 1 Jan is
  last year's; 29 Feb, the nearest leap year's);
- `age_s` = arrival - shown; `fresh` = |age_s| <= HEALTHCODE_FRESH_WITHIN_S. Without seconds
  drawn, `shown` is the start of its minute (ISO 8601 with minutes only).

Nothing read (no text, no date and time, only a date) is None, the route's `"time": null`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

MODEL = "health_code_time"  # its input is the ensemble's: IMAGE, the encoded bytes
OUTPUTS = ("TEXT", "READING")
# How far a year-less date may be searched for the nearest year that has it (29 Feb: 4 years).
_YEARS_AROUND = 4
_READING = re.compile(
    r"(?:(?:(?P<year>\d{4})|-)-(?P<month>\d{2})-(?P<day>\d{2}))?"
    r"T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
)


def resolve(reading: str, arrived_s: float, timezone: str) -> datetime | None:
    """The aware datetime a partial reading stands for, nearest to the arrival; None if none."""
    m = _READING.fullmatch(reading)
    if m is None:
        return None
    tz = ZoneInfo(timezone)
    now = datetime.fromtimestamp(arrived_s, tz)
    hour, minute = int(m["hour"]), int(m["minute"])
    second = int(m["second"] or 0)
    if m["month"] is None:
        days = [now.date() + timedelta(days=d) for d in (-1, 0, 1)]
    elif m["year"] is None:
        years = range(now.year - _YEARS_AROUND, now.year + _YEARS_AROUND + 1)
        days = [d for y in years if (d := _date(y, int(m["month"]), int(m["day"])))]
    else:
        days = [d for d in [_date(int(m["year"]), int(m["month"]), int(m["day"]))] if d]
    try:
        candidates = [
            datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=tz) for d in days
        ]
    except ValueError:  # 24:00 and the like: Triton never sends them, but no reading is a guess
        return None
    return min(candidates, key=lambda c: abs(c.timestamp() - arrived_s), default=None)


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def to_time(
    text: str, reading: str, arrived_s: float, timezone: str, fresh_within_s: float
) -> dict[str, Any] | None:
    """The answer's `time` object, or None when nothing was read."""
    shown = resolve(reading, arrived_s, timezone) if reading else None
    if shown is None:
        return None
    age_s = round(arrived_s - shown.timestamp(), 3)
    spec = "seconds" if reading.count(":") == 2 else "minutes"
    return {
        "text": text,
        "shown": shown.isoformat(timespec=spec),
        "age_s": age_s,
        "fresh": abs(age_s) <= fresh_within_s,
    }


def from_result(result: Any, arrived_s: float, timezone: str, fresh_within_s: float) -> Any:
    """The `time` object from a tritonclient InferResult of MODEL (None: nothing was read)."""
    text, reading = (_string(result.as_numpy(name)) for name in OUTPUTS)
    return to_time(text, reading, arrived_s, timezone, fresh_within_s)


def _string(array: NDArray[np.object_] | None) -> str:
    if array is None or array.size != 1:
        return ""
    value = array.reshape(-1)[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
