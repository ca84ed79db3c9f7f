"""What the app's endpoints share: its settings, usages, Triton connection and metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.metrics import Metrics
from gateway.routing import Usage
from gateway.settings import Settings
from gateway.triton_client import TritonClient


@dataclass(frozen=True)
class GatewayState:
    settings: Settings
    usages: Mapping[str, Usage]
    triton: TritonClient
    metrics: Metrics
