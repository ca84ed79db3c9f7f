"""The Triton client wrapper: one async gRPC client, image bytes in, labelled scores out.

Contract with the model repository: the model named for a usage (an ensemble, `health_code`)
takes input IMAGE, BYTES, shape [1, 1] (max_batch_size > 0, dims [1]) holding the raw JPEG/PNG
bytes, and answers SCORES, FP32 [1, 4], probabilities in LABELS order. When the gateway decodes
(HEALTHCODE_DECODE=gateway), it calls `<model>_classifier` with PIXELS, UINT8 [1, 3, H, W] instead.

model_version: an ensemble's own version ("1") does not change when its classifier gets a new
version, so the answer reports the highest READY version of the composing model
`<model>_classifier` (CLASSIFIER_SUFFIX), or of the model itself when there is no such model.
Versions come from Triton's repository index, polled every VERSION_POLL_S.

Triton errors map to gateway errors in triton_error(); requests that never reached a model
(Triton restarting, model reloading) are retried within the request's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, InferInput, KeepAliveOptions
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from gateway import errors
from gateway.metrics import Metrics
from gateway.settings import Settings

logger = logging.getLogger(__name__)

INPUT_NAME = "IMAGE"
PIXELS_NAME = "PIXELS"  # the classifier's input, when the gateway decodes
OUTPUT_NAME = "SCORES"
# Order of model_repository/health_code_classifier/labels.txt (a unit test checks it).
LABELS = ("green", "yellow", "red", "invalid")
CLASSIFIER_SUFFIX = "_classifier"
VERSION_POLL_S = 1.0
PROBE_TIMEOUT_S = 1.0
# Pauses between attempts when Triton or the model is unavailable (never for overload):
# ~0.75 s in all rides over a Triton restart's reconnect or a model reload, bounded by the deadline.
RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4)
RETRYABLE = (errors.TritonUnavailable, errors.ModelUnavailable)

_MARKER = re.compile(r"\[([a-z_]+)\]\s*([^\n]*)")
_QUEUE_REJECTIONS = ("exceeds maximum queue size", "request timeout expired")
_MODEL_MISSING = ("unknown model", "is not found", "not ready", "no available version")


class Classification(NamedTuple):
    status: str
    confidence: float
    scores: dict[str, float]
    model_version: str


def channel_args() -> list[tuple[str, Any]]:
    """tritonclient's default channel options (passing any replaces them all) + fast reconnects."""
    keepalive = KeepAliveOptions()
    return [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        # gRPC's reconnect backoff grows to 120 s: after a Triton restart the gateway would
        # answer 503 long after Triton is back. Cap it at 1 s.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


def make_client(settings: Settings) -> InferenceServerClient:
    """The one gRPC client of this event loop."""
    return InferenceServerClient(url=settings.triton_url, channel_args=channel_args())


def triton_error(e: InferenceServerException) -> errors.GatewayError:
    """Map a tritonclient error to the gateway error the client sees."""
    status = e.status() or ""
    message = e.message() or ""
    for marker in _MARKER.finditer(message):
        # The preprocess model's per-request errors: "[corrupt_image] cannot decode JPEG: ..."
        image_error = errors.IMAGE_ERRORS.get(marker.group(1))
        if image_error:
            return image_error(marker.group(2)[:200] or None)
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


def to_classification(row: np.ndarray, model_version: str) -> Classification:
    """One SCORES row -> status, confidence and labelled scores."""
    values = [round(float(x), 6) for x in row.tolist()]
    best = max(range(len(values)), key=values.__getitem__)
    scores = dict(zip(LABELS, values, strict=True))
    return Classification(LABELS[best], values[best], scores, model_version)


class Triton:
    """The app's Triton: inference, readiness and served model versions."""

    def __init__(self, client: Any, settings: Settings, metrics: Metrics) -> None:
        self.client = client
        self._timeout_s = settings.request_timeout_s
        self._metrics = metrics
        self._versions: dict[str, str] = {}
        self._versions_known = False
        self._versions_lock = asyncio.Lock()

    async def classify(self, model: str, image: bytes, request_id: str) -> Classification:
        """Run one encoded image through `model` (Triton decodes it)."""
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        return await self._classify(model, tensor, request_id)

    async def classify_pixels(
        self, model: str, pixels: np.ndarray, request_id: str
    ) -> Classification:
        """Run one decoded UINT8 tensor straight through `model`'s classifier."""
        tensor = InferInput(PIXELS_NAME, [1, *pixels.shape], "UINT8")
        tensor.set_data_from_numpy(pixels[np.newaxis])
        return await self._classify(model + CLASSIFIER_SUFFIX, tensor, request_id)

    async def _classify(self, model: str, tensor: InferInput, request_id: str) -> Classification:
        result = await self._infer(model, tensor, request_id)
        scores = result.as_numpy(OUTPUT_NAME)
        if scores is None or scores.shape != (1, len(LABELS)):
            shape = None if scores is None else scores.shape
            logger.error("model %s answered %s with shape %s", model, OUTPUT_NAME, shape)
            raise errors.InferenceFailed()
        if not self._versions_known:
            await self._first_versions()
        version = self.served_version(model, result.get_response().model_version)
        return to_classification(scores[0], version)

    async def _infer(self, model: str, tensor: InferInput, request_id: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        started = time.perf_counter()
        attempt = 0
        try:
            while True:
                try:
                    return await self.client.infer(
                        model,
                        [tensor],
                        request_id=request_id,
                        client_timeout=max(deadline - loop.time(), 0.001),
                    )
                except InferenceServerException as e:
                    error = triton_error(e)
                    delay_s = RETRY_DELAYS_S[attempt] if attempt < len(RETRY_DELAYS_S) else None
                    if (
                        not isinstance(error, RETRYABLE)
                        or delay_s is None
                        or loop.time() + delay_s >= deadline
                    ):
                        # Only the unexplained failure is logged loudly: the others are
                        # counted in metrics and would flood the log during an outage.
                        failed = isinstance(error, errors.InferenceFailed)
                        level = logging.WARNING if failed else logging.DEBUG
                        logger.log(level, "infer %s failed: %s", model, e)
                        raise error from e
                attempt += 1
                await asyncio.sleep(delay_s)
        finally:
            self._metrics.triton_seconds.labels(model).observe(time.perf_counter() - started)

    def served_version(self, model: str, reported: str) -> str:
        """The version answering for `model`: its classifier's, its own, or what Triton said."""
        versions = self._versions
        return versions.get(model + CLASSIFIER_SUFFIX) or versions.get(model) or reported

    async def refresh_versions(self) -> None:
        """Re-read the highest READY version of every model from the repository index."""
        index = await self.client.get_model_repository_index(client_timeout=PROBE_TIMEOUT_S)
        ready: dict[str, int] = {}
        for entry in index.models:
            if entry.state == "READY" and entry.version.isdigit():
                ready[entry.name] = max(ready.get(entry.name, 0), int(entry.version))
        # A model with no READY version keeps its last known one: it answers nothing meanwhile.
        self._versions = {**self._versions, **{name: str(v) for name, v in ready.items()}}
        self._versions_known = True

    async def _first_versions(self) -> None:
        # Until the poller's first success, fetch inline once, so no early answer is wrong.
        async with self._versions_lock:
            if self._versions_known:
                return
            try:
                await self.refresh_versions()
            except InferenceServerException as e:
                logger.warning("cannot read the model repository index: %s", e)

    async def poll_versions(self, interval_s: float = VERSION_POLL_S) -> None:
        """Refresh the served versions forever (a background task of the lifespan)."""
        failing = False
        while True:
            try:
                await self.refresh_versions()
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
        server, *ready = await asyncio.gather(
            self._probe(self.client.is_server_ready(client_timeout=PROBE_TIMEOUT_S)),
            *(
                self._probe(self.client.is_model_ready(name, client_timeout=PROBE_TIMEOUT_S))
                for name in names
            ),
        )
        return server, dict(zip(names, ready, strict=True))

    @staticmethod
    async def _probe(call: Any) -> bool:
        try:
            return bool(await call)
        except Exception:  # any failure to answer means "not ready"
            return False
