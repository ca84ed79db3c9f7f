"""Past its in-flight limit the gateway sheds load at once with 503 + Retry-After, then recovers."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.service import run_service
from training.render import render

CLIENTS = 200


def test_a_burst_far_past_the_limit_gets_only_200s_and_clean_503s(tmp_path):
    image = render("green", seed=90_030, fmt="jpeg")
    headers = {"content-type": "image/jpeg"}

    async def burst(base_url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
            return await asyncio.gather(
                *(
                    http.post("/analysis/health-code", content=image, headers=headers)
                    for _ in range(CLIENTS)
                )
            )

    with run_service(tmp_path, max_in_flight="8") as service:
        responses = asyncio.run(burst(service.base_url))
        after = httpx.post(
            f"{service.base_url}/analysis/health-code", content=image, headers=headers
        )

    codes = [r.status_code for r in responses]
    assert set(codes) == {200, 503}, codes
    shed = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in shed)
    assert {r.json()["error"]["code"] for r in shed} == {"overloaded"}
    assert all(r.json()["status"] == "green" for r in responses if r.status_code == 200)
    assert after.status_code == 200
