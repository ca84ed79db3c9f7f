"""POST /analysis/{usage}: one image in, its classification out. The request path, top to bottom.

Called by gateway.middleware (which has already authorised, counted and admitted the request) with
the request's scope and receive; returns the JSON body of the 200 answer or raises a GatewayError.

    usage -> ModelRoute -> media type -> body (size, time) -> image bytes (JSON/base64 or raw)
          -> imaging.py's header checks and cost -> decoded here (pool or costly lane) or in
          Triton -> scores -> answer -> (refused: the closer look in Triton -> a colour?
                                            unsure colour, or a colour whose first look shows no
                                            QR finder squares: the closer look -> a code?)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import orjson
from numpy.typing import NDArray

from gateway import errors, payload, time_reading
from gateway.classification import (
    INVALID,
    Classification,
    CloserLookRule,
    Look,
    after_closer_look,
    classify,
    ink_status,
)
from gateway.metrics import Metrics
from gateway.routing import ModelRoute, Usage, closer_inputs, image_inputs, pixels_inputs
from gateway.settings import Settings
from gateway.tracing import Tracer
from gateway.triton_client import TritonClient

logger = logging.getLogger(__name__)

ANALYSIS_PREFIX = "/analysis/"
UNKNOWN_USAGE = "unknown"  # the metrics label of every usage that is not configured


def wants_time(query: bytes) -> bool:
    """Whether the query string asks for `read=time`; 422 for another `read`."""
    # Blank values kept: `?read=` is a read of nothing, not an absent `read`.
    values = parse_qs(query.decode("latin-1"), keep_blank_values=True).get("read", [])
    if any(value != "time" for value in values):
        raise errors.InvalidRequest("read must be time (the only thing read besides the status)")
    return bool(values)


class Analysis:
    """The analysis endpoint over the app's routes and Triton connection."""

    def __init__(
        self,
        usages: Mapping[str, Usage],
        triton: TritonClient,
        settings: Settings,
        tracer: Tracer,
        metrics: Metrics,
    ) -> None:
        self.usages = usages
        self.metrics = metrics
        self.closer_look = settings.closer_look
        self.triton = triton
        self.tracer = tracer
        self.max_body_bytes = settings.max_body_bytes
        self.timeout_s = settings.request_timeout_s
        self.min_colour_probability = settings.min_colour_probability
        self.timezone = settings.timezone
        self.fresh_within_s = settings.fresh_within_s

    def usage_label(self, path: str) -> str | None:
        """The usage label of an analysis path for metrics and logs (None for other paths)."""
        if not path.startswith(ANALYSIS_PREFIX):
            return None
        usage = path[len(ANALYSIS_PREFIX) :]
        # Only configured usages become label values: clients must not grow the label set.
        return usage if usage in self.usages else UNKNOWN_USAGE

    async def __call__(
        self,
        path: str,
        query: bytes,
        content_type: str,
        declared: int | None,
        receive: payload.Receive,
        request_id: str,
    ) -> bytes:
        arrived_s = time.time()
        usage = path[len(ANALYSIS_PREFIX) :]
        if usage not in self.usages:
            raise errors.UnknownUsage(f"unknown usage {usage[:64]!r}; known: {sorted(self.usages)}")
        route = self.usages[usage].route(self.triton.ready_models)
        read_time = wants_time(query)
        kind = payload.check_media_type(content_type)
        with self.tracer.span("parse"):
            raw = await payload.read_body(receive, declared, self.max_body_bytes, self.timeout_s)
            image = payload.image_bytes(kind, raw)
            header = route.header(image)
        shown = asyncio.create_task(self._time(image, arrived_s, request_id)) if read_time else None
        try:
            with self.tracer.span("decode"):
                pixels = await route.decode(image, header)
            if pixels is None:
                model, inputs = route.family.ensemble, image_inputs(image)
            else:
                model, inputs = route.family.classifier, pixels_inputs(pixels[np.newaxis])
            scores, reported, finders = await self.triton.scores(model, inputs, 1, request_id)
        except BaseException:
            if shown is not None:
                shown.cancel()
            raise
        row = scores[0]
        if len(row) != len(route.labels):
            logger.error("%s answered %d scores for %d labels", usage, len(row), len(route.labels))
            raise errors.InferenceFailed()
        served = await self.triton.served(route.version_model)
        threshold = self.min_colour_probability
        if threshold is None:
            threshold = served.min_colour_probability
        answer = classify(row, route.labels, served.version or reported, threshold)
        code_box, rule = None, served.closer_look
        # A costly image gets one look: a second decode in Triton would escape the costly lane.
        if (
            rule is not None
            and not route.costly(header)
            and self._closer_look_ready(route)
            and rule.applies(answer, await self._finder(route, rule, answer, pixels, finders))
        ):
            answer, code_box = await self._closer(route, image, answer, rule, request_id)
        self.tracer.annotate(status=answer.status, model_version=answer.model_version)
        body: dict[str, Any] = {
            "usage": usage,
            "status": answer.status,
            "confidence": answer.confidence,
            "scores": answer.scores,
            "model_version": answer.model_version,
            "decided_by": answer.decided_by,
            "request_id": request_id,
        }
        if code_box is not None:
            body["code_box"] = code_box
        if shown is not None:
            reading = await shown
            body["time"] = None if answer.status == INVALID else reading
        return orjson.dumps(body)

    async def _finder(
        self,
        route: ModelRoute,
        rule: CloserLookRule,
        answer: Classification,
        pixels: NDArray[np.uint8] | None,
        finders: NDArray[np.bool_] | None,
    ) -> bool | None:
        """Whether the first look's tensor shows QR finder squares, where the rule asks (a
        colour, a rule with the finder check): Triton's preprocess step said so, or the tensor
        decoded here is checked (only now, so that refused pages pay nothing). None: not known."""
        if answer.status == INVALID or rule.min_sharpness_without_finder is None:
            return None
        if finders is not None:
            return bool(finders[0])
        return None if pixels is None else await route.shows_finder(pixels)

    def _closer_look_ready(self, route: ModelRoute) -> bool:
        """Whether a closer look can be taken: the setting on and the closer look READY."""
        ready = self.triton.ready_models
        return self.closer_look and ready is not None and route.family.closer in ready

    async def _closer(
        self,
        route: ModelRoute,
        image: bytes,
        first: Classification,
        rule: CloserLookRule,
        request_id: str,
    ) -> tuple[Classification, list[float] | None]:
        """The answer after a closer look (classification.after_closer_look) and the code's box,
        as fractions of the upright image (None: no code found). A closer look that fails, or
        finds Triton too busy, leaves the first answer: it was a valid answer already."""
        with self.tracer.span("closer_look"):
            try:
                model = route.family.closer
                inputs = closer_inputs(image, rule.needs_ink(first), first.status != INVALID)
                result = await self.triton.infer(model, inputs, request_id)
            except errors.GatewayError as e:
                logger.debug("closer look failed: %s", e.code)
                self.metrics.closer_looks.labels("failed").inc()
                return first, None
        scores, box = result.as_numpy("SCORES"), result.as_numpy("BOX")
        if scores is None or box is None or scores.shape != (1, len(route.labels)):
            logger.error("%s answered SCORES %s, BOX %s", route.family.closer, scores, box)
            self.metrics.closer_looks.labels("failed").inc()
            return first, None
        found = bool(box.any())
        # The view's finder check and the page's code's ink; a closer look model without them:
        # not known.
        finder, sharpness = result.as_numpy("FINDER"), result.as_numpy("SHARPNESS")
        ink, blurred = result.as_numpy("INK"), result.as_numpy("BLURRED")
        look = Look(
            scores[0],
            found,
            None if finder is None else bool(finder.reshape(-1)[0]),
            0.0 if sharpness is None else float(sharpness.reshape(-1)[0]),
            None if ink is None or ink.size != 3 else ink_status(ink.reshape(-1)),
            blurred is not None and bool(blurred.reshape(-1)[0]),
        )
        answer, outcome = after_closer_look(first, rule, look, route.labels)
        self.metrics.closer_looks.labels(outcome).inc()
        # A blurred code's box is the code's only where it kept a colour.
        shown = found and not (look.blurred and answer.status == INVALID)
        return answer, [round(float(v), 4) for v in box[0]] if shown else None

    async def _time(self, image: bytes, arrived_s: float, request_id: str) -> Any:
        """The `time` object of `?read=time`: what health_code_time read, placed in time."""
        with self.tracer.span("read_time"):
            result = await self.triton.infer(time_reading.MODEL, image_inputs(image), request_id)
        return time_reading.from_result(result, arrived_s, self.timezone, self.fresh_within_s)
