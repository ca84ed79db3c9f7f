"""Triton's perf_analyzer against the health_code ensemble over gRPC, with real JPEG inputs.

    python -m benchmarks.perf [--grpc-url 127.0.0.1:8001] [--concurrency-range 1:9:4]   (make perf)

Without --grpc-url it starts `healthcode serve` on free ports. The perf_analyzer binary comes with
the tritonclient wheel; it needs libb64-0d (apt) and libcudart.so.12 (nvidia-cuda-runtime-cu12,
the bench extra). Writes benchmarks/results/<timestamp>-perf.csv and the inputs it used.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks import systems

RESULTS = Path(__file__).resolve().parent / "results"
MIX = ((720, 1600, 80), (1080, 2340, 95), (1440, 3200, 95))


def input_data(jpegs: list[bytes]) -> bytes:
    """perf_analyzer --input-data JSON: a BYTES element is b64(4-byte LE length + bytes)."""
    entries = [
        {"IMAGE": {"b64": base64.b64encode(struct.pack("<I", len(j)) + j).decode("ascii")}}
        for j in jpegs
    ]
    return orjson.dumps({"data": entries})


def sample_jpegs() -> list[bytes]:
    from training.render import LABELS as labels
    from training.render import render

    return [
        render(labels[i % 4], i, width=w, height=h, quality=q, fmt="jpeg")
        for i, (w, h, q) in enumerate(MIX)
    ]


def perf_analyzer() -> tuple[str, dict[str, str]]:
    """The binary and an environment in which it finds libcudart.so.12."""
    binary = shutil.which(
        "perf_analyzer", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    if binary is None:
        raise SystemExit("perf_analyzer not found: pip install 'tritonclient[grpc]==2.51.*'")
    env = dict(os.environ)
    spec = importlib.util.find_spec("nvidia.cuda_runtime")
    if spec and spec.submodule_search_locations:
        lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
        env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}".rstrip(":")
    return binary, env


def run(grpc_url: str, concurrency_range: str, out_csv: Path, inputs: Path) -> int:
    binary, env = perf_analyzer()
    cmd = [
        binary,
        "-m",
        "health_code",
        "-i",
        "grpc",
        "-u",
        grpc_url,
        "--input-data",
        str(inputs),
        "--concurrency-range",
        concurrency_range,
        "--measurement-interval",
        "3000",
        "--stability-percentage",
        "50",
        "--max-trials",
        "10",
        "-f",
        str(out_csv),
    ]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env, timeout=1800).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--grpc-url", help="a running Triton; default: start `healthcode serve`")
    p.add_argument("--concurrency-range", default="1:9:4", help="start:end:step")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    inputs = Path(tempfile.mkdtemp(prefix="hc-perf-")) / "inputs.json"  # ~1 MB: kept out of git
    inputs.write_bytes(input_data(sample_jpegs()))
    out_csv = args.out / f"{stamp}-perf.csv"
    with contextlib.ExitStack() as stack:
        grpc_url = args.grpc_url
        if grpc_url is None:
            log = Path(tempfile.mkdtemp(prefix="hc-perf-")) / "serve.log"
            grpc_url = stack.enter_context(systems.gateway_triton(log)).triton_grpc_url()
        rc = run(grpc_url, args.concurrency_range, out_csv, inputs)
    if rc == 0 and out_csv.exists():
        print(out_csv.read_text())
        print(f"wrote {out_csv}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
