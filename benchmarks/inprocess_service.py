"""The strongest simple peer: one FastAPI app with the model in-process, done well.

What a careful engineer would build instead of gateway+Triton, and what the Triton design must
beat on a CPU-only box: orjson + strict pybase64 on the raw body, the model repository's own
DCT-scaled decode (imaging.py), the same ONNX classifier on onnxruntime with one thread and no
spinning, all CPU work in the threadpool so the event loop keeps serving. No batching.

    uvicorn benchmarks.inprocess_service:app --workers N
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import orjson
import pybase64
from fastapi import FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from benchmarks.old_service import LABELS, MODEL
from gateway.repository import project_imaging

imaging = project_imaging()


@lru_cache
def session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])


def classify(image: bytes) -> dict:
    try:
        pixels = imaging.image_to_tensor(image)
    except imaging.ImageError as e:
        raise HTTPException(400, e.code) from e
    scores = session().run(["SCORES"], {"PIXELS": pixels[np.newaxis]})[0][0]
    best = int(np.argmax(scores))
    return {
        "status": LABELS[best],
        "confidence": float(scores[best]),
        "scores": dict(zip(LABELS, scores.tolist(), strict=True)),
    }


app = FastAPI(title="in-process health-code service (peer)")


@app.post("/analysis/{usage}")
async def analyze(usage: str, request: Request) -> Response:
    if usage != "health-code":
        raise HTTPException(404, "unknown usage")
    try:
        image = pybase64.b64decode(orjson.loads(await request.body())["base64"], validate=True)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise HTTPException(400, "bad body") from e
    result = await run_in_threadpool(classify, image)
    return Response(orjson.dumps({"usage": usage, **result}), media_type="application/json")


@app.get("/healthz")
def healthz() -> dict:
    session()  # warm: the first request should not pay for loading the model
    return {"ok": True}
