"""Finding the shown date and time among recognised lines (health_code_time's shown_time.py)."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "model_repository" / "health_code_time" / "1"
sys.path.insert(0, str(FOLDER))  # as Triton's python stub does for the model's own modules
shown_time = importlib.import_module("shown_time")
TextLine = shown_time.TextLine


def line(text: str, y: float = 1000, x: float = 540, height: float = 40, p: float = 0.99):
    return TextLine(text, (p,) * len(text), x, y, height)


def fullwidth(text: str) -> str:
    """ASCII as the full-width forms some apps draw (U+FF01.. and the ideographic space)."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) for c in text)


def read(*lines: TextLine):
    return shown_time.read_shown_time(list(lines))


@pytest.mark.parametrize(
    ("text", "value", "as_read"),
    [
        ("2022-04-12 09:31:07", "2022-04-12T09:31:07", "2022-04-12 09:31:07"),
        ("更新于：2022.04.12 09:31:07", "2022-04-12T09:31:07", "2022.04.12 09:31:07"),  # noqa: RUF001
        ("2022/04/12 09:31", "2022-04-12T09:31", "2022/04/12 09:31"),
        ("2022年4月12日 9:31:07", "2022-04-12T09:31:07", "2022年4月12日 9:31:07"),
        ("04-12 09:31:07", "--04-12T09:31:07", "04-12 09:31:07"),
        ("04月12日 09:31:07", "--04-12T09:31:07", "04月12日 09:31:07"),
        ("09:31:07", "T09:31:07", "09:31:07"),
        ("09时31分07秒", "T09:31:07", "09时31分07秒"),
        (fullwidth("2022-04-12 09:31:07"), "2022-04-12T09:31:07", "2022-04-12 09:31:07"),
        ("2022.04.1209:31:07", "2022-04-12T09:31:07", "2022.04.12 09:31:07"),
        ("2021.12.16170716", "2021-12-16T17:07:16", "2021.12.16 17:07:16"),  # colons blurred away
        ("更新于：2021.12.16 170716", "2021-12-16T17:07:16", "2021.12.16 17:07:16"),  # noqa: RUF001
        ("核酸 2022-04-12 09:31:07 阴性", "2022-04-12T09:31:07", "2022-04-12 09:31:07"),
    ],
)
def test_each_format_a_health_code_app_draws_is_read(text, value, as_read):
    reading = read(line(text))
    assert reading is not None
    assert (reading.value, reading.text) == (value, as_read)


def test_a_date_stacked_over_a_time_is_one_reading():
    reading = read(line("04月12日", y=900), line("09:31:07", y=960))
    assert (reading.value, reading.text) == ("--04-12T09:31:07", "04月12日 09:31:07")


def test_a_date_beside_a_time_on_one_row_is_one_reading():
    reading = read(line("2022-04-12", x=300), line("09:31:07", x=700))
    assert reading.value == "2022-04-12T09:31:07"


# digits unread or lost; a day misread as a letter, its 日 too
@pytest.mark.parametrize("date", ["04月1?日", "月日", "04月日", "03月R27B"])
def test_a_time_beside_a_date_that_cannot_be_read_is_no_reading(date):
    assert read(line(date, y=900), line("09:31:07", y=960)) is None


@pytest.mark.parametrize(
    "text",
    [
        "年11月14日19:09:29",  # the year's digits lost: not a date without a year
        "更新于：2020:07.1612:01:31",  # noqa: RUF001 (a year misread with a colon, not 07-16)
    ],
)
def test_a_date_whose_year_was_drawn_but_not_read_is_no_reading(text):
    assert read(line(text)) is None


def test_a_time_beside_digits_on_its_row_that_are_no_date_is_no_reading():
    assert read(line("020", x=300), line("11:45:30", x=600)) is None


def test_in_a_turned_photo_digits_on_the_times_row_are_still_its_unread_date():
    # "2022-06-11 08:22:50" turned 13 degrees, split by the detector: its date pieces' centres lie
    # 23 and 45 px lower than the time's, yet on its row
    slope = -0.23
    time = TextLine("08:22:50", (0.99,) * 8, 888, 185, 38, slope=slope)
    day, year = line("11", y=208, x=789, height=21), line("2022", y=230, x=688, height=25)
    assert read(time, day, year) is None
    assert read(time._replace(slope=0.0), day, year).value == "T08:22:50"  # as if not turned


def test_a_date_in_a_sentence_far_below_a_clock_is_not_its_date():
    clock = line("20:23:16", y=900)
    notice = line("Health status normal 2021-03-14", y=1000, x=400)
    assert read(clock, notice).value == "T20:23:16"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Health Code",
        "124723********1528",
        "36.5℃",
        "04-12",  # a month and day with no time is no reading
        "2022-04-12",  # a date without a time: no reading either
        "2022年04月12日",
        "2022-13-45 25:61:00",
        "02-30 10:00:00",  # 30 February
        "24:00",
        "12:75:00",
        "1999-04-12 09:31:07",  # before 2000: not a health-code clock, nor is its time
        "2022-04-1? 09:31:07",  # a date not read: its time alone would guess the day
        "04R25B 05:01:21",  # 04月25日 misread: digits before a time may be its date
        "2023-03-202:14:19",  # digits run together: the 20th at 2:14, or 02:14 on the 2x-th?
        "2021.12.16 1707160",  # seven digits after a date: no time without its colons
        "2021.12.16 176716",  # 17:67:16
        "12-16 170716",  # without a year, six digits may be anything
        "电话 138-1234-5678",
        "ㄅ㊣〒",
    ],
)
def test_garbage_dates_without_times_and_impossible_values_are_no_reading(text):
    assert read(line(text)) is None


def test_a_year_that_has_not_come_is_a_misread_not_a_reading():
    this_year = datetime.now(UTC).year
    assert read(line(f"{this_year + 1}-01-01 00:00:01")).value == f"{this_year + 1}-01-01T00:00:01"
    assert read(line(f"{this_year + 2}-04-19 10:12:28")) is None
    assert read(line("2070-04-19 10:12:28")) is None  # a blurred 2020


def test_no_lines_is_no_reading():
    assert read() is None


@pytest.mark.parametrize("unsure_at", [3, 9, 17])  # in the year, the day, the seconds
def test_a_digit_the_recogniser_is_unsure_of_discards_the_reading(unsure_at):
    probabilities = [0.99] * 19
    probabilities[unsure_at] = 0.2
    unsure = TextLine("2022-04-12 09:31:07", tuple(probabilities), 540, 1000, 40)
    assert read(unsure) is None


def test_a_blurred_separator_between_sure_digits_is_enough_a_very_unsure_one_is_not():
    probabilities = [0.99] * 19
    probabilities[16] = 0.45  # the second colon of "09:31:07"
    blurred = TextLine("2022-04-12 09:31:07", tuple(probabilities), 540, 1000, 40)
    assert read(blurred).value == "2022-04-12T09:31:07"
    probabilities[16] = 0.2
    assert read(TextLine("2022-04-12 09:31:07", tuple(probabilities), 540, 1000, 40)) is None


def test_an_unsure_character_outside_the_date_and_time_does_not_matter():
    text = "更新于 2022-04-12 09:31:07"
    unsure = TextLine(text, (0.1, 0.1, 0.1) + (0.99,) * (len(text) - 3), 540, 1000, 40)
    assert read(unsure).value == "2022-04-12T09:31:07"


def test_hours_and_minutes_alone_are_the_status_bar_clock_not_a_reading():
    assert read(line("4:48", y=40, x=60, height=30)) is None
    assert read(line("14:05", y=1200)) is None
    assert read(line("4:48", y=40), line("10:15:46", y=1200)).value == "T10:15:46"


def test_hours_and_minutes_with_a_date_are_a_reading():
    assert read(line("04月12日", y=900), line("09:31", y=960)).value == "--04-12T09:31"


def test_hours_and_minutes_ending_a_line_that_may_go_on_are_no_reading():
    # The detector gave ":36" of "2022-07-15 16:19:36" to a blob beside it (runs_on).
    cut = TextLine("2022-07-15 16:19", (0.99,) * 16, 540, 1000, 40, runs_on=True)
    assert read(cut) is None
    went_on = TextLine("2022-07-15 16:19:36", (0.99,) * 19, 540, 1000, 40, runs_on=True)
    assert read(went_on).value == "2022-07-15T16:19:36"  # with its seconds it is whole


def test_the_most_complete_reading_wins_over_bigger_text():
    big_clock = line("09:31:07", y=400, height=120)
    stamp = line("2022-04-12 09:31:07", y=1500, height=30)
    assert read(big_clock, stamp).value == "2022-04-12T09:31:07"


def test_seconds_win_over_a_year():
    no_seconds = line("2022-04-12 09:31", y=400)
    seconds = line("04-12 09:31:07", y=1500)
    assert read(no_seconds, seconds).value == "--04-12T09:31:07"


def test_between_equally_complete_readings_the_bigger_text_wins():
    small = line("2022-04-11 08:00:00", y=1500, height=24)
    big = line("2022-04-12 09:31:07", y=600, height=60)
    assert read(small, big).value == "2022-04-12T09:31:07"


def test_shows_date_or_time_finds_parts_of_a_reading():
    assert shown_time.shows_date_or_time(line("04月12日"))
    assert shown_time.shows_date_or_time(line("09:31:07"))
    assert not shown_time.shows_date_or_time(line("Health Code"))
