"""Async client for the healthcode REST API, on one pooled httpx.AsyncClient."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

CONTENT_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


@dataclass(frozen=True)
class Analysis:
    """A recognition result as the gateway reports it."""

    status: str
    confidence: float
    scores: dict[str, float]
    model_version: str
    request_id: str


class HealthCodeError(Exception):
    """The gateway answered with an error body."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code, self.code, self.message = status_code, code, message


class HealthCodeClient:
    def __init__(self, base_url: str = "http://127.0.0.1:8080", *, timeout_s: float = 30.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def __aenter__(self) -> HealthCodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def analyze(self, image: bytes | str | Path, usage: str = "health-code") -> Analysis:
        """Send one JPEG/PNG (bytes or a path) as a raw body and return the result."""
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        content_type = next(
            (ct for magic, ct in CONTENT_TYPES.items() if data.startswith(magic)),
            "application/octet-stream",
        )
        response = await self._http.post(
            f"/analysis/{usage}", content=data, headers={"content-type": content_type}
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise HealthCodeError(
                response.status_code,
                error.get("code", "invalid_response"),
                error.get("message", response.text[:200]),
            )
        return Analysis(
            status=body["status"],
            confidence=body["confidence"],
            scores=body["scores"],
            model_version=body["model_version"],
            request_id=body["request_id"],
        )
