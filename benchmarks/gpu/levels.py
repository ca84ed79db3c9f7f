"""The load levels of the GPU run: load.py processes against the gateway, and what one level
cost each process group, the whole machine and the GPU, read around its measured window."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.gpu import load, observe
from benchmarks.gpu.services import Gateway, Triton

REPO = Path(__file__).resolve().parents[2]


def run_load(
    url: str, files: list[Path], concurrency: int, seconds: float, processes: int, window=None
) -> list[dict]:
    """Load from `processes` load.py processes; window(opening) is called as the load starts
    (True) and once it is over (False)."""
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.gpu.load",
                url,
                *map(str, files),
                "--concurrency",
                str(share),
                "--seconds",
                str(seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for share in shares
        if share
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("a load generator did not start")
    if window:
        window(True)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    parts = [
        json.loads(proc.communicate(timeout=seconds + 60)[0].strip().splitlines()[-1])
        for proc in procs
    ]
    if window:
        window(False)
    return parts


def measure(
    gateway: Gateway,
    triton: Triton,
    sampler: observe.GpuSampler,
    load_at: tuple[int, list[Path], str],
    seconds: float,
    warm_s: float,
    processes: int,
) -> dict:
    """One level: warm-up load, then `seconds` of measured load, and what it cost whom."""
    concurrency, files, payload = load_at
    url = f"{gateway.url}/analysis/health-code"
    run_load(url, files, concurrency, warm_s, processes)
    roots = {"triton": triton.proc.pid, "gateway": gateway.proc.pid}
    marks: dict = {}

    def window(opening: bool) -> None:
        key = "before" if opening else "after"
        marks[key] = (
            time.monotonic(),
            observe.cpu_s(roots),
            observe.machine_cpu(),
            observe.triton_metrics(triton.metrics_url),
        )

    parts = run_load(url, files, concurrency, seconds, processes, window)
    (t0, cpu0, machine0, metrics0), (t1, cpu1, machine1, metrics1) = marks["before"], marks["after"]
    merged = load.merge(parts)
    served = max(merged["complete"], 1)
    cpu_ms = {g: round(1000 * (cpu1[g] - cpu0.get(g, 0.0)) / served, 3) for g in cpu1}
    cpu_ms["load generator"] = round(1000 * merged["load_generator_cpu_s"] / served, 3)
    busy, total = machine1[0] - machine0[0], machine1[1] - machine0[1]
    return {
        "concurrency": concurrency,
        "payload": payload,
        "payload_files": len(files),
        "load": merged,
        "cpu_ms_per_request": cpu_ms,
        "machine_cpu_util_pct": round(100 * busy / total, 1) if total else None,
        "gpu": sampler.window(t0, t1),
        "gpu_processes": observe.gpu_processes(),
        "triton": observe.triton_window(metrics0, metrics1),
    }
