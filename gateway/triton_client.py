"""The gateway's connection to Triton: one async gRPC client, deadlines, retries, served versions.

Triton errors become gateway errors in `to_gateway_error`, the one mapping. Requests that never
reached a model (Triton restarting, a model reloading) are retried within the request's deadline.
The retry loop is written out rather than taken from stamina/tenacity: it runs on every request,
and their per-call machinery (a retrying object, a context per attempt) costs more than the call
it wraps when nothing fails.

Served versions: Triton's repository index, polled every `version_poll_s`, gives the highest READY
version of every model; with it, the classifier's decision rule from its config
(`min_colour_probability`, and the closer look's `closer_look_*` values), so a new classifier
brings its own calibrated rule.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from numpy.typing import NDArray
from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, InferResult, service_pb2
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from gateway import errors, infer_request
from gateway.classification import (
    CLOSER_BAR_PARAMETER,
    CLOSER_CHECK_PARAMETER,
    CLOSER_FINDER_BAR_PARAMETER,
    CLOSER_FINDER_PARAMETER,
    CLOSER_FLOOR_PARAMETER,
    CLOSER_UNSEEN_PARAMETER,
    THRESHOLD_PARAMETER,
    CloserLookRule,
)
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.tracing import Tracer

logger = logging.getLogger(__name__)

# The closer look's rule (classification.CloserLookRule), in its fields' order: the view's
# colour probability it needs, the colour probability a refused page's first look must have seen
# for that, and (optional) the view's colour probability it needs where the first look saw less,
# the colour probability below which a colour answer is looked at for a code, the view's
# sharpness from which a colour needs QR finder squares, and the view's colour probability that
# answers a refused page where finder squares were seen.
CLOSER_LOOK_PARAMETERS = (
    CLOSER_BAR_PARAMETER,
    CLOSER_FLOOR_PARAMETER,
    CLOSER_UNSEEN_PARAMETER,
    CLOSER_CHECK_PARAMETER,
    CLOSER_FINDER_PARAMETER,
    CLOSER_FINDER_BAR_PARAMETER,
)
SCORES_OUTPUT = "SCORES"  # what every model a usage calls answers: FP32 [N, n_labels]
# The preprocess step's finder check, BOOL [N, 1], which the ensemble also answers (a family
# without it: not known).
FINDER_OUTPUT = "FINDER"
# imaging.py's ImageError travels as "[code] message" inside Triton's error text: a python model
# can only return Triton's own status codes, so the text is the one channel for ours.
_IMAGE_ERROR = re.compile(r"\[([a-z_]+)\]\s*([^\n]*)")
# Triton answers UNAVAILABLE both when it is down and when a model's queue is full: only the
# text tells overload (never retried) from absence (retried).
_QUEUE_REJECTIONS = ("exceeds maximum queue size", "request timeout expired")
_MODEL_MISSING = ("unknown model", "is not found", "not ready", "no available version")
_RETRYABLE = (errors.TritonUnavailable, errors.ModelUnavailable)


# Keepalive: a replica whose node dropped off the network closes no connection, and without
# pings its calls would wait for their deadline. Ping every 2 s, give up after 2 more: a silent
# replica is dropped within ~4 s, in time to retry its calls on another. Triton must
# accept pings that often (gateway.embedded.server.KEEPALIVE_ARGS; tritonclient's defaults send
# none, and Triton's would answer frequent ones with GOAWAY).
KEEPALIVE_TIME_MS = 2_000
KEEPALIVE_TIMEOUT_MS = 2_000


def channel_args() -> list[tuple[str, Any]]:
    """tritonclient's message sizes (passing options replaces its defaults), keepalive pings,
    fast reconnects and round robin over replicas."""
    return [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),  # 0: no limit
        # A ping stuck behind writes the silent peer never reads times out too.
        ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        # gRPC's reconnect backoff grows to 120 s: after a Triton restart the gateway would
        # answer 503 long after Triton is back. Cap it at 1 s.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        # Several replicas behind one target (dns:///, ipv4:a,b): every call goes to the next
        # ready one, and one that went away is skipped as soon as its connection fails.
        ("grpc.lb_policy_name", "round_robin"),
    ]


class Client(InferenceServerClient):  # type: ignore[misc]
    """tritonclient's aio client, whose `infer` sends gateway.infer_request's encoding.

    Everything else (readiness, the repository index, configs) is tritonclient's own. `infer`
    takes infer_request.Input, not tritonclient's InferInput, and answers tritonclient's
    InferResult and InferenceServerException as the base class does.
    """

    def __init__(self, url: str, channel_args: list[tuple[str, Any]] | None = None) -> None:
        super().__init__(url=url, channel_args=channel_args)
        # The base class's channel (tritonclient 2.51, pinned), called with the request as bytes.
        self._model_infer = self._channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=None,
            response_deserializer=service_pb2.ModelInferResponse.FromString,
        )

    async def infer(
        self,
        model_name: str,
        inputs: Sequence[infer_request.Input],
        request_id: str = "",
        client_timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> InferResult:
        request = infer_request.encode(model_name, inputs, request_id)
        metadata = tuple(headers.items()) if headers else None
        try:
            response = await self._model_infer(request, timeout=client_timeout, metadata=metadata)
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
            raise InferenceServerException(msg=details, status=str(code)) from None
        return InferResult(response)


def make_client(settings: Settings) -> Client:
    """The one gRPC client of this event loop."""
    return Client(settings.triton_target, channel_args())


def to_gateway_error(e: InferenceServerException) -> errors.GatewayError:
    """Map a tritonclient error to the gateway error the client sees."""
    status = e.status() or ""
    message = e.message() or ""
    for found in _IMAGE_ERROR.finditer(message):
        # The preprocess model's per-request errors: "[corrupt_image] cannot decode JPEG: ..."
        if found.group(1) in errors.image_error_codes():
            return errors.from_image_error(found.group(1), found.group(2) or None)
    lowered = message.lower()
    if status.endswith("DEADLINE_EXCEEDED"):
        return errors.DeadlineExceeded()
    if status.endswith("RESOURCE_EXHAUSTED") or any(q in lowered for q in _QUEUE_REJECTIONS):
        return errors.Overloaded()
    if status.endswith("NOT_FOUND") or any(m in lowered for m in _MODEL_MISSING):
        return errors.ModelUnavailable()
    if status.endswith("UNAVAILABLE"):
        return errors.TritonUnavailable()
    return errors.InferenceFailed()


@dataclass(frozen=True)
class Served:
    """What serves a model now: its highest READY version and its decision threshold."""

    version: str
    min_colour_probability: float | None = None
    # None: this classifier was not measured with a closer look, and gets none.
    closer_look: CloserLookRule | None = None


class TritonClient:
    """Inference with a deadline and retries, readiness, and the served model versions."""

    def __init__(self, settings: Settings, metrics: Metrics, tracer: Tracer) -> None:
        self.client: Any = None  # made in the serving event loop: see open()
        self._tracer = tracer
        self._timeout_s = settings.request_timeout_s
        self._retry_delays_s = settings.retry_delays_s
        self._probe_timeout_s = settings.probe_timeout_s
        self._metrics = metrics
        self._served: dict[str, Served] = {}
        # Models with a READY version at the last index read; None until the first read.
        self.ready_models: frozenset[str] | None = None
        self._index_read = False
        self._index_lock = asyncio.Lock()

    def open(self, client: Any) -> None:
        """Use `client` (a tritonclient.grpc.aio client, made in the serving event loop)."""
        self.client = client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def reresolve(self, factory: Callable[[], Any], interval_s: float) -> None:
        """Open a fresh channel every `interval_s` (a background task for dns:/// targets).

        gRPC resolves a name when a channel connects and again only when a connection fails: a
        long-lived channel never sees replicas added since. Calls in flight finish on the old
        channel, which is closed once their deadline has passed.
        """
        while True:
            await asyncio.sleep(interval_s)
            old, self.client = self.client, factory()
            await asyncio.sleep(self._timeout_s + 1)
            await old.close()

    async def infer(
        self, model: str, inputs: Sequence[infer_request.Input], request_id: str
    ) -> Any:
        """Run `inputs` through `model` within the request deadline; retry what never ran."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        started = time.perf_counter()
        attempt = 0
        try:
            while True:
                try:
                    with self._tracer.span("triton.infer", client=True, model=model):
                        return await self.client.infer(
                            model,
                            inputs,
                            request_id=request_id,
                            client_timeout=max(deadline - loop.time(), 0.001),
                            headers=self._tracer.grpc_headers(),
                        )
                except InferenceServerException as e:
                    error = to_gateway_error(e)
                    delays = self._retry_delays_s
                    delay_s = delays[attempt] if attempt < len(delays) else None
                    if (
                        not isinstance(error, _RETRYABLE)
                        or delay_s is None
                        or loop.time() + delay_s >= deadline
                    ):
                        # Only the unexplained failure is logged loudly: the others are
                        # counted in metrics and would flood the log during an outage.
                        failed = isinstance(error, errors.InferenceFailed)
                        logger.log(
                            logging.WARNING if failed else logging.DEBUG,
                            "infer %s failed: %s",
                            model,
                            e,
                        )
                        raise error from e
                attempt += 1
                await asyncio.sleep(delay_s)
        finally:
            self._metrics.triton_seconds.labels(model).observe(time.perf_counter() - started)

    async def scores(
        self, model: str, inputs: Sequence[infer_request.Input], rows: int, request_id: str = ""
    ) -> tuple[NDArray[np.float32], str, NDArray[np.bool_] | None]:
        """SCORES [rows, n] of one call, the version Triton says answered, and FINDER [rows] where
        the model answers it (the ensemble: its preprocess step's finder check)."""
        result = await self.infer(model, inputs, request_id)
        scores = result.as_numpy(SCORES_OUTPUT)
        if scores is None or scores.ndim != 2 or scores.shape[0] != rows:
            shape = None if scores is None else scores.shape
            logger.error("model %s answered %s with shape %s", model, SCORES_OUTPUT, shape)
            raise errors.InferenceFailed()
        finder = result.as_numpy(FINDER_OUTPUT)
        if finder is not None:
            if finder.size == rows:
                finder = finder.reshape(rows)
            else:  # not known, as from a family without it; the answer stands
                shape = finder.shape
                logger.error("model %s answered %s with shape %s", model, FINDER_OUTPUT, shape)
                finder = None
        return scores, result.get_response().model_version, finder

    async def served(self, model: str) -> Served:
        """The version (and threshold) serving `model` now; "" when Triton has not said yet."""
        if not self._index_read:
            await self._first_index()
        return self._served.get(model) or Served("")

    async def refresh(self) -> None:
        """Re-read the highest READY version of every model, and a new version's threshold."""
        index = await self.client.get_model_repository_index(client_timeout=self._probe_timeout_s)
        ready: dict[str, int] = {}
        unavailable: set[tuple[str, str]] = set()
        for entry in index.models:
            if entry.state == "READY" and entry.version.isdigit():
                ready[entry.name] = max(ready.get(entry.name, 0), int(entry.version))
            elif entry.state == "UNAVAILABLE" and entry.reason != "unloaded":
                unavailable.add((entry.name, entry.version))
        # Only a failure newer than what serves matters: Triton keeps listing a failed version
        # after its folder is gone, and after a newer version has loaded.
        failed = {(n, v) for n, v in unavailable if not v.isdigit() or int(v) > ready.get(n, 0)}
        self._metrics.model_versions(ready, failed)
        self.ready_models = frozenset(ready)
        served = dict(self._served)  # a model with no READY version keeps its last one
        for name, number in ready.items():
            version = str(number)
            if served.get(name, Served("")).version != version:
                served[name] = Served(version, *await self._rule(name))
        self._served = served
        self._index_read = True

    async def _rule(self, model: str) -> tuple[float | None, CloserLookRule | None]:
        """A model's decision rule from its config: (min_colour_probability, closer look)."""
        config = await self.client.get_model_config(model, client_timeout=self._probe_timeout_s)
        parameters = config.config.parameters
        threshold = parameters.get(THRESHOLD_PARAMETER)
        view, first, unseen, check, sharpness, with_finder = (
            float(parameters[name].string_value) if name in parameters else None
            for name in CLOSER_LOOK_PARAMETERS
        )
        rule = None
        if view is not None and first is not None:
            # An unseen bar over 1 (what `make train` writes when it chose none) is no tier; a
            # sharpness bar over 1 (written with no closer look) is no finder check; a bar with
            # finder squares over 1 is none of its own.
            unseen = unseen if unseen is not None and unseen <= 1 else None
            sharpness = sharpness if sharpness is not None and sharpness <= 1 else None
            with_finder = with_finder if with_finder is not None and with_finder <= 1 else None
            rule = CloserLookRule(view, first, unseen, check or 0.0, sharpness, with_finder)
        return float(threshold.string_value) if threshold is not None else None, rule

    async def _first_index(self) -> None:
        # Until the poller's first success, read the index inline once: no early answer is wrong.
        async with self._index_lock:
            if self._index_read:
                return
            try:
                await self.refresh()
            except InferenceServerException as e:
                logger.warning("cannot read the model repository index: %s", e)

    async def poll(self, interval_s: float) -> None:
        """Refresh the served versions forever (a background task of the lifespan)."""
        failing = False
        while True:
            try:
                await self.refresh()
            except Exception as e:  # keep polling whatever happens: Triton may be restarting
                if not failing:
                    logger.warning("cannot read the model repository index: %s", e)
                failing = True
            else:
                failing = False
            await asyncio.sleep(interval_s)

    async def readiness(self, models: Iterable[str]) -> tuple[bool, dict[str, bool]]:
        """Whether the server is ready, and each model."""
        names = list(models)
        timeout_s = self._probe_timeout_s
        server, *ready = await asyncio.gather(
            _probe(self.client.is_server_ready(client_timeout=timeout_s)),
            *(_probe(self.client.is_model_ready(n, client_timeout=timeout_s)) for n in names),
        )
        return server, dict(zip(names, ready, strict=True))


async def _probe(call: Any) -> bool:
    try:
        return bool(await call)
    except Exception:  # any failure to answer means "not ready"
        return False
