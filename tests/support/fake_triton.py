"""The real gateway app in-process, with a fake Triton client: for unit tests of the HTTP layer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
from tritonclient.grpc import InferResult, model_config_pb2, service_pb2

from gateway.app import create_app
from gateway.settings import Settings
from gateway.triton_client import TritonClient

URL = "/analysis/health-code"
MAX_BODY_BYTES = 200_000


class FakeTriton:
    """Stands in for tritonclient.grpc.aio.InferenceServerClient."""

    def __init__(self) -> None:
        self.scores: Any = [[0.05, 0.9, 0.03, 0.02]]
        # Raised by the next infer calls, in order (None: that call answers).
        self.errors: list[Exception | None] = []
        self.calls: list[SimpleNamespace] = []
        self.gate: asyncio.Event | None = None  # when set, infer waits for it
        self.entered = asyncio.Event()
        self.server_ready: bool | Exception = True
        self.models_ready = {
            "health_code": True,
            "health_code_preprocess": True,
            "health_code_classifier": True,
        }
        self.index = [
            ("health_code", "1", "READY"),
            ("health_code_preprocess", "1", "READY"),
            ("health_code_classifier", "1", "READY"),
        ]
        self.parameters: dict[str, dict[str, str]] = {}  # model -> config parameters
        self.time_outputs = {"TEXT": "", "READING": ""}  # what health_code_time answers
        # What health_code_closer answers: the view's scores and the code's box.
        self.closer_scores: Any = [[0.995, 0.002, 0.002, 0.001]]
        self.closer_box: Any = [[0.1, 0.2, 0.4, 0.35]]
        # The finder checks (code_locator.py): the ensemble's FINDER, the closer look's FINDER and
        # SHARPNESS, its INK (the RGB of a code decoded in the page) and BLURRED (the box is a
        # blurred code's); None: not answered, as by a family without them.
        self.finder: Any = None
        self.closer_finder: Any = None
        self.closer_sharpness: Any = None
        self.closer_ink: Any = None
        self.closer_blurred: Any = None
        self.closed = False
        self.triton: TritonClient | None = None  # the app's connection, once it runs

    async def infer(self, model_name, inputs, request_id="", client_timeout=None, **kwargs):
        self.calls.append(SimpleNamespace(model=model_name, inputs=inputs, timeout=client_timeout))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.errors and (error := self.errors.pop(0)) is not None:
            raise error
        response = service_pb2.ModelInferResponse(model_name=model_name, model_version="1")
        if model_name == "health_code_time":
            for name, text in self.time_outputs.items():
                output = response.outputs.add(name=name, datatype="BYTES")
                output.shape.extend([1, 1])
                data = text.encode()
                response.raw_output_contents.append(len(data).to_bytes(4, "little") + data)
            return InferResult(response)
        outputs = {"SCORES": self.scores, "FINDER": self.finder}
        if model_name == "health_code_closer":
            outputs = {
                "SCORES": self.closer_scores,
                "BOX": self.closer_box,
                "FINDER": self.closer_finder,
                "SHARPNESS": self.closer_sharpness,
                "INK": self.closer_ink,
                "BLURRED": self.closer_blurred,
            }
        elif model_name != "health_code":  # only the ensemble answers the first look's FINDER
            del outputs["FINDER"]
        for name, values in outputs.items():
            if values is None:
                continue
            boolean = name in ("FINDER", "BLURRED")
            array = np.asarray(values, dtype=bool if boolean else np.float32)
            output = response.outputs.add(name=name, datatype="BOOL" if boolean else "FP32")
            output.shape.extend(array.shape)
            response.raw_output_contents.append(array.tobytes())
        return InferResult(response)

    async def is_server_ready(self, client_timeout=None):
        if isinstance(self.server_ready, Exception):
            raise self.server_ready
        return self.server_ready

    async def is_model_ready(self, model_name, client_timeout=None):
        return self.models_ready.get(model_name, False)

    async def get_model_repository_index(self, client_timeout=None):
        entries = [
            service_pb2.RepositoryIndexResponse.ModelIndex(name=n, version=v, state=s)
            for n, v, s in self.index
        ]
        return service_pb2.RepositoryIndexResponse(models=entries)

    async def get_model_config(self, model_name, client_timeout=None):
        config = model_config_pb2.ModelConfig(name=model_name)
        for key, value in self.parameters.get(model_name, {}).items():
            config.parameters[key].string_value = value
        return service_pb2.ModelConfigResponse(config=config)

    async def close(self):
        self.closed = True


@contextlib.asynccontextmanager
async def gateway(**overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, FakeTriton]]:
    """A running app (lifespan included) with a fake Triton, and an HTTP client for it."""
    fake = FakeTriton()
    settings = Settings(**{"max_body_bytes": MAX_BODY_BYTES, **overrides})
    app = create_app(settings, client_factory=lambda _: fake)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as http,
    ):
        fake.triton = app.state.gateway.triton
        yield http, fake


def as_json(image: bytes, prefix: str = "") -> dict[str, str]:
    return {"base64": prefix + base64.b64encode(image).decode()}


def error_code(response: httpx.Response) -> str:
    """The error code of an error answer, checking the error shape on the way."""
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    assert body["request_id"] == response.headers["x-request-id"]
    code: str = body["error"]["code"]
    return code
