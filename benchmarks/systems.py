"""The systems under test, started on free 127.0.0.1 ports, plus the seed payload and `ab`."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from gateway.local_service import LocalService, free_port, run_local_service
from gateway.repository import project_imaging
from gateway.waiting import NotReady, wait_until_ok

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180


SEED_JPEG = Path(__file__).resolve().parent / "data" / "seed-1440x3200.jpg"


def seed_jpeg() -> bytes:
    """The benchmark payload: a 1440x3200 synthetic green-code screenshot, 273 KB like the seed's.

    A committed file, not a fresh render: results stay comparable when the renderer changes.
    """
    return SEED_JPEG.read_bytes()


@contextlib.contextmanager
def process(
    cmd: list[str], env: dict, ready_url: str, log: Path, cwd: Path = REPO
) -> Iterator[subprocess.Popen]:
    """cmd in a session of its own, once ready_url answers 200; SIGTERM (then SIGKILL) after."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )
    try:
        alive = lambda: proc.poll() is None  # noqa: E731
        try:
            asyncio.run(wait_until_ok([ready_url], START_TIMEOUT_S, alive))
        except NotReady as e:
            raise RuntimeError(f"{e}\n{log.read_text(errors='replace')[-3000:]}") from e
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: uvicorn workers included
            proc.wait()


@contextlib.contextmanager
def uvicorn_app(app: str, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """A baseline app ("module:attribute") under uvicorn with N workers: (url, pid)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    base = f"http://127.0.0.1:{port}"
    with process(cmd, dict(os.environ), f"{base}/healthz", log) as proc:
        for _ in range(workers * 4):  # load the model in every worker before measuring
            httpx.get(f"{base}/healthz", timeout=30)
        yield base, proc.pid


@contextlib.contextmanager
def gateway_triton(log: Path, **settings: str) -> Iterator[LocalService]:
    """`healthcode serve` (embedded Triton + gateway) on free ports; kwargs are more settings."""
    with run_local_service(log.parent, own_repository=False, log=log, **settings) as service:
        yield service


_AB_FIELDS = {
    "complete": r"Complete requests:\s+(\d+)",
    "failed": r"Failed requests:\s+(\d+)",
    "non_2xx": r"Non-2xx responses:\s+(\d+)",
    "requests_per_s": r"Requests per second:\s+([\d.]+)",
    "elapsed_s": r"Time taken for tests:\s+([\d.]+)",
}


def run_ab(
    url: str,
    body_file: Path,
    n: int = 200,
    c: int = 20,
    timeout_s: int = 600,
    content_type: str = "application/json",
) -> dict:
    """The seed's command, `ab -n 200 -c 20 -p health.json -T application/json`, parsed."""
    if shutil.which("ab") is None:
        raise FileNotFoundError("ab is not installed: `make ab` installs Debian's apache2-utils")
    cmd = [
        "ab",
        "-n",
        str(n),
        "-c",
        str(c),
        "-s",
        "120",
        "-p",
        str(body_file),
        "-T",
        content_type,
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s).stdout
    result: dict = {"command": " ".join([*cmd[:-1], "URL"])}
    for key, pattern in _AB_FIELDS.items():
        m = re.search(pattern, out)
        result[key] = float(m.group(1)) if m else 0.0
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\d+)", out, re.M))
    result["latency_ms"] = {f"p{p}": float(pct.get(p, "nan")) for p in ("50", "90", "99")}
    result["latency_ms"]["max"] = float(pct.get("100", "nan"))
    return result


# The body is read by wrk's script, not passed through a shell.
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
"""
_WRK_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def run_wrk(
    url: str, body_file: Path, seconds: int, c: int = 20, content_type: str = "application/json"
) -> dict:
    """POSTs for `seconds` from `c` HTTP/1.1 connections kept open (wrk), in run_ab's shape.

    ab speaks HTTP/1.0, and uvicorn closes an HTTP/1.0 connection after each answer, so under ab
    every request also costs the server a TCP connection; HTTP/1.1 clients (httpx, browsers, a
    load balancer's upstream pool) keep theirs. wrk runs for a time, not a count (a script that
    stops its thread early still waits out the duration).
    """
    if shutil.which("wrk") is None:
        raise FileNotFoundError("wrk is not installed: `make wrk` installs Debian's wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_WRK_SCRIPT.format(content_type=content_type, body=body_file.resolve()))
        script.flush()
        cmd = ["wrk", "-t1", f"-c{c}", f"-d{max(1, seconds)}s", "--timeout", "120s", "--latency"]
        cmd += ["-s", script.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 150).stdout
    result = parse_wrk(out)
    result["command"] = " ".join([*cmd[:-3], "SCRIPT", "URL"])
    return result


def parse_wrk(out: str) -> dict:
    """wrk --latency's report as run_ab's fields (socket errors count as failed)."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done is None or rate is None:
        raise RuntimeError(f"wrk gave no result:\n{out[-2000:]}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found = re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)$", out, re.M)
    pct = {p: float(v) * _WRK_UNIT_MS[unit] for p, v, unit in found}
    return {
        "complete": float(done.group(1)),
        "failed": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "requests_per_s": float(rate.group(1)),
        "elapsed_s": float(done.group(2)) * _WRK_UNIT_MS[done.group(3)] / 1e3,
        "latency_ms": {f"p{p}": pct.get(p, float("nan")) for p in ("50", "90", "99")},
    }


def decode_images_per_s(jpeg: bytes, seconds: float, processes: int) -> float:
    """The decode-only ceiling: images/s all cores turn into model tensors (the preprocess path)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes) as pool:
        counts = list(pool.map(_decode_loop, [jpeg] * processes, [seconds] * processes))
    return sum(counts) / seconds


def _decode_loop(jpeg: bytes, seconds: float) -> int:
    image_to_tensor = project_imaging().image_to_tensor
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        image_to_tensor(jpeg)
        n += 1
    return n


def full_decode_images_per_s(jpeg: bytes, seconds: float) -> float:
    """One core, the old service's way: full-size Pillow decode then resize."""
    from PIL import Image

    from benchmarks.old_service import to_tensor

    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        to_tensor(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        n += 1
    return n / seconds


_COUNTS = re.compile(
    r'^nv_inference_(count|exec_count)\{model="([^"]+)",version="[^"]*"\} (\S+)$', re.M
)


def triton_counts(metrics_url: str) -> dict[tuple[str, str], float]:
    """(model, "count" | "exec_count") -> total so far, summed over versions."""
    out: dict[tuple[str, str], float] = {}
    for kind, model, value in _COUNTS.findall(httpx.get(metrics_url, timeout=10).text):
        out[model, kind] = out.get((model, kind), 0.0) + float(value)
    return out


def average_batch(before: dict, after: dict) -> dict[str, float]:
    """Inferences per execution of each composing model between two triton_counts readings."""
    out = {}
    for model in {m for m, _ in after}:
        runs = after.get((model, "exec_count"), 0) - before.get((model, "exec_count"), 0)
        done = after.get((model, "count"), 0) - before.get((model, "count"), 0)
        if runs and model != "health_code":  # an ensemble "executes" once per request
            out[model] = round(done / runs, 2)
    return out
