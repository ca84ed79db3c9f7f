"""gateway/time_reading.py: partial readings placed in time, age_s and fresh, the Triton call."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gateway import time_reading
from gateway.time_reading import resolve, to_time
from tests.support.fake_triton import URL, as_json, error_code, gateway
from tests.support.images import encode

SHANGHAI = "Asia/Shanghai"


def at(text: str, tz: str = SHANGHAI) -> float:
    """Epoch seconds of a local time in tz."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def shown(reading: str, arrived: str, tz: str = SHANGHAI) -> str | None:
    found = resolve(reading, at(arrived, tz), tz)
    return None if found is None else found.isoformat()


def test_a_full_reading_is_that_moment_with_the_zones_offset():
    assert shown("2022-04-12T09:31:07", "2022-04-12 09:31:20") == "2022-04-12T09:31:07+08:00"


@pytest.mark.parametrize(
    ("reading", "arrived", "expected"),
    [
        ("T09:31:07", "2022-04-12 09:33:00", "2022-04-12T09:31:07+08:00"),
        ("T23:59:30", "2022-04-12 00:02:00", "2022-04-11T23:59:30+08:00"),  # just after midnight
        ("T00:01:00", "2022-04-12 23:58:00", "2022-04-13T00:01:00+08:00"),  # a fast phone clock
        ("T21:00:00", "2022-04-12 08:00:00", "2022-04-11T21:00:00+08:00"),  # 11 h ago, not 13 h on
    ],
)
def test_a_time_of_day_takes_the_nearest_day(reading, arrived, expected):
    assert shown(reading, arrived) == expected


@pytest.mark.parametrize(
    ("reading", "arrived", "expected"),
    [
        ("--04-12T09:31:07", "2022-04-12 09:40:00", "2022-04-12T09:31:07+08:00"),
        ("--12-31T23:59:50", "2023-01-01 00:00:30", "2022-12-31T23:59:50+08:00"),  # new year
        ("--01-01T00:00:10", "2022-12-31 23:59:40", "2023-01-01T00:00:10+08:00"),
        ("--02-29T10:00:00", "2023-03-01 10:00:00", "2024-02-29T10:00:00+08:00"),  # leap year
    ],
)
def test_a_month_and_day_take_the_nearest_year_that_has_them(reading, arrived, expected):
    assert shown(reading, arrived) == expected


def test_time_zones_give_the_offset_and_decide_the_nearest_day():
    instant = at("2022-04-11 20:00:00", "UTC")  # 04:00 on the 12th in Shanghai
    assert resolve("T12:00:00", instant, "UTC").isoformat() == "2022-04-11T12:00:00+00:00"
    assert resolve("T12:00:00", instant, SHANGHAI).isoformat() == "2022-04-12T12:00:00+08:00"
    summer = resolve("2022-07-01T12:00:00", instant, "America/New_York")
    assert summer.isoformat() == "2022-07-01T12:00:00-04:00"  # daylight saving time


@pytest.mark.parametrize(
    "reading", ["", "garbage", "2022-04-12", "T24:00:00", "2022-02-30T10:00:00", "T9:31:07"]
)
def test_what_is_not_a_reading_resolves_to_nothing(reading):
    assert resolve(reading, at("2022-04-12 10:00:00"), SHANGHAI) is None


def test_the_time_object_says_how_old_the_shown_time_is_and_whether_it_is_fresh():
    arrived = at("2022-04-12 09:31:19.5")
    answer = to_time("2022-04-12 09:31:07", "2022-04-12T09:31:07", arrived, SHANGHAI, 300)
    assert answer == {
        "text": "2022-04-12 09:31:07",
        "shown": "2022-04-12T09:31:07+08:00",
        "age_s": 12.5,
        "fresh": True,
    }


@pytest.mark.parametrize(("age_s", "fresh"), [(300, True), (-300, True), (300.5, False)])
def test_fresh_means_within_fresh_within_s_either_way(age_s, fresh):
    arrived = at("2022-04-12 09:31:07") + age_s
    answer = to_time("09:31:07", "2022-04-12T09:31:07", arrived, SHANGHAI, 300)
    assert answer["age_s"] == age_s
    assert answer["fresh"] is fresh


def test_without_seconds_shown_keeps_minutes_and_the_age_counts_from_the_minute():
    arrived = at("2022-04-12 09:32:30")
    answer = to_time("2022/04/12 09:31", "2022-04-12T09:31", arrived, SHANGHAI, 300)
    assert answer["shown"] == "2022-04-12T09:31+08:00"
    assert answer["age_s"] == 90


def test_nothing_read_is_no_time_object():
    assert to_time("", "", at("2022-04-12 09:31:07"), SHANGHAI, 300) is None


class Result:
    """What tritonclient's InferResult offers: as_numpy(name)."""

    def __init__(self, **outputs: str) -> None:
        self.outputs = {k: np.array([[v.encode()]], dtype=np.object_) for k, v in outputs.items()}

    def as_numpy(self, name: str):
        return self.outputs.get(name)


SHOWN = {"TEXT": "04月12日 09:31:07", "READING": "--04-12T09:31:07"}


def test_a_reading_becomes_the_time_object():
    result = Result(**SHOWN, LINES="x")
    assert time_reading.from_result(result, at("2022-04-12 09:31:10"), SHANGHAI, 300.0) == {
        "text": "04月12日 09:31:07",
        "shown": "2022-04-12T09:31:07+08:00",
        "age_s": 3.0,
        "fresh": True,
    }


def test_an_answer_missing_an_output_is_no_time_object():
    assert time_reading.from_result(Result(TEXT="x"), 0.0, SHANGHAI, 300.0) is None


async def test_read_time_asks_triton_alongside_and_adds_the_time_object():
    async with gateway(fresh_within_s=1e12) as (http, fake):
        fake.scores = [[0.9, 0.05, 0.03, 0.02]]
        fake.time_outputs = SHOWN
        body = (await http.post(URL + "?read=time", json=as_json(encode("JPEG")))).json()
        raw = await http.post(
            URL + "?read=time", content=encode("PNG"), headers={"content-type": "image/png"}
        )
        plain = (await http.post(URL, json=as_json(encode("JPEG")))).json()
    assert body["time"]["text"] == "04月12日 09:31:07"
    assert body["time"]["shown"].endswith("T09:31:07+08:00") and body["time"]["fresh"] is True
    assert raw.json()["time"] == body["time"] | {"age_s": raw.json()["time"]["age_s"]}
    assert "time" not in plain  # without read=time: no key, and no call
    assert [c.model for c in fake.calls].count("health_code_time") == 2


async def test_an_invalid_image_or_a_page_without_a_time_has_time_null():
    async with gateway() as (http, fake):
        fake.time_outputs = {"TEXT": "", "READING": ""}
        nothing = (await http.post(URL + "?read=time", json=as_json(encode("JPEG")))).json()
        fake.time_outputs = SHOWN
        fake.scores = [[0.01, 0.01, 0.01, 0.97]]
        invalid = (await http.post(URL + "?read=time", json=as_json(encode("JPEG")))).json()
    assert nothing["time"] is None
    assert invalid["status"] == "invalid" and invalid["time"] is None


@pytest.mark.parametrize("query", ["?read=colour", "?read=", "?read", "?read=time&read=x"])
async def test_another_read_value_is_refused_with_422_invalid_request(query):
    async with gateway() as (http, fake):
        response = await http.post(URL + query, json=as_json(encode("JPEG")))
    assert response.status_code == 422 and error_code(response) == "invalid_request"
    assert fake.calls == []
