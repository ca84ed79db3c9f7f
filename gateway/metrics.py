"""Prometheus metrics of the gateway, one registry per app (tests build many apps).

Label names follow Prometheus' HTTP conventions: `code` is the HTTP status code (as in
promhttp's `http_requests_total`); the error's machine-readable code is the `reason` of
`healthcode_rejections_total`. With several worker processes, prometheus-client keeps samples in
PROMETHEUS_MULTIPROC_DIR and /metrics adds them up.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

# Seconds: a cheap refusal (~1 ms) up to the default request timeout.
LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# Bytes; a thumbnail, phone screenshots as JPEG/PNG (raw or base64), up to the 16 MiB default limit.
BODY_BUCKETS_BYTES = (1e3, 1e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 4e6, 8e6, 16e6)


class Metrics:
    """The gateway's counters and histograms."""

    def __init__(self, multiproc_dir: Path | None = None) -> None:
        self._multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "healthcode_requests",
            "Analysis requests by usage and HTTP status code.",
            ["usage", "code"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "healthcode_request_duration_seconds",
            "Analysis request latency in the gateway, first byte in to last byte out.",
            ["usage"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.triton_seconds = Histogram(
            "healthcode_triton_duration_seconds",
            "Latency of Triton infer calls, retries included.",
            ["model"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "healthcode_requests_in_flight",
            "Analysis requests being processed.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.rejections = Counter(
            "healthcode_rejections",
            "Requests answered with an error, by its code (unauthorized, overloaded, "
            "payload_too_large, invalid_base64, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.serving_version = Gauge(
            "healthcode_model_serving_version",
            "The version of each model that answers: its highest READY version in Triton.",
            ["model"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.version_failed = Gauge(
            "healthcode_model_version_failed",
            "1 for a version newer than the serving one that Triton lists UNAVAILABLE for a "
            "reason other than being unloaded: a load that failed (the previous one serves on).",
            ["model", "version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self._failed: set[tuple[str, str]] = set()
        self.closer_looks = Counter(
            "healthcode_closer_looks",
            "Closer looks, by outcome. At pages the first look refused: colour (the answer), "
            "code_colour (a decoded QR code inked in the colour the first look saw most: the "
            "answer), invalid, no_code (no code found), no_finder (a colour in a view, sharp or "
            "soft, where no QR finder squares were seen). At colours that are unsure or show no "
            "finder squares: confirmed (the colour stands), withdrawn (no code found), no_finder "
            "(a sharp view without finder squares): both answered invalid. failed: the first "
            "answer stood.",
            ["outcome"],
            registry=self.registry,
        )
        self.body_bytes = Histogram(
            "healthcode_request_body_bytes",
            "Bytes of analysis request bodies, as far as they were read.",
            ["usage"],
            buckets=BODY_BUCKETS_BYTES,
            registry=self.registry,
        )

    def model_versions(self, serving: dict[str, int], failed: set[tuple[str, str]]) -> None:
        """Record what Triton serves and which newer versions failed to load."""
        for model, version in serving.items():
            self.serving_version.labels(model).set(version)
        for key in self._failed - failed:  # fixed or removed: its series goes
            self.version_failed.remove(*key)
        for key in failed:
            self.version_failed.labels(*key).set(1)
        self._failed = failed

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition in the format the scraper asks for (Accept), and its content type."""
        encoder, content_type = choose_encoder(accept)
        registry = self.registry
        if self._multiproc_dir is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, str(self._multiproc_dir))  # type: ignore[no-untyped-call]
        return encoder(registry), content_type
