"""The one settings class: environment variables prefixed HEALTHCODE_, validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import (
    AliasChoices,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway.repository import DEFAULT_FAMILY, PROJECT_REPOSITORY

Port = Annotated[int, Field(ge=1, le=65535)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTHCODE_", frozen=True)

    # --- The gateway
    host: str = "127.0.0.1"
    port: Port = 8080
    # Triton's gRPC target: "host:port", or several replicas as "dns:///service:8001" or
    # "ipv4:10.0.0.1:8001,10.0.0.2:8001", balanced round robin. Unset: the embedded server(s)
    # that `healthcode serve` starts on 127.0.0.1.
    triton_url: str | None = None
    # A long-lived channel keeps the replicas it first resolved: open a fresh one this often, so
    # that new replicas behind a dns:/// name take traffic (only for dns:/// targets).
    triton_reresolve_s: PositiveFloat = 10.0
    max_body_bytes: PositiveInt = 16 * 1024 * 1024
    request_timeout_s: PositiveFloat = 10.0
    # Analysis requests one gateway process handles at once; more get 503 overloaded before
    # their body is read. Bounds memory (max_in_flight bodies) and queueing: on 2 CPU cores
    # (~120 images/s) 128 waiting requests are about a second of work; raise it on a GPU.
    max_in_flight: PositiveInt = 128
    # Where images are decoded: "gateway" (a thread pool here, then a small tensor goes to the
    # classifier: one hop fewer, steadier latency on CPU-only machines) or "triton" (raw bytes go
    # to the ensemble; its preprocess step decodes: use it where Triton decodes on a GPU).
    decode: Literal["gateway", "triton"] = "gateway"
    decode_threads: PositiveInt | None = Field(None, description="default: one per CPU core")
    # Pixel limits refused with 413 image_too_large before a pixel is decoded; unset: imaging.py's
    # MAX_PIXELS (50 Mpx: JPEGs decode DCT-scaled) and MAX_PNG_PIXELS (16 Mpx: no scaled decode).
    # Triton's preprocess step holds imaging.py's own: raise those there too to raise these.
    max_image_pixels: PositiveInt | None = None
    max_png_pixels: PositiveInt | None = None
    # An image whose decode the header puts at this many CPU-ms or more (imaging.py's cost model:
    # big PNGs, progressive JPEGs) is decoded in the gateway's costly lane, one at a time, with at
    # most costly_lane_size of them admitted; more get 503 costly_image_busy. A phone screenshot
    # as PNG is ~30-55 ms, as JPEG ~5 ms.
    costly_decode_ms: PositiveFloat = 60.0
    costly_lane_size: PositiveInt = 2
    # ?read=time: the zone the shown time is read in, and how far from the request's arrival
    # it may be and still count as fresh.
    timezone: str = "Asia/Shanghai"
    fresh_within_s: PositiveFloat = 300.0
    # Per-client limits (API key, else client address): requests a second on average, in bursts
    # of rate_limit_burst; beyond, 429 rate_limited + Retry-After. Unset: no limit.
    rate_limit_per_s: PositiveFloat | None = None
    rate_limit_burst: PositiveInt = 20
    # `healthcode serve`'s gateway processes, sharing the port: each is one event loop and one
    # GIL, so one process cannot keep two cores busy (2 measured 28-31% more requests/s than 1
    # on the 2-core dev box: benchmarks/NOTES.md). Each has its own max_in_flight.
    workers: PositiveInt = 2
    # SIGTERM: in-flight requests get this long to finish before the processes are stopped.
    drain_timeout_s: PositiveFloat = 20.0
    # usage (URL path segment) -> the model families that may serve it, in preference order: an
    # ensemble name (its models are `<ensemble>_preprocess` and `<ensemble>_classifier`) or a
    # list of them; each request takes the first family Triton has fully loaded.
    usages: dict[str, list[str]] = {"health-code": [DEFAULT_FAMILY]}
    # Answer a colour only when its probability reaches this; below it the answer is "invalid"
    # (show the code again) and `decided_by` says "threshold". Unset: the classifier's own value,
    # `min_colour_probability` in its config.pbtxt, chosen on the calibration split at training.
    min_colour_probability: float | None = Field(None, ge=0.0, le=1.0)
    # A page the first look answers "invalid" is looked at again around its code, where the
    # family has a closer look (<family>_closer) READY: a small code in a photo gets a second
    # chance. Off: one look, one Triton call per request.
    closer_look: bool = True
    # Keys accepted on /analysis/* and /metrics (X-API-Key or Authorization: Bearer); empty:
    # no key needed. From the environment: comma-separated, or a JSON list. Never logged.
    api_keys: Annotated[frozenset[str], NoDecode] = Field(frozenset(), repr=False)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "json": one JSON object per line (for log shippers); "text": for people.
    log_format: Literal["text", "json"] = "text"
    # OpenTelemetry: the OTLP/HTTP collector (http://collector:4318); unset: no tracing at all.
    otlp_endpoint: str | None = None
    # The page at / for people to try the service; off in the compose and Kubernetes configs.
    try_page: bool = True
    # With several gateway worker processes, prometheus-client's own variable: where the workers
    # keep their samples so that /metrics can add them up.
    prometheus_multiproc_dir: Path | None = Field(
        None, validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
    )

    # --- Calls to Triton
    # Pauses between attempts when Triton or the model is unavailable (never for overload):
    # ~0.75 s in all rides over a Triton restart's reconnect or a model reload, within the deadline.
    retry_delays_s: tuple[NonNegativeFloat, ...] = (0.05, 0.1, 0.2, 0.4)
    probe_timeout_s: PositiveFloat = 1.0  # readiness probes and the repository index
    version_poll_s: PositiveFloat = 1.0  # how often the served model versions are re-read

    # --- The embedded Triton (`healthcode serve`)
    # The repository Triton serves; the gateway reads imaging.py and labels.txt from it.
    model_repository: Path = PROJECT_REPOSITORY
    triton_http_port: Port = 8000
    triton_grpc_port: Port = 8001
    triton_metrics_port: Port = 8002
    # Embedded Triton processes, all serving the one repository; replica i listens on the three
    # ports above plus i * triton_port_stride, and the gateway balances over them.
    triton_replicas: PositiveInt = 1
    triton_port_stride: PositiveInt = 10
    repository_poll_s: PositiveInt = 5
    triton_start_timeout_s: PositiveFloat = 120.0
    triton_log_verbose: int = Field(0, ge=0)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = orjson.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(k.strip() for k in value if isinstance(k, str) and k.strip())
        return value

    @field_validator("usages", mode="before")
    @classmethod
    def _families_as_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r}") from e
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _replica_ports_exist(self) -> Settings:
        highest = max(self.triton_ports(self.triton_replicas - 1))
        if highest > 65535:
            raise ValueError(f"replica ports run past 65535 ({highest}): lower the stride")
        return self

    def triton_ports(self, replica: int) -> tuple[int, int, int]:
        """(http, grpc, metrics) ports of embedded replica `replica` (0 is the first)."""
        offset = replica * self.triton_port_stride
        ports = (self.triton_http_port, self.triton_grpc_port, self.triton_metrics_port)
        http, grpc, metrics = (port + offset for port in ports)
        return http, grpc, metrics

    @property
    def triton_target(self) -> str:
        """The gRPC target the gateway calls: triton_url, else the embedded replica(s)."""
        if self.triton_url:
            return self.triton_url
        grpc = [f"127.0.0.1:{self.triton_ports(i)[1]}" for i in range(self.triton_replicas)]
        return grpc[0] if len(grpc) == 1 else "ipv4:" + ",".join(grpc)


@lru_cache
def get_settings() -> Settings:
    return Settings()
