"""Random requests against the real gateway + Triton: never a 5xx, always the contract's shape."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.service import Service
from training.render import LABELS, render

URL = "/analysis/health-code"
ERROR_KEYS = {"error", "request_id"}
LEAKS = ("Traceback", "/tmp/", "site-packages", 'File "')
# Small renders keep each request that reaches Triton cheap.
IMAGES = (
    render("green", seed=92_001, fmt="jpeg", width=360, height=780),
    render("invalid", seed=92_002, fmt="png", width=360, height=780),
)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written to the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A rendered JPEG or PNG with bytes flipped, cut off or spliced in."""
    data = bytearray(draw(st.sampled_from(IMAGES)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        how = draw(st.sampled_from(["flip", "truncate", "splice", "drop"]))
        at = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif how == "truncate":
            del data[max(at, 1) :]
        elif how == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at : at + draw(st.integers(1, 512))]
    return bytes(data)


def as_json(image: bytes) -> bytes:
    return orjson.dumps({"base64": base64.b64encode(image).decode()})


bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(orjson.dumps),
    st.dictionaries(st.just("base64"), json_values, min_size=1).map(orjson.dumps),
    st.binary(max_size=2048).map(as_json),
    mutated_images(),
    mutated_images().map(as_json),
)
content_types = st.one_of(
    st.sampled_from(
        ["application/json", "image/jpeg", "image/png", "application/json; charset=utf-8"]
    ),
    st.sampled_from(["text/plain", "image/gif", "multipart/form-data", "", "IMAGE/JPEG"]),
    # Printable ASCII; no surrounding blanks, which httpx itself refuses to send.
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip),
)
usages = st.one_of(
    st.just("health-code"), st.text(max_size=24), st.sampled_from(["", "..", "health-code/x"])
)


@pytest.fixture(scope="module")
def http(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        yield client


def assert_contract(response: httpx.Response) -> None:
    """No 5xx; a 200 is a classification, anything else the one error shape, leaking nothing.

    (A path with a trailing slash is redirected to the one without: that is routing, not an error.)
    """
    assert response.status_code < 500, response.text
    if response.is_redirect:
        assert response.status_code in (307, 308)
        assert response.headers["location"]
        return
    body = response.json()
    if response.status_code == 200:
        assert body["status"] in LABELS
        assert set(body["scores"]) == set(LABELS)
        return
    assert 400 <= response.status_code < 500, response.text
    assert set(body) == ERROR_KEYS
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"]
    assert body["request_id"] == response.headers["x-request-id"]
    for leak in LEAKS:
        assert leak not in response.text


@FUZZ
@given(body=bodies, content_type=content_types)
def test_random_bodies_never_cause_a_server_error(http, body, content_type):
    response = http.post(URL, content=body, headers={"content-type": content_type})
    assert_contract(response)


@FUZZ
@given(image=mutated_images(), raw=st.booleans())
def test_mutated_images_are_classified_or_refused_with_a_client_error(http, image, raw):
    if raw:
        response = http.post(URL, content=image, headers={"content-type": "image/jpeg"})
    else:
        response = http.post(
            URL, content=as_json(image), headers={"content-type": "application/json"}
        )
    assert_contract(response)


@settings(max_examples=150, deadline=None, database=None)
@given(usage=usages, method=st.sampled_from(["POST", "GET", "PUT", "DELETE"]))
def test_random_usage_paths_and_methods_are_answered_in_the_error_shape(http, usage, method):
    response = http.request(
        method, "/analysis/" + quote(usage, safe=""), content=as_json(IMAGES[0])
    )
    if not response.request.url.path.startswith("/analysis/"):
        # ".." took the client out of /analysis/ (httpx normalises the path): another route.
        assert response.status_code < 500
        return
    assert_contract(response)


def test_the_service_is_still_ready_after_the_fuzzing(http):
    assert http.get("/readyz").status_code == 200
    response = http.post(
        URL, content=as_json(IMAGES[0]), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
