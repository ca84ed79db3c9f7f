"""Dependency aliases for route signatures: the app's Settings, Triton wrapper and decoder."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.inference import Triton
from gateway.metrics import Metrics
from gateway.preprocess import Decoder
from gateway.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_triton(request: Request) -> Triton:
    return request.app.state.triton


def get_decoder(request: Request) -> Decoder | None:
    return request.app.state.decoder


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
TritonDep = Annotated[Triton, Depends(get_triton)]
DecoderDep = Annotated[Decoder | None, Depends(get_decoder)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
