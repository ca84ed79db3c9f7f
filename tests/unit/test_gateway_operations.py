"""Operating the gateway: API keys, structured logs with request ids, and the metrics that move."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re

import orjson
import pytest
from tritonclient.utils import InferenceServerException

from gateway import auth, logs
from gateway.settings import Settings
from tests.support.fake_triton import URL, as_json, error_code, gateway
from tests.support.images import encode

KEYS = frozenset({"k-one-1234567890", "k-two-0987654321"})


def metric(text: str, name: str) -> float:
    """The value of one sample line `name` (labels included) in a Prometheus exposition."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def json_lines(err: str) -> list[dict]:
    return [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]


# --- API keys -------------------------------------------------------------------------------


async def test_without_configured_keys_no_key_is_needed():
    async with gateway() as (http, _):
        assert (await http.post(URL, json=as_json(encode("JPEG")))).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}, {"authorization": "k-one"}],
)
async def test_a_missing_or_wrong_key_is_401_unauthorized_before_triton_is_asked(headers):
    async with gateway(api_keys=KEYS) as (http, fake):
        response = await http.post(URL, json=as_json(encode("JPEG")), headers=headers)
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert fake.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "k-one-1234567890"},
        {"x-api-key": "k-two-0987654321"},
        {"authorization": "Bearer k-one-1234567890"},
        {"authorization": "bearer  k-two-0987654321 "},
    ],
)
async def test_any_configured_key_is_accepted_as_x_api_key_or_bearer_token(headers):
    async with gateway(api_keys=KEYS) as (http, _):
        response = await http.post(URL, json=as_json(encode("JPEG")), headers=headers)
        assert response.status_code == 200, response.text


async def test_an_unknown_usage_without_a_key_is_401_not_404():
    async with gateway(api_keys=KEYS) as (http, _):
        response = await http.post("/analysis/passport", json={})
        assert response.status_code == 401


async def test_probes_stay_open_and_metrics_need_a_key_when_keys_are_on():
    async with gateway(api_keys=KEYS) as (http, _):
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 401
        bearer = {"authorization": "Bearer k-two-0987654321"}
        assert (await http.get("/metrics", headers=bearer)).status_code == 200


def test_every_configured_key_is_compared_in_constant_time(monkeypatch):
    compared = []
    real_compare = hmac.compare_digest

    def compare_digest(a, b):
        compared.append(b)
        return real_compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", compare_digest)
    keys = [b"first", b"second", b"third"]
    assert auth.authorized([(b"x-api-key", b"first")], keys)
    assert compared == keys  # a match does not stop the comparisons early


@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ("a1, b2 ,", {"a1", "b2"}),
        ('["a1", "b2"]', {"a1", "b2"}),
        ("", set()),
    ],
)
def test_api_keys_are_read_from_a_comma_separated_or_json_list(monkeypatch, env, keys):
    monkeypatch.setenv("HEALTHCODE_API_KEYS", env)
    assert Settings().api_keys == keys


def test_api_keys_stay_out_of_the_settings_repr():
    assert "secret-key" not in repr(Settings(api_keys={"secret-key"}))


# --- logs -----------------------------------------------------------------------------------


async def test_each_request_gets_one_json_access_line_with_its_id_and_no_image_or_key(capsys):
    image = as_json(encode("JPEG"))
    async with gateway(log_format="json", api_keys=KEYS) as (http, _):
        response = await http.post(URL, json=image, headers={"x-api-key": "k-one-1234567890"})
    request_id = response.headers["x-request-id"]
    err = capsys.readouterr().err
    access = [line for line in json_lines(err) if line["logger"] == "gateway.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == request_id
    assert line["method"] == "POST"
    assert line["path"] == URL
    assert line["usage"] == "health-code"
    assert line["status"] == 200
    assert line["latency_ms"] >= 0
    assert line["bytes_in"] == len(orjson.dumps(image))
    assert image["base64"][:32] not in err
    assert "k-one-1234567890" not in err


async def test_a_refusal_is_logged_with_its_error_code(capsys):
    async with gateway(log_format="json") as (http, _):
        await http.post(URL, json={"base64": "*"})
    (line,) = [line for line in json_lines(capsys.readouterr().err) if "status" in line]
    assert (line["status"], line["error_code"]) == (400, "invalid_base64")


async def test_log_lines_written_while_serving_a_request_carry_its_id(capsys):
    async with gateway(log_format="json") as (http, fake):
        fake.errors = [InferenceServerException("boom", status="StatusCode.INTERNAL")]
        response = await http.post(URL, json=as_json(encode("JPEG")))
    assert response.status_code == 502
    warnings = [line for line in json_lines(capsys.readouterr().err) if line["level"] == "WARNING"]
    assert warnings
    assert {line["request_id"] for line in warnings} == {response.headers["x-request-id"]}


async def test_text_logs_carry_the_request_id_too(capsys):
    async with gateway(log_format="text") as (http, _):
        response = await http.post("/analysis/passport", json={})
    line = next(x for x in capsys.readouterr().err.splitlines() if "gateway.access" in x)
    assert f"[{response.headers['x-request-id']}]" in line
    assert "POST /analysis/passport 404" in line


def test_configuring_logs_twice_leaves_one_handler():
    logs.configure("INFO", "json")
    logs.configure("DEBUG", "text")
    installed = [h for h in logging.getLogger().handlers if isinstance(h, logs._GatewayHandler)]
    assert len(installed) == 1
    assert logging.getLogger().level == logging.DEBUG


# --- metrics --------------------------------------------------------------------------------


async def test_rejections_are_counted_by_reason():
    async with gateway(api_keys=KEYS) as (http, _):
        key = {"x-api-key": "k-one-1234567890"}
        await http.post(URL, json={})
        await http.post(URL, json={"base64": "*"}, headers=key)
        await http.post(
            URL, content=b"\xff" * 300_000, headers={**key, "content-type": "image/png"}
        )
        await http.get("/nowhere")
        text = (await http.get("/metrics", headers=key)).text
    assert metric(text, 'healthcode_rejections_total{reason="unauthorized"}') == 1
    assert metric(text, 'healthcode_rejections_total{reason="not_found"}') == 1
    assert metric(text, 'healthcode_rejections_total{reason="invalid_base64"}') == 1
    assert metric(text, 'healthcode_rejections_total{reason="payload_too_large"}') == 1
    assert metric(text, 'healthcode_requests_total{code="401",usage="health-code"}') == 1


async def test_shed_requests_are_counted_as_overloaded_rejections():
    async with gateway(max_in_flight=1) as (http, fake):
        fake.gate = asyncio.Event()
        first = asyncio.create_task(http.post(URL, json=as_json(encode("JPEG"))))
        await fake.entered.wait()
        assert (await http.post(URL, json=as_json(encode("JPEG")))).status_code == 503
        fake.gate.set()
        await first
        text = (await http.get("/metrics")).text
    assert metric(text, 'healthcode_rejections_total{reason="overloaded"}') == 1


async def test_request_body_sizes_are_observed():
    async with gateway() as (http, _):
        body = orjson.dumps(as_json(encode("JPEG")))
        await http.post(URL, content=body, headers={"content-type": "application/json"})
        text = (await http.get("/metrics")).text
    assert metric(text, 'healthcode_request_body_bytes_count{usage="health-code"}') == 1
    assert metric(text, 'healthcode_request_body_bytes_sum{usage="health-code"}') == len(body)


async def test_latency_and_in_flight_metrics_are_exposed():
    async with gateway() as (http, _):
        await http.post(URL, json=as_json(encode("JPEG")))
        text = (await http.get("/metrics")).text
    assert metric(text, 'healthcode_request_duration_seconds_count{usage="health-code"}') == 1
    assert (
        metric(text, 'healthcode_triton_duration_seconds_count{model="health_code_classifier"}')
        == 1
    )
    assert "healthcode_requests_in_flight 0.0" in text


# --- connections ----------------------------------------------------------------------------


async def test_a_refusal_before_an_unbounded_body_is_read_closes_the_connection():
    async def chunks():
        yield as_json(encode("JPEG"))["base64"].encode()

    async with gateway() as (http, _):
        refused = await http.post("/analysis/passport", content=chunks())
        served = await http.post(URL, json=as_json(encode("JPEG")))
    assert refused.status_code == 404
    assert refused.headers["connection"] == "close"
    assert "connection" not in served.headers


async def test_a_refusal_before_a_small_declared_body_is_read_keeps_the_connection():
    """The server discards the rest: closing with unread data would reset the connection."""
    async with gateway() as (http, _):
        refused = await http.post("/analysis/passport", json=as_json(encode("JPEG")))
    assert refused.status_code == 404
    assert "connection" not in refused.headers
