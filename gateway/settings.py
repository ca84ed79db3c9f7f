"""The one settings class: environment variables prefixed HEALTHCODE_, validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, PositiveFloat, PositiveInt, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTHCODE_", frozen=True)

    # Gateway
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    triton_url: str = Field("127.0.0.1:8001", description="Triton gRPC address, host:port")
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
    # SIGTERM: in-flight requests get this long to finish before the processes are stopped.
    drain_timeout_s: PositiveFloat = 20.0
    # usage (URL path segment) -> Triton model name
    usages: dict[str, str] = {"health-code": "health_code"}
    # Keys accepted on /analysis/* and /metrics (X-API-Key or Authorization: Bearer); empty:
    # no key needed. From the environment: comma-separated, or a JSON list. Never logged.
    api_keys: Annotated[frozenset[str], NoDecode] = Field(frozenset(), repr=False)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "json": one JSON object per line (for log shippers); "text": for people.
    log_format: Literal["text", "json"] = "text"

    # Embedded Triton (launcher)
    model_repository: Path = REPO_ROOT / "model_repository"
    triton_http_port: int = Field(8000, ge=1, le=65535)
    triton_grpc_port: int = Field(8001, ge=1, le=65535)
    triton_metrics_port: int = Field(8002, ge=1, le=65535)
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
