"""Dependency aliases for route signatures: the app's Settings and Triton wrapper."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.inference import Triton
from gateway.metrics import Metrics
from gateway.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_triton(request: Request) -> Triton:
    return request.app.state.triton


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
TritonDep = Annotated[Triton, Depends(get_triton)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
