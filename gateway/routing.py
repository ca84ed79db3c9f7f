"""Which Triton model a usage calls: chosen once at start-up from settings.decode.

    decode=triton   IMAGE  BYTES [1, 1]      -> <family>             (the ensemble decodes)
    decode=gateway  PIXELS UINT8 [1, 3, H, W] -> <family>_classifier  (imaging.py ran here)
    costly image    PIXELS UINT8 [1, 3, H, W] -> <family>_classifier  (the gateway's costly lane)

Either way the answer is SCORES FP32 [1, n_labels] and the version reported is the classifier's
(an ensemble's own version does not change when its classifier gets a new one). Readiness asks
for exactly the models the route calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tritonclient.grpc import InferInput

from gateway import errors
from gateway.admission import CostlyLane
from gateway.decoder import Decoder
from gateway.repository import ModelFamily, labels
from gateway.settings import Settings

IMAGE_INPUT = "IMAGE"
PIXELS_INPUT = "PIXELS"


@dataclass(frozen=True)
class ModelRoute:
    """What one usage calls in Triton, how its readiness is judged and whose version answers."""

    usage: str
    family: ModelFamily
    labels: tuple[str, ...]
    imaging: ModuleType  # the family's imaging.py: its header checks run here whoever decodes
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

    async def decode(self, image: bytes, header: Any) -> NDArray[np.uint8] | None:
        """The image's tensor when the gateway decodes it (costly lane, or its pool); None when
        the ensemble in Triton decodes it."""
        if header.decode_cost_ms() >= self.costly_decode_ms:
            return await self.lane.tensor(image)
        if self.decoder is not None:
            return await self.decoder.tensor(image)
        return None

    def close(self) -> None:
        """Stop the decode threads (shared ones may be closed twice: that is harmless)."""
        self.lane.close()
        if self.decoder is not None:
            self.decoder.close()


def image_inputs(image: bytes) -> list[InferInput]:
    """The ensemble's input: one image's encoded bytes."""
    tensor = InferInput(IMAGE_INPUT, [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
    return [tensor]


def pixels_inputs(batch: NDArray[np.uint8]) -> list[InferInput]:
    """The classifier's input: a batch of decoded tensors, [N, 3, H, W]."""
    tensor = InferInput(PIXELS_INPUT, list(batch.shape), "UINT8")
    tensor.set_data_from_numpy(batch)
    return [tensor]


def make_routes(settings: Settings, imaging: dict[str, ModuleType]) -> dict[str, ModelRoute]:
    """One route per usage; a family's decoders (pool and costly lane) serve all its usages."""
    routes = {}
    made: dict[str, tuple[Decoder | None, CostlyLane]] = {}
    for usage, ensemble in settings.usages.items():
        family, code = ModelFamily(ensemble), imaging[ensemble]
        if ensemble not in made:
            pool = Decoder(code, settings.decode_threads) if settings.decode == "gateway" else None
            made[ensemble] = pool, CostlyLane(code, settings.costly_lane_size)
        decoder, lane = made[ensemble]
        routes[usage] = ModelRoute(
            usage=usage,
            family=family,
            labels=labels(family, settings.model_repository),
            imaging=code,
            decoder=decoder,
            lane=lane,
            costly_decode_ms=settings.costly_decode_ms,
            max_image_pixels=settings.max_image_pixels or code.MAX_PIXELS,
            max_png_pixels=settings.max_png_pixels or code.MAX_PNG_PIXELS,
        )
    return routes
