"""What the GPU run reads while load runs: GPU samples (nvidia-smi), CPU time by process group
(/proc), and Triton's counters (:8002/metrics), each as a before/after pair around a window."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.procstat import TICK_S, process_tree

GPU_FIELDS = ("utilization.gpu", "memory.used", "power.draw", "clocks.sm")
_SAMPLE = re.compile(r"^\s*([\d.]+),\s*([\d.]+),\s*([\d.]+|\[N/A\]),\s*([\d.]+)\s*$")
_METRIC = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? ([-+\deE.naNinf]+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class GpuSampler:
    """nvidia-smi every 250 ms in the background: (time, util %, memory MiB, power W, SM MHz)."""

    def __init__(self, log: Path | None = None) -> None:
        self.samples: list[tuple[float, float, float, float, float]] = []
        self._log = log
        self._proc: subprocess.Popen | None = None
        if shutil.which("nvidia-smi"):
            query = ",".join(GPU_FIELDS)
            self._proc = subprocess.Popen(
                [
                    "nvidia-smi",
                    f"--query-gpu={query}",
                    "--format=csv,noheader,nounits",
                    "-lms",
                    "250",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with self._log.open("a") if self._log else open("/dev/null", "a") as log:
            for line in self._proc.stdout:
                log.write(f"{time.time():.3f},{line}")
                if m := _SAMPLE.match(line):
                    power = float(m[3]) if m[3] != "[N/A]" else float("nan")
                    self.samples.append(
                        (time.monotonic(), float(m[1]), float(m[2]), power, float(m[4]))
                    )

    def window(self, start: float, end: float) -> dict:
        inside = [s for s in self.samples if start <= s[0] <= end]
        if not inside:
            return {"samples": 0}
        util = [s[1] for s in inside]
        return {
            "samples": len(inside),
            "util_mean_pct": round(sum(util) / len(util), 1),
            "util_max_pct": max(util),
            "memory_max_mib": max(s[2] for s in inside),
            "power_mean_w": round(sum(s[3] for s in inside) / len(inside), 1),
            "sm_clock_mean_mhz": round(sum(s[4] for s in inside) / len(inside)),
        }

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)


def gpu_processes() -> list[dict]:
    """nvidia-smi's compute processes: pid, name, GPU memory (MiB)."""
    if not shutil.which("nvidia-smi"):
        return []
    out = subprocess.run(
        [
            "nvidia-smi",
            "--query-compute-apps=pid,process_name,used_memory",
            "--format=csv,noheader,nounits",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]
    return [{"pid": r[0], "name": r[1], "memory_mib": r[2]} for r in rows if len(r) == 3]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) * TICK_S, sum(fields) * TICK_S


def group_of(pid: int, name: str) -> str:
    """tritonserver, its preprocess or classifier stubs, or the rest of the tree (its role)."""
    if name == "tritonserver":
        return "tritonserver"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        cmdline = ""
    if name.startswith("triton_python") or "triton_python_backend_stub" in cmdline:
        for model in ("preprocess", "classifier"):
            if f"health_code_{model}" in cmdline:
                return f"{model} stubs"
        return "python stubs"
    return "other"


def cpu_s(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process tree, split into groups: {"gateway": ..., ...}.
    roots: a label per tree root ("triton" splits into tritonserver and its stubs)."""
    out: dict[str, float] = {}
    for label, root in roots.items():
        for pid, (name, _) in process_tree(root).items():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            group = group_of(pid, name) if label == "triton" else label
            group = label if group == "other" else group
            out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) * TICK_S
    return out


def triton_metrics(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of Triton's /metrics: (name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return parse_metrics(response.read().decode())


def parse_metrics(text: str) -> dict[tuple[str, tuple], float]:
    """Prometheus text: (name, sorted labels) -> value."""
    out = {}
    for name, labels, value in _METRIC.findall(text):
        out[name, tuple(sorted(_LABEL.findall(labels or "")))] = float(value)
    return out


def _by(samples: dict, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (metric, labels), value in samples.items():
        if metric == name:
            key = dict(labels).get(label, "")
            out[key] = out.get(key, 0.0) + value
    return out


def triton_window(before: dict, after: dict) -> dict:
    """Per model between two readings: requests, average batch, queue and compute us per
    request; and the preprocess model's images by route."""

    def delta(name: str, label: str = "model") -> dict[str, float]:
        b, a = _by(before, name, label), _by(after, name, label)
        return {k: a[k] - b.get(k, 0.0) for k in a}

    requests, executions = delta("nv_inference_count"), delta("nv_inference_exec_count")
    success = delta("nv_inference_request_success")
    queue, compute = (
        delta("nv_inference_queue_duration_us"),
        delta("nv_inference_compute_infer_duration_us"),
    )
    models = {}
    for model, n in requests.items():
        if not n:
            continue
        ok = success.get(model, 0.0) or n
        models[model] = {
            "inferences": int(n),
            "average_batch": round(n / executions[model], 2) if executions.get(model) else None,
            "queue_us_per_request": round(queue.get(model, 0.0) / ok),
            "compute_us_per_request": round(compute.get(model, 0.0) / ok),
        }
    routes = {k: int(v) for k, v in delta("healthcode_preprocess_images_total", "route").items()}
    return {"models": models, "preprocess_routes": {k: v for k, v in routes.items() if v}}
