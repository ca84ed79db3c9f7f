"""Dependency aliases for route signatures: the app's Settings, Triton wrapper and decoder.

The getters are `async def` although they never await: FastAPI runs a plain `def` dependency in
its thread pool, a thread hand-off per dependency per request (measured in benchmarks/NOTES.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.inference import Triton
from gateway.metrics import Metrics
from gateway.preprocess import Decoder
from gateway.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_triton(request: Request) -> Triton:
    return request.app.state.triton


async def get_decoder(request: Request) -> Decoder | None:
    return request.app.state.decoder


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
TritonDep = Annotated[Triton, Depends(get_triton)]
DecoderDep = Annotated[Decoder | None, Depends(get_decoder)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
