"""A client posts health-code images to the real gateway + Triton and gets the contract's answer."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from PIL import Image

from benchmarks.recognition import case
from gateway.repository import versions
from tests.support.images import jpeg_with_orientation
from tests.support.service import PROJECT, run_service
from training.preprocessing import image_to_tensor
from training.render import LABELS, render

# The classifier version the repository ships: Triton serves the newest.
SHIPPED_VERSION = str(versions(PROJECT / "model_repository" / "health_code_classifier")[-1])

# Seeds no test or training split depends on; every class in both formats.
CASES = [(label, fmt) for label in LABELS for fmt in ("jpeg", "png")]


@pytest.mark.parametrize(("label", "fmt"), CASES)
def test_each_status_is_recognised_from_a_base64_json_body(client, label, fmt):
    image = render(label, seed=90_001, fmt=fmt)
    response = client.post(
        "/analysis/health-code", json={"base64": base64.b64encode(image).decode()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == label
    assert body["usage"] == "health-code"
    assert set(body["scores"]) == set(LABELS)
    assert body["confidence"] == pytest.approx(max(body["scores"].values()))
    assert sum(body["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["model_version"] == SHIPPED_VERSION
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("label", LABELS)
def test_a_raw_image_body_gives_the_same_answer_as_base64_json(client, label):
    image = render(label, seed=90_002)
    content_type = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
    raw = client.post(
        "/analysis/health-code", content=image, headers={"content-type": content_type}
    )
    as_json = client.post(
        "/analysis/health-code",
        json={"base64": "data:image/jpeg;base64," + base64.b64encode(image).decode()},
    )
    assert raw.status_code == as_json.status_code == 200, (raw.text, as_json.text)
    assert raw.json()["status"] == as_json.json()["status"]
    assert raw.json()["scores"] == pytest.approx(as_json.json()["scores"])
    # A photo (this seed's are) may fall under the decision rule's threshold: the scores still
    # name the label.
    scores = raw.json()["scores"]
    assert max(scores, key=scores.__getitem__) == label


def test_the_service_is_ready_and_alive(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text


def test_bad_base64_is_a_400_with_its_code(client):
    response = client.post("/analysis/health-code", json={"base64": "aGVsbG8*d29ybGQ="})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_base64"


def test_an_unknown_usage_is_a_404(client):
    image = render("green", seed=1)
    response = client.post("/analysis/passport", json={"base64": base64.b64encode(image).decode()})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_usage"


def test_a_truncated_jpeg_fails_alone_and_the_service_keeps_serving(client):
    image = render("green", seed=2, fmt="jpeg")
    broken = client.post(
        "/analysis/health-code",
        content=image[: len(image) // 2],
        headers={"content-type": "image/jpeg"},
    )
    assert broken.status_code == 400, broken.text
    assert broken.json()["error"]["code"] == "corrupt_image"
    assert "Traceback" not in broken.text
    good = client.post(
        "/analysis/health-code", content=image, headers={"content-type": "image/jpeg"}
    )
    assert good.status_code == 200


def test_triton_preprocessing_gives_exactly_the_training_tensor(service):
    """No train/serve skew: Triton's preprocess model and training share one function."""
    with grpcclient.InferenceServerClient(service.triton_grpc_url()) as triton:
        for label, fmt in CASES:
            image = render(label, seed=90_003, fmt=fmt)
            tensor = grpcclient.InferInput("IMAGE", [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
            result = triton.infer("health_code_preprocess", [tensor])
            np.testing.assert_array_equal(result.as_numpy("PIXELS")[0], image_to_tensor(image))


def test_concurrent_requests_each_get_their_own_answer(service):
    """A burst bigger than one dynamic batch: every request gets its own correct answer."""
    bodies = {
        label: {"base64": base64.b64encode(render(label, seed=90_004)).decode()} for label in LABELS
    }

    async def one(http: httpx.AsyncClient, label: str) -> tuple[str, int, str | None]:
        r = await http.post("/analysis/health-code", json=bodies[label])
        return label, r.status_code, r.json().get("status")

    async def burst() -> list[tuple[str, int, str | None]]:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as http:
            return await asyncio.gather(*(one(http, LABELS[i % 4]) for i in range(64)))

    results = asyncio.run(burst())
    assert [code for _, code, _ in results] == [200] * 64
    assert all(status == label for label, _, status in results)


@pytest.fixture(scope="module")
def triton_decoding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A second service whose gateway sends raw bytes and lets Triton's ensemble decode."""
    with (
        run_service(tmp_path_factory.mktemp("triton-decodes"), decode="triton") as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        yield http


@pytest.mark.parametrize(("label", "fmt"), CASES)
def test_decoding_in_the_gateway_or_in_triton_gives_the_same_answer(
    client, triton_decoding, label, fmt
):
    body = {"base64": base64.b64encode(render(label, seed=90_005, fmt=fmt)).decode()}
    here = client.post("/analysis/health-code", json=body)
    there = triton_decoding.post("/analysis/health-code", json=body)
    assert here.status_code == there.status_code == 200, (here.text, there.text)
    assert here.json()["status"] == there.json()["status"] == label
    assert here.json()["decided_by"] == there.json()["decided_by"]
    assert here.json()["scores"] == pytest.approx(there.json()["scores"], abs=1e-5)
    assert here.json()["model_version"] == there.json()["model_version"]


def test_both_decode_settings_withdraw_a_colour_on_a_symbol_with_no_finder_squares(
    client, triton_decoding
):
    """The first look's finder check runs in the gateway or in Triton's preprocess step: a Data
    Matrix the classifier takes for a colour (symbols set, seed 50) is withdrawn either way."""
    image, drawn = case("screenshot", 7, seed=50, screens="symbols")
    assert drawn.drawn == "invalid/data_matrix"
    for http in (client, triton_decoding):
        response = http.post(
            "/analysis/health-code", content=image, headers={"content-type": "image/jpeg"}
        )
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["decided_by"]) == (
            "invalid",
            "no_finder",
        )


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_both_decode_settings_refuse_a_truncated_image_with_the_same_code(
    client, triton_decoding, fmt
):
    image = render("red", seed=90_006, fmt=fmt)
    for http in (client, triton_decoding):
        response = http.post(
            "/analysis/health-code",
            content=image[: len(image) // 2],
            headers={"content-type": f"image/{fmt}"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "corrupt_image"


def test_a_photo_stored_sideways_reaches_the_model_upright(service, client):
    # What a phone camera held upright stores: the pixels turned, and EXIF orientation 6.
    upright = Image.open(io.BytesIO(render("yellow", seed=90_007, fmt="jpeg")))
    sideways = jpeg_with_orientation(upright.transpose(Image.Transpose.ROTATE_90), 6)
    with grpcclient.InferenceServerClient(service.triton_grpc_url()) as triton:
        tensor = grpcclient.InferInput("IMAGE", [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[sideways]], dtype=np.object_))
        served = triton.infer("health_code_preprocess", [tensor]).as_numpy("PIXELS")[0]
    expected = image_to_tensor(jpeg_with_orientation(upright, 1))
    # Only the second JPEG encoding differs; the turned picture would differ by tens of levels.
    assert np.abs(served.astype(int) - expected).mean() < 2
    response = client.post(
        "/analysis/health-code", content=sideways, headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "yellow"


def test_the_closer_look_answers_alike_whoever_decodes_the_first_look(client, triton_decoding):
    # Independent page 9, seed 1: a small yellow code in a photo that the first look refuses.
    image, page = case("photo", 9, seed=1)
    answers = [
        http.post("/analysis/health-code", content=image, headers={"content-type": "image/jpeg"})
        for http in (client, triton_decoding)
    ]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    here, there = (a.json() for a in answers)
    assert (here["status"], here["decided_by"]) == (page.label, "closer_look")
    assert (there["status"], there["decided_by"]) == (page.label, "closer_look")
    assert here["scores"] == pytest.approx(there["scores"], abs=1e-5)
    assert here["code_box"] == pytest.approx(there["code_box"])
