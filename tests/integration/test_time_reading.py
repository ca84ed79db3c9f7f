"""The shown time read through the real gateway and Triton (health_code_time and its OCR models).

A handful of images only (the OCR costs ~0.1-0.3 CPU-s each here): the measured test set is
benchmarks/time_reading.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageDraw, ImageFont
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from benchmarks import time_screens
from benchmarks.systems import seed_jpeg
from benchmarks.time_reading import accuracy, cost, triton_reads
from gateway import ocr_models
from gateway.repository import PROJECT_REPOSITORY
from gateway.routing import image_inputs
from gateway.time_reading import MODEL
from gateway.triton_client import Client
from tests.support.service import wait_for
from training.render import render_sample

SHANGHAI = ZoneInfo("Asia/Shanghai")
READY_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def grpc_url(service) -> str:
    """Triton's gRPC address once health_code_time is loaded (it is not one of /readyz's)."""
    if missing := ocr_models.missing(PROJECT_REPOSITORY):
        pytest.fail(f"OCR models missing ({missing}): run `make install` first")

    async def ready() -> bool:
        client = InferenceServerClient(service.triton_grpc_url())
        try:
            return await client.is_model_ready(MODEL)
        except InferenceServerException:
            return False
        finally:
            await client.close()

    if not wait_for(lambda: asyncio.run(ready()), READY_TIMEOUT_S, interval_s=0.5):
        pytest.fail(f"{MODEL} not ready in {READY_TIMEOUT_S} s:\n{service.log_tail()}")
    return service.triton_grpc_url()


async def reading(url: str, image: bytes) -> dict[str, str]:
    """The model's outputs for one image."""
    client = Client(url)
    try:
        result = await client.infer(MODEL, image_inputs(image), client_timeout=60)
    finally:
        await client.close()
    return {name: result.as_numpy(name)[0, 0].decode() for name in ("TEXT", "READING", "LINES")}


def answer_of(client, image: bytes, body: str = "raw") -> dict:
    """The gateway's answer to POST /analysis/health-code?read=time."""
    if body == "raw":
        kwargs = {"content": image, "headers": {"content-type": "image/jpeg"}}
    else:
        kwargs = {"json": {"base64": base64.b64encode(image).decode()}}
    response = client.post("/analysis/health-code?read=time", timeout=60, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def page_with(*lines: str) -> bytes:
    """A plain 720 x 1600 page with big lines of text (Latin and digits)."""
    img = Image.new("RGB", (720, 1600), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(time_screens._fonts()["LiberationSans-Regular.ttf"], 40)
    for i, text in enumerate(lines):
        draw.text((360, 500 + 120 * i), text, fill="black", font=font, anchor="mm")
    return encode(img)


@pytest.mark.parametrize("body", ["raw", "json"])
def test_the_seed_screenshot_shows_its_time_and_how_old_it_is(grpc_url, client, body):
    before = time.time()
    answer = answer_of(client, seed_jpeg(), body)
    shown = datetime(2022, 8, 27, 10, 15, 46, tzinfo=SHANGHAI).timestamp()
    assert answer["status"] == "green"
    assert answer["time"]["text"] == "2022-08-27 10:15:46"
    assert answer["time"]["shown"] == "2022-08-27T10:15:46+08:00"
    assert before - shown <= answer["time"]["age_s"] <= time.time() - shown
    assert answer["time"]["fresh"] is False  # years old: the screenshot is not current


@pytest.mark.parametrize(
    ("style", "kind"),
    [
        ("ymd_hms", "screenshot"),
        ("md_cjk_split", "resaved"),
        ("updated", "screenshot"),
        ("hms_only", "resaved"),
    ],
)
def test_screenshots_drawn_without_training_show_their_time(grpc_url, style, kind):
    if style in time_screens.CJK_STYLES and not time_screens.cjk_available():
        pytest.skip("no CJK font (make test installs fonts-wqy-microhei)")
    rng = random.Random(f"{style}/{kind}")
    shot = time_screens.screen(rng, style)
    out = asyncio.run(reading(grpc_url, time_screens.encode(shot.image, kind, rng)))
    assert out["READING"] == shot.reading, out["LINES"]


def test_a_rendered_screenshot_shows_the_time_its_spec_says(grpc_url):
    shown = datetime(2022, 4, 12, 9, 31, 7)
    spec, image = render_sample(
        "green", 4, shown_time=shown, time_format="iso", photo=False, crop=False, chat=False,
        blur=0.0, noise=0.0, glare=0.0, moire=0.0, rotation=0.0, fmt="png", layout="classic",
    )  # fmt: skip
    assert spec.shown_time == shown
    out = asyncio.run(reading(grpc_url, image))
    assert out["READING"] == "2022-04-12T09:31:07", out["LINES"]


def test_concurrent_images_of_different_sizes_are_each_read(grpc_url):
    rng = random.Random(11)
    shots = [time_screens.screen(rng, "ymd_hms") for _ in range(4)]

    async def all_at_once():
        return await asyncio.gather(
            *(reading(grpc_url, time_screens.encode(s.image, "screenshot", rng)) for s in shots)
        )

    outs = asyncio.run(all_at_once())
    assert [o["READING"] for o in outs] == [s.reading for s in shots]


@pytest.mark.parametrize(
    "image",
    [
        encode(Image.new("RGB", (720, 1600), "white")),  # no text
        page_with("Health Code", "Qxzv Wlkmno Prrt", "Show this code at entry"),  # no time
        page_with("Valid until", "2022-04-12"),  # a date without a time
        page_with("Open", "09:31"),  # hours and minutes alone: a status bar's clock
    ],
    ids=["blank", "words", "date-only", "hours-minutes"],
)
def test_pages_without_a_date_and_time_are_no_reading(grpc_url, client, image):
    out = asyncio.run(reading(grpc_url, image))
    assert (out["TEXT"], out["READING"]) == ("", "")
    assert answer_of(client, image)["time"] is None


@pytest.mark.parametrize(
    ("image", "code"),
    [(seed_jpeg()[:3000], "[corrupt_image]"), (b"hello, not an image", "[not_an_image]")],
)
def test_a_bad_image_is_an_invalid_argument_and_the_model_keeps_serving(grpc_url, image, code):
    with pytest.raises(InferenceServerException) as error:
        asyncio.run(reading(grpc_url, image))
    assert code in error.value.message()
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert asyncio.run(reading(grpc_url, seed_jpeg()))["READING"] == "2022-08-27T10:15:46"


def test_the_time_reading_benchmark_measures_the_running_service(service, grpc_url):
    """benchmarks/time_reading.py's accuracy and cost paths, a few images, on this service."""
    measured = accuracy(
        lambda images: asyncio.run(triton_reads(grpc_url, images, 2))[0],
        ["independent"],
        ["screenshot"],
        n=3,
        seed=5,
    )["independent/screenshot"]
    assert measured["n"] == 3
    assert measured["right"] + measured["none"] + measured["wrong"] == 3
    spent = cost(service, n=3, seconds=1, concurrency=[2])
    assert spent["seed_right"], spent
    assert spent["cpu_ms_triton_total"] > 0
    assert [level["concurrency"] for level in spent["load"]] == [2]
