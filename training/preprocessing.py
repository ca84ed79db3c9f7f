"""The serving preprocessing, loaded from the model repository: training runs the same code."""

from __future__ import annotations

from gateway.repository import project_imaging

imaging = project_imaging()
IMAGING_PATH = imaging.__file__
INPUT_SIZE: int = imaging.INPUT_SIZE
ImageError = imaging.ImageError
image_to_tensor = imaging.image_to_tensor
