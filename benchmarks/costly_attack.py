"""Cheap to send, expensive to decode: an ordinary client's latency while others send costly images.

    python -m benchmarks.costly_attack [--url http://127.0.0.1:8080] [--seconds 15] [--json]

Without --url it starts `healthcode serve` on free ports. The attack is the one seen in issue 16:
8 clients (`healthcode bench`, another process) sending costly images in a loop, while one
ordinary client sends the committed 273 KB screenshot one request after another. It reports the
ordinary client's latency alone and under attack, and what the attackers were answered.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from PIL import Image

from benchmarks.systems import seed_jpeg
from gateway.local_service import run_local_service

URL_PATH = "/analysis/health-code"


def attack_images() -> dict[str, bytes]:
    """One flat colour at phone-screen-breaking sizes: tiny bodies, costly decodes."""
    flat = Image.new("RGB", (7000, 7000), (0, 170, 80))
    out: dict[str, bytes] = {}
    for name, img, kwargs in (
        ("png-49mpx", flat, {"format": "PNG"}),  # the attack of issue 16: 160 KB, 49 Mpx
        ("png-16mpx", flat.crop((0, 0, 4000, 4000)), {"format": "PNG"}),
        ("progressive-jpeg-49mpx", flat, {"format": "JPEG", "progressive": True}),
    ):
        buffer = io.BytesIO()
        img.save(buffer, **kwargs)
        out[name] = buffer.getvalue()
    return out


def ordinary_latencies_ms(url: str, image: bytes, seconds: float, max_requests: int) -> list[float]:
    """One client, one request after another, for `seconds` (and at most `max_requests`)."""
    latencies = []
    end = time.monotonic() + seconds
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < end and len(latencies) < max_requests:
            began = time.perf_counter()
            response = http.post(url, content=image, headers={"content-type": "image/jpeg"})
            latencies.append((time.perf_counter() - began) * 1e3)
            if response.status_code != 200:
                raise AssertionError(f"the ordinary client got {response.status_code}")
    return latencies


@contextlib.contextmanager
def attackers(url: str, folder: Path, seconds: float, clients: int = 8) -> Iterator[dict[str, Any]]:
    """`healthcode bench` sending the costly images in a loop; its JSON summary when done."""
    summary: dict[str, Any] = {}
    bench = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clients.cli",
            "bench",
            str(folder),
            "--url",
            url.removesuffix(URL_PATH),
            "--body",
            "raw",
            "-c",
            str(clients),
            "-n",
            "1000000",
            "--duration",
            str(seconds),
            "--json",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield summary
    finally:
        out, _ = bench.communicate(timeout=seconds + 60)
        summary.update(orjson.loads(out))


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def run(url: str, seconds: float) -> dict[str, Any]:
    """The ordinary client alone, then under attack; both summaries and the attack's answers."""
    image = seed_jpeg()
    ordinary_latencies_ms(url, image, 2, 20)  # warm-up
    alone = ordinary_latencies_ms(url, image, seconds / 3, 500)
    with tempfile.TemporaryDirectory() as folder:
        for name, data in attack_images().items():
            (Path(folder) / f"{name}.{'png' if 'png' in name else 'jpg'}").write_bytes(data)
        with attackers(url, Path(folder), seconds) as attack:
            time.sleep(1)  # the attack is running
            loaded = ordinary_latencies_ms(url, image, seconds - 2, 5000)
    return {
        "alone_ms": {"p50": percentile(alone, 50), "p99": percentile(alone, 99), "n": len(alone)},
        "under_attack_ms": {
            "p50": percentile(loaded, 50),
            "p99": percentile(loaded, 99),
            "n": len(loaded),
        },
        "attack": {
            "requests": attack["complete"],
            "failed": attack["failed"],
            "statuses": {"200": attack["ok"], **attack["statuses"]},
            "503_with_retry_after": attack["retry_after_503"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running gateway; default: start `healthcode serve`")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        base = args.url
        if base is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            base = stack.enter_context(run_local_service(root, own_repository=False)).base_url
        result = run(base.rstrip("/") + URL_PATH, args.seconds)
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        alone, loaded = result["alone_ms"], result["under_attack_ms"]
        print(f"ordinary client alone:        p50 {alone['p50']:.1f} ms, p99 {alone['p99']:.1f} ms")
        print(
            f"ordinary client under attack: p50 {loaded['p50']:.1f} ms, p99 {loaded['p99']:.1f} ms"
            f" ({loaded['p50'] / alone['p50']:.1f}x, {loaded['p99'] / alone['p99']:.1f}x)"
        )
        print(f"attack answers: {result['attack']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
