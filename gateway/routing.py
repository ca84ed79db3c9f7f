"""Which Triton model a usage calls: its model family, and within it the model, by decode place.

    decode=triton   IMAGE  BYTES [1, 1]      -> <family>             (the ensemble decodes)
    decode=gateway  PIXELS UINT8 [1, 3, H, W] -> <family>_classifier  (imaging.py ran here)
    costly image    PIXELS UINT8 [1, 3, H, W] -> <family>_classifier  (the gateway's costly lane)

Either way the answer is SCORES FP32 [1, n_labels] and the version reported is the classifier's
(an ensemble's own version does not change when its classifier gets a new one). Readiness asks
for exactly the models a route calls.

A usage lists its families in preference order (HEALTHCODE_USAGES); each request goes to the
first whose models Triton has READY. That is how a model with a new input (a preprocessing and a
classifier that must change together) arrives with no request lost: publish it as a new family
that the usage prefers; the gateway moves over once Triton has loaded all of it, and the old
family can then be removed (README "Update the model").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway import errors
from gateway.admission import CostlyLane
from gateway.decoder import Decoder
from gateway.infer_request import Input
from gateway.repository import ModelFamily, labels, load_imaging, load_locator
from gateway.settings import Settings

IMAGE_INPUT = "IMAGE"
PIXELS_INPUT = "PIXELS"
READ_INK_INPUT = "READ_INK"  # the closer look's optional flag: read the code's ink
CHECK_COLOUR_INPUT = "CHECK_COLOUR"  # ... and another: it checks a colour (look for blurred codes)


@dataclass(frozen=True)
class ModelRoute:
    """What a family's requests call in Triton, how readiness is judged, whose version answers."""

    family: ModelFamily
    labels: tuple[str, ...]
    imaging: ModuleType  # the family's imaging.py: its header checks run here whoever decodes
    locator: ModuleType | None  # its code_locator.py: the finder check of a tensor decoded here
    decoder: Decoder | None  # None: Triton decodes
    lane: CostlyLane  # where images that are costly to decode are decoded
    costly_decode_ms: float
    max_image_pixels: int
    max_png_pixels: int

    @property
    def ready_models(self) -> tuple[str, ...]:
        if self.decoder:
            return (self.family.classifier,)
        return (self.family.ensemble, self.family.preprocess, self.family.classifier)

    @property
    def version_model(self) -> str:
        return self.family.classifier

    def header(self, image: bytes) -> Any:
        """imaging.py's Header of the image; its refusal (format, pixels) as a gateway error."""
        try:
            return self.imaging.read_header(image, self.max_image_pixels, self.max_png_pixels)
        except self.imaging.ImageError as e:
            raise errors.from_image_error(e.code, str(e).removeprefix(f"[{e.code}] ")) from e

    def costly(self, header: Any) -> bool:
        """Whether the image is costly to decode: its one decode goes to the costly lane."""
        return bool(header.decode_cost_ms() >= self.costly_decode_ms)

    async def decode(self, image: bytes, header: Any) -> NDArray[np.uint8] | None:
        """The image's tensor when the gateway decodes it (costly lane, or its pool); None when
        the ensemble in Triton decodes it."""
        if self.costly(header):
            return await self.lane.tensor(image)
        if self.decoder is not None:
            return await self.decoder.tensor(image)
        return None

    async def shows_finder(self, pixels: NDArray[np.uint8]) -> bool | None:
        """The first look's finder check (code_locator.first_look_shows_finder) of a tensor
        decoded here, off the event loop; None where the family has no code_locator.py."""
        if self.locator is None:
            return None
        # A family published before stop 63 has only shows_finder, which counts one-finder finds.
        check = getattr(self.locator, "first_look_shows_finder", self.locator.shows_finder)
        return bool(await asyncio.to_thread(check, pixels))

    def close(self) -> None:
        """Stop the decode threads and the costly lane's process."""
        self.lane.close()
        if self.decoder is not None:
            self.decoder.close()


def image_inputs(image: bytes) -> list[Input]:
    """The ensemble's input: one image's encoded bytes."""
    return [Input.image(IMAGE_INPUT, image)]


def closer_inputs(image: bytes, read_ink: bool, check_colour: bool) -> list[Input]:
    """The closer look's inputs: the image, whether to read its code's ink, and whether the look
    checks a colour the first look answered."""
    return [
        Input.image(IMAGE_INPUT, image),
        Input.array(READ_INK_INPUT, np.array([[read_ink]])),
        Input.array(CHECK_COLOUR_INPUT, np.array([[check_colour]])),
    ]


def pixels_inputs(batch: NDArray[np.uint8]) -> list[Input]:
    """The classifier's input: a batch of decoded tensors, [N, 3, H, W]."""
    return [Input.array(PIXELS_INPUT, batch)]


class Usage:
    """A usage's families in preference order; each request takes the first Triton serves."""

    def __init__(self, name: str, families: list[ModelFamily], routes: RouteMaker) -> None:
        self.name = name
        self.families = families
        self._routes = routes
        if not any(routes.make(family) for family in families):
            raise FileNotFoundError(
                f"usage {name!r}: none of {[f.ensemble for f in families]} is in "
                f"{routes.settings.model_repository}"
            )

    def route(self, ready: frozenset[str] | None) -> ModelRoute:
        """The route of the first family whose models are all in `ready` (None: not known yet)."""
        fallback = None
        for family in self.families:
            route = self._routes.get(family)
            if route is None and ready is not None and family.classifier in ready:
                route = self._routes.make(family)  # published since start-up: load it now
            if route is None:
                continue
            if ready is None or ready.issuperset(route.ready_models):
                return route
            fallback = fallback or route
        assert fallback is not None, "__init__ checked that one family is here"
        return fallback  # none ready: its calls fail (and are retried) as they would


class RouteMaker:
    """Builds each family's route once, from the gateway's copy of the model repository."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._routes: dict[str, ModelRoute] = {}

    def get(self, family: ModelFamily) -> ModelRoute | None:
        return self._routes.get(family.ensemble)

    def make(self, family: ModelFamily) -> ModelRoute | None:
        """The family's route; None while its imaging.py or labels.txt is not in the repository."""
        if family.ensemble in self._routes:
            return self._routes[family.ensemble]
        settings = self.settings
        try:
            code = load_imaging(family, settings.model_repository)
            names = labels(family, settings.model_repository)
        except FileNotFoundError:
            return None
        decoder = Decoder(code, settings.decode_threads) if settings.decode == "gateway" else None
        route = self._routes[family.ensemble] = ModelRoute(
            family=family,
            labels=names,
            imaging=code,
            locator=load_locator(family, settings.model_repository),
            decoder=decoder,
            lane=CostlyLane(code, settings.costly_lane_size),
            costly_decode_ms=settings.costly_decode_ms,
            max_image_pixels=settings.max_image_pixels or code.MAX_PIXELS,
            max_png_pixels=settings.max_png_pixels or code.MAX_PNG_PIXELS,
        )
        return route

    def made(self) -> list[ModelRoute]:
        return list(self._routes.values())

    def close(self) -> None:
        for route in self.made():
            route.close()


def make_usages(settings: Settings) -> tuple[dict[str, Usage], RouteMaker]:
    """Every configured usage, and the route maker they share (close() it at shutdown)."""
    routes = RouteMaker(settings)
    usages = {
        name: Usage(name, [ModelFamily(f) for f in families], routes)
        for name, families in settings.usages.items()
    }
    return usages, routes
