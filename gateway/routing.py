"""Which Triton model a usage calls: chosen once at start-up from settings.decode.

    decode=triton   IMAGE  BYTES [1, 1]      -> <family>             (the ensemble decodes)
    decode=gateway  PIXELS UINT8 [1, 3, H, W] -> <family>_classifier  (imaging.py ran here)

Either way the answer is SCORES FP32 [1, n_labels] and the version reported is the classifier's
(an ensemble's own version does not change when its classifier gets a new one). Readiness asks
for exactly the models the route calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
from tritonclient.grpc import InferInput

from gateway import errors
from gateway.decoder import Decoder
from gateway.repository import ModelFamily, labels
from gateway.settings import Settings

IMAGE_INPUT = "IMAGE"
PIXELS_INPUT = "PIXELS"
SCORES_OUTPUT = "SCORES"


@dataclass(frozen=True)
class ModelRoute:
    """What one usage calls in Triton, how its readiness is judged and whose version answers."""

    usage: str
    family: ModelFamily
    labels: tuple[str, ...]
    imaging: ModuleType  # the family's imaging.py: its header checks run here whoever decodes
    decoder: Decoder | None  # None: Triton decodes

    @property
    def model(self) -> str:
        return self.family.classifier if self.decoder else self.family.ensemble

    @property
    def ready_models(self) -> tuple[str, ...]:
        if self.decoder:
            return (self.family.classifier,)
        return (self.family.ensemble, self.family.preprocess, self.family.classifier)

    @property
    def version_model(self) -> str:
        return self.family.classifier

    def header(self, image: bytes) -> object:
        """imaging.py's Header of the image; its refusal (format, pixels) as a gateway error."""
        try:
            return self.imaging.read_header(image)
        except self.imaging.ImageError as e:
            raise errors.from_image_error(e.code, str(e).removeprefix(f"[{e.code}] ")) from e

    async def inputs(self, image: bytes) -> list[InferInput]:
        """The request tensors for one image (decoded here when the gateway decodes)."""
        if self.decoder is None:
            tensor = InferInput(IMAGE_INPUT, [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
            return [tensor]
        pixels = await self.decoder.tensor(image)
        tensor = InferInput(PIXELS_INPUT, [1, *pixels.shape], "UINT8")
        tensor.set_data_from_numpy(pixels[np.newaxis])
        return [tensor]


def make_routes(settings: Settings, imaging: dict[str, ModuleType]) -> dict[str, ModelRoute]:
    """One route per usage; the gateway decodes with each family's imaging.py when told to."""
    routes = {}
    decoders: dict[str, Decoder] = {}
    for usage, ensemble in settings.usages.items():
        family = ModelFamily(ensemble)
        decoder = None
        if settings.decode == "gateway":
            decoder = decoders.get(ensemble) or Decoder(imaging[ensemble], settings.decode_threads)
            decoders[ensemble] = decoder
        routes[usage] = ModelRoute(
            usage, family, labels(family, settings.model_repository), imaging[ensemble], decoder
        )
    return routes
