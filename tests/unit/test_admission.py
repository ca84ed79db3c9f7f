"""Admission by cost: the decode cost model, the costly lane and per-client rate limits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io

import numpy as np
import pytest
from PIL import Image

from gateway import errors
from gateway.admission import CostlyLane, RateLimiter
from gateway.repository import project_imaging
from tests.support.fake_triton import URL, as_json, error_code, gateway
from tests.support.images import encode, interlaced_png, png_claiming

imaging = project_imaging()


def save(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kwargs)
    return out.getvalue()


PHONE = Image.new("RGB", (1080, 2400), (0, 170, 80))
KINDS = {
    "jpeg": save(PHONE, "JPEG", quality=90),
    "jpeg/progressive": save(PHONE, "JPEG", quality=90, progressive=True),
    "jpeg/cmyk": save(PHONE.convert("CMYK"), "JPEG"),
    "png": save(PHONE, "PNG"),
    "png/16-bit": save(Image.fromarray(np.full((2400, 1080), 40000, np.uint16)), "PNG"),
    "png/progressive": interlaced_png(PHONE),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_of_image_decodes_and_its_header_prices_it(kind):
    header = imaging.read_header(KINDS[kind])
    assert (header.width, header.height) == (1080, 2400)
    assert header.progressive == kind.endswith("progressive")
    assert header.bit_depth == (16 if kind == "png/16-bit" else 8)
    table_kind = "png" if kind == "png/16-bit" else kind
    expected_ms = imaging.DECODE_MS_PER_MPX[table_kind] * 1080 * 2400 / 1e6
    assert header.decode_cost_ms() == pytest.approx(expected_ms)
    assert imaging.image_to_tensor(KINDS[kind]).dtype == np.uint8


def test_what_cannot_be_decoded_scaled_costs_more_than_what_can():
    cost = {kind: imaging.read_header(data).decode_cost_ms() for kind, data in KINDS.items()}
    assert cost["jpeg"] < cost["jpeg/cmyk"] < cost["jpeg/progressive"] < cost["png"]
    assert cost["png"] < cost["png/progressive"]


def test_a_png_has_a_lower_pixel_limit_than_a_jpeg_and_both_are_settable():
    over_png = png_claiming(5000, 4000)  # 20 Mpx: a JPEG could, a PNG may not
    with pytest.raises(imaging.ImageError, match="pixel limit") as info:
        imaging.read_header(over_png)
    assert info.value.code == "image_too_large"
    assert imaging.read_header(over_png, max_png_pixels=25_000_000).width == 5000
    with pytest.raises(imaging.ImageError):
        imaging.read_header(KINDS["jpeg"], max_pixels=1_000_000)


class HeldPool:
    """An executor whose work finishes only when the test says so."""

    def __init__(self) -> None:
        self.futures: list[concurrent.futures.Future] = []

    def submit(self, fn, *args):
        self.futures.append(concurrent.futures.Future())
        return self.futures[-1]

    def shutdown(self, **kwargs) -> None:
        pass


async def test_the_costly_lane_admits_its_size_and_refuses_the_next_at_once():
    lane = CostlyLane(imaging, size=2)
    lane._pool = held = HeldPool()
    first = asyncio.create_task(lane.tensor(b"1"))
    second = asyncio.create_task(lane.tensor(b"2"))
    await asyncio.sleep(0)
    with pytest.raises(errors.CostlyImageBusy):
        await lane.tensor(b"3")
    for future in held.futures:
        future.set_result(np.zeros((3, 2, 2), np.uint8))
    await asyncio.gather(first, second)
    assert lane.admitted == 0  # room again


async def test_the_costly_lane_decodes_in_its_own_process_as_imaging_does():
    lane = CostlyLane(imaging, size=2)
    try:
        image = KINDS["png"]
        np.testing.assert_array_equal(await lane.tensor(image), imaging.image_to_tensor(image))
        with pytest.raises(errors.CorruptImage):
            await lane.tensor(image[:400])
    finally:
        lane.close()


def test_a_client_gets_its_burst_then_429_with_the_wait_until_a_token_is_back():
    now = [100.0]
    limiter = RateLimiter(rate_per_s=0.5, burst=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take(b"a")
    with pytest.raises(errors.RateLimited) as info:
        limiter.take(b"a")
    assert info.value.response_headers() == {"Retry-After": "2"}  # one token takes 2 s
    limiter.take(b"b")  # another client has its own bucket
    now[0] += 2.0
    limiter.take(b"a")  # refilled
    with pytest.raises(errors.RateLimited):
        limiter.take(b"a")


def test_the_limiter_remembers_a_bounded_number_of_clients():
    limiter = RateLimiter(rate_per_s=1, burst=1, max_clients=2, clock=lambda: 0.0)
    for client in (b"a", b"b", b"c"):
        limiter.take(client)
    limiter.take(b"a")  # forgotten (the oldest), so a full bucket again
    with pytest.raises(errors.RateLimited):
        limiter.take(b"c")


async def test_a_costly_image_is_decoded_by_the_gateway_even_when_triton_decodes():
    costly = save(Image.new("RGB", (2000, 3000)), "PNG")  # 6 Mpx PNG: ~70 ms
    assert imaging.read_header(costly).decode_cost_ms() >= 60
    async with gateway(decode="triton") as (http, fake):
        assert (await http.post(URL, json=as_json(costly))).status_code == 200
        assert (await http.post(URL, json=as_json(encode("JPEG")))).status_code == 200
    assert [call.model for call in fake.calls] == ["health_code_classifier", "health_code"]
    assert fake.calls[0].inputs[0].name == "PIXELS"


async def test_rate_limits_answer_429_with_retry_after_per_client_and_count_it():
    async with gateway(rate_limit_per_s=0.2, rate_limit_burst=2) as (http, _):
        codes = [(await http.post(URL, json=as_json(encode("JPEG")))).status_code for _ in range(2)]
        refused = await http.post(URL, json=as_json(encode("JPEG")))
        metrics = (await http.get("/metrics")).text
    assert codes == [200, 200]
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"
    assert refused.headers["retry-after"] == "5"
    assert 'healthcode_rejections_total{reason="rate_limited"} 1.0' in metrics
