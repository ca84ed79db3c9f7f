"""The replaced service, rebuilt faithfully as the baseline: the model runs inside the web process.

POST /analysis/{usage} with a pydantic {"base64": str} body; a full-size Pillow decode, a resize to
the model's letterbox, and the same ONNX classifier on onnxruntime, all in the request handler.
Two forms, as the seed benchmarked them:

    uvicorn benchmarks.old_service:async_app --workers N   # `async def` handler (blocks the loop)
    uvicorn benchmarks.old_service:sync_app --workers N    # `def` handler (runs in the threadpool)

OLD_SERVICE_MODEL overrides the model path.
"""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache

import numpy as np
from fastapi import FastAPI, HTTPException
from PIL import Image
from pydantic import BaseModel

from gateway.repository import (
    DEFAULT_FAMILY,
    PROJECT_REPOSITORY,
    ModelFamily,
    project_imaging,
    project_labels,
    versions,
)

_FAMILY = ModelFamily(DEFAULT_FAMILY)
_CLASSIFIER = PROJECT_REPOSITORY / _FAMILY.classifier
MODEL = _CLASSIFIER / str(versions(_CLASSIFIER)[-1]) / "model.onnx"  # the newest classifier
LABELS = project_labels()
(_, HEIGHT, WIDTH), PAD = project_imaging().INPUT_SHAPE, project_imaging().PAD_VALUE


class Base64(BaseModel):
    base64: str


@lru_cache
def session():  # onnxruntime imported lazily: the harness itself needs no model
    import onnxruntime

    return onnxruntime.InferenceSession(
        os.environ.get("OLD_SERVICE_MODEL", str(MODEL)), providers=["CPUExecutionProvider"]
    )


def base64_to_image(data: str) -> Image.Image:
    """What the old service did: decode every pixel of the screenshot."""
    try:
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    except Exception as e:
        raise HTTPException(400, "not an image") from e


def to_tensor(img: Image.Image) -> np.ndarray:
    """Resize the full-size image into the model's letterbox (same geometry as imaging.py)."""
    scale = min(HEIGHT / img.height, WIDTH / img.width)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    small = img.resize((w, h), Image.Resampling.BILINEAR)
    canvas = np.full((HEIGHT, WIDTH, 3), PAD, dtype=np.uint8)
    top, left = (HEIGHT - h) // 2, (WIDTH - w) // 2
    canvas[top : top + h, left : left + w] = np.asarray(small)
    return canvas.transpose(2, 0, 1)[None]


def detect(usage: str, img: Image.Image) -> dict:
    if usage != "health-code":
        raise HTTPException(404, f"unknown usage {usage}")
    scores = session().run(["SCORES"], {"PIXELS": to_tensor(img)})[0][0]
    best = int(np.argmax(scores))
    return {
        "usage": usage,
        "status": LABELS[best],
        "confidence": float(scores[best]),
        "scores": {label: float(s) for label, s in zip(LABELS, scores, strict=True)},
    }


async_app = FastAPI(title="old health-code service (async def)")
sync_app = FastAPI(title="old health-code service (def)")


@async_app.post("/analysis/{usage}")
async def detect_image_async(usage: str, json: Base64) -> dict:
    img = base64_to_image(json.base64)
    return detect(usage, img)


@sync_app.post("/analysis/{usage}")
def detect_image_sync(usage: str, json: Base64) -> dict:
    img = base64_to_image(json.base64)
    return detect(usage, img)


@async_app.get("/healthz")
@sync_app.get("/healthz")
def healthz() -> dict:
    session()  # warm: the first request should not pay for loading the model
    return {"ok": True}
