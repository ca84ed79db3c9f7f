"""Bad input against the real gateway + Triton: each gets its 4xx in the error shape, and the
service keeps answering good images."""

from __future__ import annotations

import base64
import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from tests.support.images import encode, jpeg_claiming, png_claiming
from tests.support.service import Service, wait_for
from training.render import render

URL = "/analysis/health-code"
MAX_BODY_BYTES = 16 * 1024 * 1024  # the session service runs with the default limit
REQUEST_TIMEOUT_S = 10.0  # ... and the default request timeout
SLOW_MARGIN_S = 5.0
LEAKS = ("Traceback", "/tmp/", "site-packages", 'File "', "/work/")


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The response is `status` with the one error body naming `code`, leaking nothing."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    for leak in LEAKS:
        assert leak not in response.text


def b64(data: bytes) -> dict[str, str]:
    return {"base64": base64.b64encode(data).decode()}


@pytest.fixture(scope="module")
def good_jpeg() -> bytes:
    return render("green", seed=91_002, fmt="jpeg")  # 91_001 is a page iteration 10 refuses


def address(service: Service) -> tuple[str, int]:
    parts = urlsplit(service.base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@pytest.fixture
def raw(service: Service) -> Iterator[socket.socket]:
    """A raw TCP connection to the gateway, for what httpx will not send."""
    with socket.create_connection(address(service), timeout=REQUEST_TIMEOUT_S + 10) as sock:
        yield sock


def read_response(sock: socket.socket, timeout_s: float) -> tuple[int, bytes]:
    """Status code and bytes of one response (read until the body is complete or EOF)."""
    sock.settimeout(timeout_s)
    data = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(body) >= length:
                break
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data[9:12]), data


def request_head(*headers: str) -> bytes:
    """The start of a POST to the analysis URL, with `headers`, up to the body."""
    lines = [f"POST {URL} HTTP/1.1", "Host: gateway", *headers, "", ""]
    return "\r\n".join(lines).encode()


def error_code_of(raw_response: bytes) -> str:
    body = raw_response.partition(b"\r\n\r\n")[2]
    return httpx.Response(200, content=body).json()["error"]["code"]


# -- bodies that are not a usable request ---------------------------------------------------------


def test_an_empty_json_body_is_refused_with_invalid_json(client):
    response = client.post(URL, content=b"", headers={"content-type": "application/json"})
    assert_error(response, 422, "invalid_json")


def test_an_empty_raw_body_is_refused_with_empty_image(client):
    response = client.post(URL, content=b"", headers={"content-type": "image/jpeg"})
    assert_error(response, 400, "empty_image")


@pytest.mark.parametrize("body", [b"{", b'{"base64": ', b"not json", b"\xff\xfe{}", b"[1, 2"])
def test_malformed_json_is_refused_with_invalid_json(client, body):
    response = client.post(URL, content=body, headers={"content-type": "application/json"})
    assert_error(response, 422, "invalid_json")


@pytest.mark.parametrize("doc", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_refused_with_invalid_json(client, doc):
    response = client.post(URL, content=doc, headers={"content-type": "application/json"})
    assert_error(response, 422, "invalid_json")


def test_a_json_object_without_base64_is_refused_with_missing_field(client):
    assert_error(client.post(URL, json={"image": "aGVsbG8="}), 422, "missing_field")


@pytest.mark.parametrize("value", [None, 42, 1.5, True, ["aGVsbG8="], {"data": "aGVsbG8="}])
def test_a_base64_field_that_is_not_a_string_is_refused_with_invalid_field(client, value):
    assert_error(client.post(URL, json={"base64": value}), 422, "invalid_field")


@pytest.mark.parametrize(
    "text",
    ["aGVsbG8*d29ybGQ=", "aGVsbG8", "aGVsbG8==", "aGVs bG8=", "a", "====", "aGVsbG8=\n", "é"],
)
def test_invalid_base64_is_refused_with_invalid_base64(client, text):
    response = client.post(URL, json={"base64": text})
    assert_error(response, 400, "invalid_base64")
    assert "no line breaks" in response.json()["error"]["message"]  # MIME-style base64's fix


def test_a_data_url_prefix_is_accepted(client, good_jpeg):
    text = "data:image/jpeg;base64," + base64.b64encode(good_jpeg).decode()
    response = client.post(URL, json={"base64": text})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "green"


@pytest.mark.parametrize("data", [b"hello world", b"\x00" * 64, b"%PDF-1.7\n", b"<svg></svg>"])
def test_base64_of_bytes_that_are_not_an_image_is_refused_with_not_an_image(client, data):
    assert_error(client.post(URL, json=b64(data)), 400, "not_an_image")


def test_a_truncated_jpeg_passes_the_header_check_and_fails_decoding_in_triton(client, good_jpeg):
    # Cut in the middle of the entropy-coded data: the header (read by the gateway) is intact.
    response = client.post(URL, json=b64(good_jpeg[: len(good_jpeg) // 2]))
    assert_error(response, 400, "corrupt_image")
    assert "JPEG" in response.json()["error"]["message"]  # Triton's decoder said so


def test_a_truncated_png_is_refused_with_corrupt_image(client):
    png = render("red", seed=91_002, fmt="png")
    assert_error(client.post(URL, json=b64(png[: len(png) // 2])), 400, "corrupt_image")


@pytest.mark.parametrize("image", [png_claiming(30_000, 30_000), jpeg_claiming(30_000, 30_000)])
def test_a_small_file_claiming_30000x30000_is_refused_with_image_too_large(client, image):
    assert len(image) < 2_000
    assert_error(client.post(URL, json=b64(image)), 413, "image_too_large")


@pytest.mark.parametrize("image", [png_claiming(30_000, 30_000), jpeg_claiming(30_000, 30_000)])
def test_triton_refuses_a_decompression_bomb_on_its_own(service, image):
    with grpcclient.InferenceServerClient(service.triton_grpc_url()) as triton:
        tensor = grpcclient.InferInput("IMAGE", [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        with pytest.raises(InferenceServerException) as caught:
            triton.infer("health_code", [tensor], client_timeout=30)
    assert "[image_too_large]" in caught.value.message()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP", "TIFF"])
def test_other_image_formats_are_refused_with_unsupported_image_format(client, fmt):
    image = encode(fmt)
    assert_error(client.post(URL, json=b64(image)), 415, "unsupported_image_format")
    raw = client.post(URL, content=image, headers={"content-type": "image/png"})
    assert_error(raw, 415, "unsupported_image_format")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "image/gif", "multipart/form-data; boundary=x", None]
)
def test_other_content_types_are_refused_with_unsupported_media_type(client, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post(URL, content=b'{"base64": "aGVsbG8="}', headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    # the message says what the route takes
    assert "application/json, image/jpeg, image/png" in response.json()["error"]["message"]


def test_an_unknown_usage_is_404_unknown_usage(client, good_jpeg):
    assert_error(client.post("/analysis/passport", json=b64(good_jpeg)), 404, "unknown_usage")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", URL, 405, "method_not_allowed"), ("POST", "/nowhere", 404, "not_found")],
)
def test_routing_errors_use_the_error_shape(client, method, path, status, code):
    assert_error(client.request(method, path), status, code)


# -- bodies over the limit -------------------------------------------------------------------------


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_sent(raw):
    raw.sendall(request_head("Content-Type: image/jpeg", f"Content-Length: {MAX_BODY_BYTES + 1}"))
    status, response = read_response(raw, timeout_s=5)
    assert status == 413
    assert error_code_of(response) == "payload_too_large"


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(raw):
    stream_bytes = 48 * 1024 * 1024  # 3x the limit: slack for the kernel's socket buffers
    chunk = b"\xff" * (256 * 1024)
    raw.sendall(request_head("Content-Type: image/jpeg", "Transfer-Encoding: chunked"))
    sent = 0
    raw.settimeout(2)
    deadline = time.monotonic() + 30
    with contextlib.suppress(OSError):  # the gateway may close before we stop sending
        while sent < stream_bytes and time.monotonic() < deadline:
            if select.select([raw], [], [], 0)[0]:
                break  # it answered: stop streaming
            raw.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    assert MAX_BODY_BYTES < sent < stream_bytes
    status, response = read_response(raw, timeout_s=5)
    assert status == 413
    assert error_code_of(response) == "payload_too_large"
    assert b"connection: close" in response.lower()


def test_a_client_that_sends_a_40_mb_body_before_reading_still_gets_its_413(raw):
    """The gateway answers at once, then reads and drops the rest (a lingering close): closing
    with the upload still arriving would reset the connection and lose the answer."""
    size = 40 * 1024 * 1024
    raw.sendall(request_head("Content-Type: image/jpeg", f"Content-Length: {size}"))
    block = b"\xff" * (1024 * 1024)
    raw.settimeout(30)
    for _ in range(size // len(block)):  # all of it, as a client that reads no answer first
        raw.sendall(block)
    status, response = read_response(raw, timeout_s=10)
    assert status == 413
    assert error_code_of(response) == "payload_too_large"
    assert b"connection: close" in response.lower()


# -- slow clients ----------------------------------------------------------------------------------


def slow_request(service: Service, trickle_s: float | None) -> tuple[int | None, float]:
    """Send headers and a body's first bytes, then trickle a byte every `trickle_s` or stall.

    Returns the status the gateway answered (None: it closed without one) and the time taken.
    """
    began = time.monotonic()
    with socket.create_connection(address(service), timeout=2) as sock:
        sock.sendall(request_head("Content-Type: image/jpeg", "Content-Length: 100000"))
        sock.sendall(b"\xff\xd8\xff")
        sock.settimeout(trickle_s or 2)
        limit = began + REQUEST_TIMEOUT_S + SLOW_MARGIN_S
        while time.monotonic() < limit:
            try:
                answer = sock.recv(65536)
            except TimeoutError:  # nothing yet: keep trickling (or stalling)
                if trickle_s is not None:
                    try:
                        sock.sendall(b"\x00")
                    except OSError:
                        return None, time.monotonic() - began
                continue
            except OSError:
                return None, time.monotonic() - began
            if not answer:
                return None, time.monotonic() - began
            if answer.startswith(b"HTTP/1.1 "):
                return int(answer[9:12]), time.monotonic() - began
    raise AssertionError("the gateway neither answered nor closed a slow client's connection")


def in_flight(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    found = re.search(r"^healthcode_requests_in_flight (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_slow_clients_get_408_in_time_while_others_are_served(service, client, good_jpeg):
    results: dict[str, tuple[int | None, float]] = {}
    threads = [
        threading.Thread(target=lambda: results.__setitem__("trickle", slow_request(service, 0.5))),
        threading.Thread(target=lambda: results.__setitem__("stall", slow_request(service, None))),
    ]
    for thread in threads:
        thread.start()
    # both are now holding a request open, as the gateway's own gauge says
    assert wait_for(lambda: in_flight(client) == 2, 5)
    served = client.post(URL, json=b64(good_jpeg), timeout=5)
    assert served.status_code == 200, served.text
    assert all(thread.is_alive() for thread in threads)  # ... and still are
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT_S + SLOW_MARGIN_S + 5)
    for name in ("trickle", "stall"):
        status, took_s = results[name]
        assert status in (408, None), name
        assert took_s < REQUEST_TIMEOUT_S + SLOW_MARGIN_S, name


# -- and after all of that ----------------------------------------------------------------------


def test_the_service_still_answers_a_good_image_after_all_the_bad_input(client, good_jpeg):
    response = client.post(URL, json=b64(good_jpeg))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "green"
    assert client.get("/readyz").status_code == 200
